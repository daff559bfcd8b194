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
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, as_command, decode_as, encode
from desk.bridge.keys import RedisKeys
from desk.bridge.resp import RespConnection
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


_KEYED: dict[bytes, Any] = {}


def sign(secret: bytes, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` under ``secret``, hex (the key's pads computed once per secret)."""
    keyed = _KEYED.get(secret)
    if keyed is None:
        if len(_KEYED) > 64:
            _KEYED.clear()
        keyed = _KEYED[secret] = hmac.new(secret, digestmod=hashlib.sha256)
    mac = keyed.copy()
    mac.update(body)
    return mac.hexdigest()


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
        self._conn: RespConnection | None = None
        self._ack_waiters: dict[str, asyncio.Future[CommandReceipt]] = {}
        self.listening = False
        """True while a :class:`~desk.bridge.receipt_listener.ReceiptListener` files receipts."""
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

    @property
    def ack_stream(self) -> str:
        return self._ack_stream

    @property
    def last_ack_id(self) -> bytes | str | None:
        """The last ack-stream entry read (receipts after it are still to come)."""
        return self._last_ack_id

    async def _start_ack_cursor(self) -> None:
        if self._last_ack_id is None:
            newest = await self._redis.xrevrange(self._ack_stream, count=1)
            self._last_ack_id = newest[0][0] if newest else "0-0"

    def _xadd_args(self, field: str, body: bytes, domain: bytes = b"") -> tuple[Any, ...]:
        """``XADD`` of one signed entry (``sig``: HMAC of ``domain + body``)."""
        signed: tuple[Any, ...] = ()
        if self._secret is not None:
            signed = ("sig", sign(self._secret, domain + body))
        stream, maxlen = self._keys.commands_stream, self.config.stream_maxlen
        return ("XADD", stream, "MAXLEN", "~", maxlen, "*", field, body, *signed)

    async def _append(self, field: str, body: bytes, domain: bytes = b"") -> None:
        await self._redis.execute_command(*self._xadd_args(field, body, domain))

    def _envelope(self, command: Command | Mapping[str, Any]) -> tuple[str, bytes]:
        """``(command id, encoded envelope)`` of a validated ``command``."""
        valid = as_command(command)
        if self.holder_id:
            valid = msgspec.structs.replace(valid, actor=self.holder_id)
        command_id = os.urandom(16).hex()  # 128 random bits, as uuid4 but without its object
        envelope = CommandEnvelope(
            command_id=command_id,
            sender_id=self.sender_id,
            holder_id=self.holder_id,
            issued_ns=time.time_ns(),
            command=valid,
        )
        return command_id, encode(envelope)

    async def send(self, command: Command | Mapping[str, Any]) -> str:
        """Validate, sign and append ``command``; returns its command id."""
        await self._start_ack_cursor()
        command_id, body = self._envelope(command)
        await self._append("body", body)
        return command_id

    async def prepare(self) -> None:
        """Find where this sender's receipts start (before the first command goes out)."""
        await self._start_ack_cursor()

    def send_over(self, conn: RespConnection | None) -> None:
        """Write commands on ``conn`` from now on (:meth:`send_now`); None: stop."""
        self._conn = conn

    @property
    def can_send_now(self) -> bool:
        conn = self._conn
        return conn is not None and conn.connected and self._last_ack_id is not None

    def send_now(self, command: Command | Mapping[str, Any]) -> tuple[str, asyncio.Future[Any]]:
        """Sign and write ``command`` at once, from synchronous code (:meth:`prepare` first).

        Returns its command id and the future of the ``XADD`` reply (a redis-py error if it
        failed); wait for its receipt with :meth:`wait_ack`. Raises redis-py's
        ``ConnectionError`` when the connection is gone (use :meth:`send` then).
        """
        conn = self._conn
        if conn is None or self._last_ack_id is None:
            raise RuntimeError("send_now() before prepare()")
        command_id, body = self._envelope(command)
        written = conn.send(*self._xadd_args("body", body))
        assert written is not None
        return command_id, written

    async def send_lease(self, action: LeaseAction) -> str:
        """Ask the engine to ``acquire``, ``renew`` or ``release`` the control lease."""
        if not self.holder_id:
            raise ValueError("a lease request needs a holder id")
        await self._start_ack_cursor()
        request = LeaseRequest(
            request_id=os.urandom(16).hex(),
            sender_id=self.sender_id,
            holder_id=self.holder_id,
            issued_ns=time.time_ns(),
            action=action,
        )
        await self._append("lease", encode(request), LEASE_DOMAIN)
        return request.request_id

    def _timed_out(self, command_id: str, timeout: float) -> CommandTimeout:
        return CommandTimeout(
            f"no acknowledgement for command {command_id} in {timeout}s (the engine answers "
            f"nothing it cannot verify: is ${self.config.secret_env} the same as the engine's?)"
        )

    async def wait_ack(self, command_id: str, timeout_s: float | None = None) -> CommandReceipt:
        """The receipt of ``command_id``; :class:`CommandTimeout` if none comes in time.

        While a listener files receipts (``listening``) this only waits to be told; otherwise
        whoever waits reads the ack stream for everyone.
        """
        timeout = self.config.ack_timeout_s if timeout_s is None else timeout_s
        if self.listening:
            waiter = self.expect(command_id)
            try:
                async with asyncio.timeout(timeout):
                    return await waiter
            except TimeoutError:
                raise self._timed_out(command_id, timeout) from None
            finally:
                self.forget(command_id)
        deadline = time.monotonic() + timeout
        while command_id not in self._receipts:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timed_out(command_id, timeout)
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

    def expect(self, command_id: str) -> asyncio.Future[CommandReceipt]:
        """The receipt of ``command_id`` as a future, set when it is filed (while a listener
        files them: ``listening``); :meth:`forget` it if you stop waiting."""
        waiter = self._ack_waiters.get(command_id)
        if waiter is None:
            waiter = self._ack_waiters[command_id] = asyncio.get_running_loop().create_future()
            receipt = self._receipts.pop(command_id, None)
            if receipt is not None:
                waiter.set_result(receipt)
        return waiter

    def forget(self, command_id: str) -> None:
        self._ack_waiters.pop(command_id, None)

    def timed_out(self, command_id: str) -> CommandTimeout:
        """What a wait for ``command_id``'s receipt ends with when it took too long."""
        return self._timed_out(command_id, self.config.ack_timeout_s)

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
            self.file_entries(entries)

    def file_entries(self, entries: Iterable[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Open and file the receipts of ack-stream entries read after ``last_ack_id``."""
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
            waiter = self._ack_waiters.pop(receipt.command_id, None)
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(receipt)
                continue
            self._receipts[receipt.command_id] = receipt
            while len(self._receipts) > MAX_UNCLAIMED_RECEIPTS:
                self._receipts.popitem(last=False)

    def _refused_receipt(self, kind: str, name: str, detail: str) -> None:
        self.forged_receipts += 1
        log.warning("refused a receipt on %s: %s", name, detail)
        if self._report is not None:
            self._report(kind, name, detail)
