"""The engine's side of the command stream (:mod:`desk.bridge.commands_stream`): the receiver.

**Exactly once.** Before applying, the receiver claims the command id in a ledger key with
``SET NX`` (value: "applying"); after applying, one MULTI writes the ledger entry "done" with the
receipt, ``XACK``-s the entry and appends the receipt to the sender's ack stream. If a consumer
dies anywhere in between, its entry stays pending; another consumer takes it over with
``XAUTOCLAIM`` once it has been idle ``claim_idle_s`` (a restarted consumer of the same name
first re-reads its own pending entries) and looks at the ledger first:

* "done": it only acknowledges again (the effect happened, the ack may not have);
* "applying": the previous consumer died while applying, so whether the effect happened is
  unknown. The command is **not** applied again (a second order is worse than none); it is
  answered with ``accepted=False`` and a reason saying so, for the operator to check.

So no command is ever applied twice, and one that is applied is acknowledged; the only command
that may be applied without its sender learning the outcome is the one a consumer was killed in
the middle of. Ledger entries expire after ``applied_ttl_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from desk.bridge.codec import CodecError, decode_as, encode
from desk.bridge.commands_stream import (
    CommandEnvelope,
    CommandReceipt,
    CommandStreamConfig,
    check_secret,
    sign,
)
from desk.bridge.keys import COMMAND_GROUP, RedisKeys
from desk.bridge.lease import lease_holder
from desk.bridge.redis_publisher import CONNECTION_ERRORS
from desk.core.commands import Command, CommandAck

log = logging.getLogger(__name__)
security_log = logging.getLogger("desk.security")


class _LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    state: str  # "applying" | "done"
    consumer: str
    receipt: CommandReceipt | None = None


Apply = Callable[[Command], Awaitable[CommandAck]]


class CommandReceiver:
    """The engine's side: one consumer of the commands stream (see the module docstring).

    ``group`` is the consumer group (one per kind of process reading the stream) and
    ``handles`` which commands this process answers; others are acknowledged unseen.
    ``apply`` is the engine's command handler; it returns a CommandAck (accepted or refused
    with the reason), and an exception from it is answered as refused with the error. With
    ``lease_key`` set, only commands whose envelope names the current lease holder are applied,
    except from senders whose id starts with ``lease_exempt_prefix`` (a bots process: the lease
    arbitrates between operators' UIs; every sender is still authenticated by the signature).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        apply: Apply,
        consumer: str,
        secret: bytes | None,
        lease_key: str | None = None,
        config: CommandStreamConfig | None = None,
        lease_exempt_prefix: str | None = None,
        group: str = COMMAND_GROUP,
        handles: Callable[[Any], bool] | None = None,
    ) -> None:
        self.config = config or CommandStreamConfig()
        check_secret(secret, self.config)
        self._group = group
        self._handles = handles
        self._redis = redis
        self._keys = keys
        self._apply = apply
        self.consumer = consumer
        self._secret = secret
        self._lease_key = lease_key
        self._lease_exempt_prefix = lease_exempt_prefix
        self._stream = keys.commands_stream
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._last_claim = 0.0
        self.applied = 0
        self.refused = 0
        self.bad_signatures = 0
        self.duplicates = 0
        self.interrupted = 0
        self.malformed = 0
        self.claimed = 0
        self.errors = 0
        self.last_error = ""

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"command-receiver-{self.consumer}"
            )

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the entry in hand and stop; cancel only if that takes over ``timeout_s``.

        Cancelling in the middle of applying a command would leave it "interrupted" (answered as
        not applied again), so the loop is asked to stop between entries first.
        """
        task = self._task
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("command receiver %s ended with %r", self.consumer, task.exception())
        self._task = None
        self._stopping.clear()

    async def run(self) -> None:
        """Read and apply until stopped; survives Redis going away and coming back."""
        backoff = 0.05
        resume_own = True
        while not self._stopping.is_set():
            try:
                if resume_own:
                    await self.ensure_group()
                    await self.process_own_pending()
                    resume_own = False
                await self.poll()
                backoff = 0.05
            except CONNECTION_ERRORS as exc:
                self._note_error(exc)
                resume_own = True
                await self._pause(backoff)
                backoff = min(backoff * 2, 2.0)
            except ResponseError as exc:
                self._note_error(exc)
                resume_own = True  # NOGROUP after Redis lost its data: recreate the group
                await self._pause(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _note_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("command receiver %s: %s", self.consumer, self.last_error)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing; reads from the start."""
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def process_own_pending(self) -> int:
        """Entries delivered to this consumer name but never acked (we restarted)."""
        done = 0
        start: bytes | str = "0"
        while True:
            reply = await self._redis.xreadgroup(
                self._group, self.consumer, {self._stream: start}, count=self.config.read_count
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return done
            for entry_id, fields in entries:
                await self._handle(entry_id, fields)
                start = entry_id
                done += 1

    async def claim_stale(self) -> int:
        """Take over entries another consumer left pending longer than ``claim_idle_s``."""
        done = 0
        start: bytes | str = "0-0"
        idle_ms = int(self.config.claim_idle_s * 1000)
        while True:
            next_start, entries, *_ = await self._redis.xautoclaim(
                self._stream,
                self._group,
                self.consumer,
                min_idle_time=idle_ms,
                start_id=start,
                count=self.config.read_count,
            )
            for entry_id, fields in entries:
                self.claimed += 1
                log.info("consumer %s took over command entry %s", self.consumer, entry_id)
                await self._handle(entry_id, fields)
                done += 1
            if next_start in (b"0-0", "0-0"):
                return done
            start = next_start

    async def poll(self, block_ms: int | None = None) -> int:
        """One round: take over stale entries (now and then), then read new ones."""
        done = 0
        now = time.monotonic()
        if now - self._last_claim >= self.config.claim_every_s:
            self._last_claim = now
            done += await self.claim_stale()
        reply = await self._redis.xreadgroup(
            self._group,
            self.consumer,
            {self._stream: ">"},
            count=self.config.read_count,
            block=self.config.block_ms if block_ms is None else block_ms,
        )
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                if self._stopping.is_set():
                    return done  # the rest stay pending for us (or another consumer) later
                await self._handle(entry_id, fields)
                done += 1
        return done

    # -- one entry ----------------------------------------------------------------------------

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        if not fields or b"body" not in fields:
            self.malformed += 1
            log.warning("command entry %s has no body; dropped", entry_id)
            await self._redis.xack(self._stream, self._group, entry_id)
            return
        body = fields[b"body"]
        try:
            envelope = decode_as(body, CommandEnvelope)
        except CodecError as exc:
            self.malformed += 1
            security_log.warning("undecodable command entry %s refused: %s", entry_id, exc)
            await self._redis.xack(self._stream, self._group, entry_id)
            return
        if not self._signature_ok(body, fields.get(b"sig")):
            self.bad_signatures += 1
            security_log.warning(
                "command %s (%s) from sender %r refused: bad signature",
                envelope.command_id,
                type(envelope.command).__name__,
                envelope.sender_id,
            )
            await self._finish(entry_id, envelope, self._refusal(envelope, "bad signature"), None)
            return
        if self._handles is not None and not self._handles(envelope.command):
            # Another process's kind of command (split roles: bots vs executor): its own
            # consumer group answers it.
            await self._redis.xack(self._stream, self._group, entry_id)
            return
        ledger_key = self._keys.applied_command(envelope.command_id)
        claimed = await self._redis.set(
            ledger_key,
            encode(_LedgerEntry(state="applying", consumer=self.consumer)),
            nx=True,
            ex=self.config.applied_ttl_s,
        )
        if not claimed:
            await self._handle_seen(entry_id, envelope, ledger_key)
            return
        receipt = await self._decide(envelope)
        await self._finish(entry_id, envelope, receipt, ledger_key)

    def _signature_ok(self, body: bytes, sig: bytes | None) -> bool:
        if self._secret is None:
            return True  # signing not required (require_signature=False and no secret)
        if not sig:
            return False
        return hmac.compare_digest(sign(self._secret, body).encode(), sig)

    def _refusal(self, envelope: CommandEnvelope, reason: str) -> CommandReceipt:
        self.refused += 1
        return CommandReceipt(command_id=envelope.command_id, accepted=False, reason=reason)

    async def _decide(self, envelope: CommandEnvelope) -> CommandReceipt:
        """Check age and lease, then apply; the receipt says what happened."""
        age_s = (time.time_ns() - envelope.issued_ns) / 1e9
        if age_s > self.config.max_age_s:
            return self._refusal(envelope, f"expired: issued {age_s:.1f}s ago")
        exempt = self._lease_exempt_prefix is not None and envelope.sender_id.startswith(
            self._lease_exempt_prefix
        )
        if self._lease_key is not None and not exempt:
            holder = await lease_holder(self._redis, self._lease_key)
            if not envelope.holder_id or envelope.holder_id != holder:
                return self._refusal(
                    envelope,
                    f"not the control lease holder (held by {holder or 'nobody'})",
                )
        try:
            ack = await self._apply(envelope.command)
        except Exception as exc:
            log.exception("command %s failed", envelope.command_id)
            return self._refusal(envelope, f"error: {exc}")
        self.applied += 1
        if not ack.accepted:
            self.refused += 1
        return CommandReceipt(
            command_id=envelope.command_id,
            accepted=ack.accepted,
            reason=ack.reason,
            detail=_plain(ack.detail),
        )

    async def _handle_seen(
        self, entry_id: bytes, envelope: CommandEnvelope, ledger_key: str
    ) -> None:
        """The ledger already knows this command id: never apply it again."""
        raw = await self._redis.get(ledger_key)
        entry = None
        if raw is not None:
            with contextlib.suppress(CodecError):
                entry = decode_as(raw, _LedgerEntry)
        if entry is not None and entry.state == "done" and entry.receipt is not None:
            self.duplicates += 1
            log.info("command %s already applied; acknowledging again", envelope.command_id)
            await self._finish(entry_id, envelope, entry.receipt, None)
            return
        self.interrupted += 1
        who = entry.consumer if entry is not None else "another consumer"
        log.error(
            "command %s was being applied by %s when it died; not applying it again",
            envelope.command_id,
            who,
        )
        receipt = self._refusal(
            envelope,
            f"interrupted: consumer {who} died while applying it; it may or may not have taken "
            f"effect and is not applied again (check state)",
        )
        await self._finish(entry_id, envelope, receipt, ledger_key)

    async def _finish(
        self,
        entry_id: bytes,
        envelope: CommandEnvelope,
        receipt: CommandReceipt,
        ledger_key: str | None,
    ) -> None:
        """One MULTI: ledger "done" (if given), XACK, receipt on the sender's ack stream."""
        pipe = self._redis.pipeline(transaction=True)
        if ledger_key is not None:
            done = _LedgerEntry(state="done", consumer=self.consumer, receipt=receipt)
            pipe.set(ledger_key, encode(done), ex=self.config.applied_ttl_s)
        pipe.xack(self._stream, self._group, entry_id)
        pipe.xadd(
            self._keys.acks_stream(envelope.sender_id),
            {"receipt": encode(receipt)},
            maxlen=self.config.ack_stream_maxlen,
            approximate=True,
        )
        await pipe.execute()


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``detail`` as msgpack-safe builtins (a Decimal becomes its string)."""
    try:
        return msgspec.to_builtins(dict(detail))
    except (TypeError, msgspec.EncodeError):
        return {key: str(value) for key, value in detail.items()}
