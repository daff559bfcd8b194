"""Commands over a Redis Stream: signed, acknowledged, applied exactly once.

A UI (:class:`CommandSender`) appends each command to the commands stream as two fields:
``body``, the codec-encoded :class:`CommandEnvelope` (command id, sender, lease holder, issue
time and the command itself), and ``sig``, HMAC-SHA256 of ``body`` under a secret both sides
share (environment variable ``DESK_COMMAND_SECRET`` by default). The engine
(:class:`~desk.bridge.command_receiver.CommandReceiver`) reads the stream in the consumer group
``engine`` and answers every command with a :class:`CommandReceipt` on the sender's own ack
stream.

A command is refused, acknowledged with the reason and never applied when it is unsigned or
badly signed ("bad signature", also logged on the ``desk.security`` logger), older than
``max_age_s`` ("expired": an order must not be placed minutes after someone asked), or not from
the holder of the control lease (when the receiver checks one).

How the receiver applies each command exactly once: :mod:`desk.bridge.command_receiver`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, as_command, decode_as, encode
from desk.bridge.keys import RedisKeys
from desk.core.commands import AnyCommand, Command

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 16


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


def check_secret(secret: bytes | None, config: CommandStreamConfig) -> None:
    if secret is None and config.require_signature:
        raise MissingCommandSecret(
            f"command signing is required but no secret was given (set ${config.secret_env})"
        )


class CommandSender:
    """A UI's side: sends signed commands and waits for their receipts.

    ``holder_id`` is the control lease this UI holds ("" if it holds none); it is put in the
    envelope and as the command's ``actor``, so the engine records who asked.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        sender_id: str,
        secret: bytes | None,
        holder_id: str = "",
        config: CommandStreamConfig | None = None,
    ) -> None:
        self.config = config or CommandStreamConfig()
        check_secret(secret, self.config)
        self._redis = redis
        self._keys = keys
        self.sender_id = sender_id
        self.holder_id = holder_id
        self._secret = secret
        self._ack_stream = keys.acks_stream(sender_id)
        self._last_ack_id: bytes | str | None = None
        self._receipts: dict[str, CommandReceipt] = {}

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

    async def send(self, command: Command | Mapping[str, Any]) -> str:
        """Validate, sign and append ``command``; returns its command id."""
        valid = as_command(command)
        if self.holder_id:
            valid = msgspec.structs.replace(valid, actor=self.holder_id)
        if self._last_ack_id is None:
            newest = await self._redis.xrevrange(self._ack_stream, count=1)
            self._last_ack_id = newest[0][0] if newest else "0-0"
        command_id = uuid.uuid4().hex
        envelope = CommandEnvelope(
            command_id=command_id,
            sender_id=self.sender_id,
            holder_id=self.holder_id,
            issued_ns=time.time_ns(),
            command=valid,
        )
        body = encode(envelope)
        fields: dict[str, bytes | str] = {"body": body}
        if self._secret is not None:
            fields["sig"] = sign(self._secret, body)
        await self._redis.xadd(
            self._keys.commands_stream,
            fields,
            maxlen=self.config.stream_maxlen,
            approximate=True,
        )
        return command_id

    async def wait_ack(self, command_id: str, timeout_s: float | None = None) -> CommandReceipt:
        """The receipt of ``command_id``; :class:`CommandTimeout` if none comes in time."""
        timeout = self.config.ack_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while command_id not in self._receipts:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise CommandTimeout(f"no acknowledgement for command {command_id} in {timeout}s")
            await self._read_acks(block_ms=max(1, min(left_ms, 1000)))
        return self._receipts.pop(command_id)

    async def request(
        self, command: Command | Mapping[str, Any], timeout_s: float | None = None
    ) -> CommandReceipt:
        """Send and wait for the receipt."""
        return await self.wait_ack(await self.send(command), timeout_s)

    async def _read_acks(self, block_ms: int) -> None:
        start = self._last_ack_id or "0-0"
        reply = await self._redis.xread({self._ack_stream: start}, count=100, block=block_ms)
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                self._last_ack_id = entry_id
                try:
                    receipt = decode_as(fields[b"receipt"], CommandReceipt)
                except (CodecError, KeyError) as exc:
                    log.warning("undecodable command receipt %s: %s", entry_id, exc)
                    continue
                self._receipts[receipt.command_id] = receipt
