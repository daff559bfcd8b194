"""Commands over a Redis Stream: signed, acknowledged by sealed receipts, applied exactly once.

A UI (:class:`CommandSender`) appends each command to the commands stream as two fields:
``body``, the codec-encoded :class:`CommandEnvelope` (command id, sender, lease holder, issue
time and the command itself), and ``sig``, HMAC-SHA256 of ``body`` under a secret both sides
share (environment variable ``DESK_COMMAND_SECRET`` by default). Requests for the control lease
travel the same way in a ``lease`` field (:class:`LeaseRequest`, signed under a domain of its
own so a command's signature can never pass for a lease request's). The engine
(:class:`~desk.bridge.command_receiver.CommandReceiver`) reads the stream in the consumer group
``engine`` and answers every command whose signature verified with a :class:`CommandReceipt`
on the sender's own ack stream, sealed by the engine (:mod:`desk.bridge.signing`) under that
stream's name; the sender opens the seal and refuses (and reports) a receipt it cannot verify,
so nobody without the secret can make a UI believe a command was accepted.

A command is refused, never applied, when it is unsigned or badly signed ("bad signature": no
receipt at all, since its sender is unproven, but a security event in the engine), older than
``max_age_s`` ("expired": an order must not be placed minutes after someone asked), replayed,
or not from the holder of the control lease (when the receiver checks one).

How the receiver applies each command exactly once: :mod:`desk.bridge.command_receiver`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, as_command, decode_as, encode
from desk.bridge.keys import RedisKeys
from desk.bridge.signing import Keyring, Report, SealedReader
from desk.core.commands import AnyCommand, Command

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 16
LEASE_DOMAIN = b"desk-lease-request\x00"
"""Prefixed to a lease request's body before signing it."""
SENDER_ID = re.compile(r"[\w.:@+\-]{1,200}")
"""What a sender id may be: it names the sender's ack stream, so no spaces or glob signs."""
MAX_UNCLAIMED_RECEIPTS = 1000

LeaseAction = Literal["acquire", "renew", "release"]


class CommandStreamConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Settings shared by sender and receiver (all have working defaults)."""

    secret_env: str = "DESK_COMMAND_SECRET"
    require_signature: bool = True
    max_age_s: float = 30.0
    ack_timeout_s: float = 5.0
    claim_idle_s: float = 30.0
    claim_every_s: float = 5.0
    block_ms: int = 500
    read_count: int = 100
    applied_ttl_s: int = 7 * 24 * 3600
    stream_maxlen: int = 100_000
    ack_stream_maxlen: int = 10_000
    ack_stream_ttl_s: int = 24 * 3600
    """An ack stream nobody wrote to for this long disappears (senders come and go)."""
    lease_ttl_s: float = 10.0
    """How long a control lease the engine grants lasts without renewal."""


class MissingCommandSecret(RuntimeError):
    """Signing is required but no usable secret was configured."""


class CommandTimeout(TimeoutError):
    """No acknowledgement arrived in time (the engine may be down; the command may still run)."""


class CommandEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """What is signed: the command and who sent it when, under which lease holder."""

    command_id: str
    sender_id: str
    holder_id: str
    issued_ns: int
    command: AnyCommand


class LeaseRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A UI asking the engine for the control lease (signed like a command)."""

    request_id: str
    sender_id: str
    holder_id: str
    issued_ns: int
    action: LeaseAction


class CommandReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """The acknowledgement a sender gets for one command id."""

    command_id: str
    accepted: bool
    reason: str = ""
    detail: dict[str, Any] = msgspec.field(default_factory=dict)
    """What the command produced (the engine's ``CommandAck.detail``, e.g. a client order id)."""


def load_secret(env_var: str, environ: Mapping[str, str] | None = None) -> bytes:
    """The shared command secret from ``env_var``; :class:`MissingCommandSecret` if unusable."""
    value = (environ if environ is not None else os.environ).get(env_var, "")
    if not value:
        raise MissingCommandSecret(
            f"command signing is required but ${env_var} is not set: set it to the same secret "
            f"(at least {MIN_SECRET_BYTES} characters) for the engine and every attached UI"
        )
    secret = value.encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise MissingCommandSecret(
            f"${env_var} is too short ({len(secret)} bytes); use at least {MIN_SECRET_BYTES}"
        )
    return secret


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, sig: bytes | None) -> bool:
    return bool(sig) and hmac.compare_digest(sign(secret, body).encode(), sig or b"")


def valid_sender_id(sender_id: str) -> bool:
    return SENDER_ID.fullmatch(sender_id) is not None


def check_secret(secret: bytes | None, config: CommandStreamConfig) -> None:
    if secret is None and config.require_signature:
        raise MissingCommandSecret(
            f"command signing is required but no secret was given (set ${config.secret_env})"
        )


class CommandSender:
    """A UI's side: sends signed commands and waits for their (sealed) receipts.

    ``holder_id`` is the control lease this UI holds ("" if it holds none); it is put in the
    envelope and as the command's ``actor``, so the engine records who asked. Several
    commands may wait at once (a lease renewal while an order waits): whoever reads the ack
    stream files every receipt it finds for the others. ``report`` hears of every receipt that
    was refused (unsigned or forged).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        sender_id: str,
        secret: bytes | None,
        holder_id: str = "",
        config: CommandStreamConfig | None = None,
        report: Report | None = None,
    ) -> None:
        self.config = config or CommandStreamConfig()
        check_secret(secret, self.config)
        if not valid_sender_id(sender_id):
            raise ValueError(f"sender id {sender_id!r} must match {SENDER_ID.pattern}")
        self._redis = redis
        self._keys = keys
        self.sender_id = sender_id
        self.holder_id = holder_id
        self._secret = secret
        keyring = Keyring(secret, keys.prefix) if secret is not None else None
        self._receipt_reader = SealedReader(
            keyring.receipt if keyring is not None else None,
            "receipt",
            self._refused_receipt,
            ordered=False,
            kind="forged_receipt",
        )
        self._report = report
        self._ack_stream = keys.acks_stream(sender_id)
        self._last_ack_id: bytes | str | None = None
        self._receipts: OrderedDict[str, CommandReceipt] = OrderedDict()
        self._read_lock = asyncio.Lock()
        self.forged_receipts = 0

    @classmethod
    def from_env(
        cls,
        redis: aioredis.Redis,
        keys: RedisKeys,
        sender_id: str,
        holder_id: str = "",
        config: CommandStreamConfig | None = None,
    ) -> CommandSender:
        config = config or CommandStreamConfig()
        secret = load_secret(config.secret_env) if config.require_signature else None
        return cls(redis, keys, sender_id, secret, holder_id, config)

    async def _start_ack_cursor(self) -> None:
        if self._last_ack_id is None:
            newest = await self._redis.xrevrange(self._ack_stream, count=1)
            self._last_ack_id = newest[0][0] if newest else "0-0"

    async def _append(self, field: str, body: bytes, domain: bytes = b"") -> None:
        fields: dict[str, bytes | str] = {field: body}
        if self._secret is not None:
            fields["sig"] = sign(self._secret, domain + body)
        await self._redis.xadd(
            self._keys.commands_stream,
            fields,
            maxlen=self.config.stream_maxlen,
            approximate=True,
        )

    async def send(self, command: Command | Mapping[str, Any]) -> str:
        """Validate, sign and append ``command``; returns its command id."""
        valid = as_command(command)
        if self.holder_id:
            valid = msgspec.structs.replace(valid, actor=self.holder_id)
        await self._start_ack_cursor()
        command_id = uuid.uuid4().hex
        envelope = CommandEnvelope(
            command_id=command_id,
            sender_id=self.sender_id,
            holder_id=self.holder_id,
            issued_ns=time.time_ns(),
            command=valid,
        )
        await self._append("body", encode(envelope))
        return command_id

    async def send_lease(self, action: LeaseAction) -> str:
        """Ask the engine to ``acquire``, ``renew`` or ``release`` the control lease."""
        if not self.holder_id:
            raise ValueError("a lease request needs a holder id")
        await self._start_ack_cursor()
        request = LeaseRequest(
            request_id=uuid.uuid4().hex,
            sender_id=self.sender_id,
            holder_id=self.holder_id,
            issued_ns=time.time_ns(),
            action=action,
        )
        await self._append("lease", encode(request), LEASE_DOMAIN)
        return request.request_id

    async def wait_ack(self, command_id: str, timeout_s: float | None = None) -> CommandReceipt:
        """The receipt of ``command_id``; :class:`CommandTimeout` if none comes in time."""
        timeout = self.config.ack_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while command_id not in self._receipts:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(
                    f"no acknowledgement for command {command_id} in {timeout}s (the engine "
                    f"answers nothing it cannot verify: is ${self.config.secret_env} the same "
                    f"as the engine's?)"
                )
            try:
                await asyncio.wait_for(self._read_lock.acquire(), left)
            except TimeoutError:
                continue
            try:
                if command_id not in self._receipts:
                    await self._read_acks(block_ms=max(1, min(int(left * 1000), 250)))
            finally:
                self._read_lock.release()
        return self._receipts.pop(command_id)

    async def request(
        self, command: Command | Mapping[str, Any], timeout_s: float | None = None
    ) -> CommandReceipt:
        """Send and wait for the receipt."""
        return await self.wait_ack(await self.send(command), timeout_s)

    async def lease(self, action: LeaseAction, timeout_s: float | None = None) -> CommandReceipt:
        """Send a lease request and wait for the engine's answer."""
        return await self.wait_ack(await self.send_lease(action), timeout_s)

    async def _read_acks(self, block_ms: int) -> None:
        start = self._last_ack_id or "0-0"
        reply = await self._redis.xread({self._ack_stream: start}, count=100, block=block_ms)
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                self._last_ack_id = entry_id
                raw = fields.get(b"receipt")
                payload = self._receipt_reader.open(self._ack_stream, raw) if raw else None
                if payload is None:
                    if not raw:
                        self._refused_receipt("forged_receipt", self._ack_stream, "no receipt")
                    continue
                try:
                    receipt = decode_as(payload, CommandReceipt)
                except CodecError as exc:
                    log.warning("undecodable command receipt %s: %s", entry_id, exc)
                    continue
                self._receipts[receipt.command_id] = receipt
                while len(self._receipts) > MAX_UNCLAIMED_RECEIPTS:
                    self._receipts.popitem(last=False)

    def _refused_receipt(self, kind: str, name: str, detail: str) -> None:
        self.forged_receipts += 1
        log.warning("refused a receipt on %s: %s", name, detail)
        if self._report is not None:
            self._report(kind, name, detail)
