"""The engine's side of the command stream (:mod:`desk.bridge.commands_stream`): the receiver.

**Exactly once.** Before applying, the receiver claims the command id in its ledger
(:mod:`desk.bridge.ledger`: a sealed "applying" entry, ``SET NX``); after applying, one MULTI
writes the ledger entry "done" with the receipt, ``XACK``-s the entry and appends the sealed
receipt to the sender's ack stream. If a consumer dies anywhere in between, its entry stays
pending; another consumer takes it over with ``XAUTOCLAIM`` once it has been idle
``claim_idle_s`` (a restarted consumer of the same name first re-reads its own pending entries)
and looks at the ledger first:

* "done": the same command came again (a replay): it is acknowledged again, never re-applied;
* "applying": the previous consumer died while applying, so whether the effect happened is
  unknown. The command is **not** applied again (a second order is worse than none); it is
  answered with ``accepted=False`` and a reason saying so, for the operator to check;
* a value the receiver did not seal: planted by someone without the secret; it is reported,
  replaced, and the command applied as if the key had been free.

So no command is ever applied twice, and one that is applied is acknowledged; the only command
that may be applied without its sender learning the outcome is the one a consumer was killed in
the middle of. Ledger entries expire after ``applied_ttl_s``.

**Trust.** Nothing is written for an entry whose signature does not verify (no receipt, so no
ack stream named by an unproven sender) or whose sender id is not a plain name; every refusal
(bad signature, unknown sender, expired, replay, lease violation, planted ledger entry) goes to
``report`` (a :class:`~desk.bridge.security.RefusalReporter`: a rate-limited system event).
Lease requests are answered by the ``engine`` group's :class:`~desk.bridge.lease.LeaseAuthority`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, decode_as, encode
from desk.bridge.commands_stream import (
    LEASE_DOMAIN,
    CommandEnvelope,
    CommandReceipt,
    CommandStreamConfig,
    LeaseRequest,
    check_secret,
    signature_ok,
    valid_sender_id,
)
from desk.bridge.keys import COMMAND_GROUP, RedisKeys
from desk.bridge.lease import LeaseAuthority, LeaseReader
from desk.bridge.ledger import Ledger, RecentCommands
from desk.bridge.resp import first_error, replies
from desk.bridge.security import RefusalReporter, excerpt
from desk.bridge.signing import Keyring, Report
from desk.bridge.stream_consumer import GroupConsumer
from desk.core.commands import Command, CommandAck

log = logging.getLogger(__name__)

Apply = Callable[[Command], Awaitable[CommandAck]]
LEASE_CHECK_S = 1.0


class CommandReceiver(GroupConsumer):
    """The engine's side: one consumer of the commands stream (see the module docstring).

    ``group`` is the consumer group (one per kind of process reading the stream) and
    ``handles`` which commands this process answers; others are acknowledged unseen.
    ``apply`` is the engine's command handler; it returns a CommandAck (accepted or refused
    with the reason), and an exception from it is answered as refused with the error. With
    ``lease_key`` set, only commands whose envelope names the current lease holder are applied,
    except from senders whose id starts with ``lease_exempt_prefix`` (a bots process: the lease
    arbitrates between operators' UIs; every sender is still authenticated by the signature).
    The receiver of the ``engine`` group is the lease authority (it grants the lease); others
    only read the grant. ``report`` hears of every refusal (kind, sender, detail).
    """

    what = "command-receiver"

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
        report: Report | None = None,
    ) -> None:
        config = config or CommandStreamConfig()
        check_secret(secret, config)
        super().__init__(redis, keys.commands_stream, group, consumer, config)
        self._handles = handles
        self._keys = keys
        self._apply = apply
        self._secret = secret
        self._report: Report = report if report is not None else RefusalReporter(None)
        keyring = Keyring(secret, keys.prefix) if secret is not None else None
        self._receipt_sealer = keyring.receipt if keyring is not None else None
        self.ledger = Ledger(
            redis,
            keys,
            group,
            keyring.ledger if keyring is not None else None,
            self.config.applied_ttl_s,
        )
        self._recent = RecentCommands(keep_s=2 * self.config.max_age_s + 60)
        lease_sealer = keyring.lease if keyring is not None else None
        self.lease: LeaseReader | None = None
        self.authority: LeaseAuthority | None = None
        if lease_key is not None:
            if group == COMMAND_GROUP:
                self.authority = LeaseAuthority(
                    redis, lease_key, lease_sealer, self.config.lease_ttl_s, self._report
                )
                self.lease = self.authority
            else:
                self.lease = LeaseReader(redis, lease_key, lease_sealer, self._report)
        self._lease_exempt_prefix = lease_exempt_prefix
        self._last_lease_check = 0.0
        self.applied = 0
        self.refused = 0
        self.bad_signatures = 0
        self.duplicates = 0
        self.interrupted = 0
        self.malformed = 0
        self.planted = 0
        self.replays = 0
        self.unknown_senders = 0
        self.lease_requests = 0

    async def periodic(self) -> None:
        """Every round of :meth:`poll`: keep the lease key, report suppressed refusals."""
        now = time.monotonic()
        if now - self._last_lease_check >= LEASE_CHECK_S:
            self._last_lease_check = now
            if self.authority is not None:
                await self.authority.keep_key()
            if isinstance(self._report, RefusalReporter):
                self._report.flush()

    # -- one entry ----------------------------------------------------------------------------

    async def _drop(self, entry_id: bytes, kind: str, sender: str, detail: str) -> None:
        """Refuse an entry without answering it (its sender is unproven): report, XACK."""
        self._report(kind, sender, detail)
        await self._redis.xack(self._stream, self._group, entry_id)

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        fields = fields or {}
        if b"lease" in fields:
            await self._handle_lease(entry_id, fields)
            return
        body = fields.get(b"body")
        if body is None:
            self.malformed += 1
            await self._drop(entry_id, "malformed", "?", f"command entry {entry_id!r} has no body")
            return
        try:
            envelope = decode_as(body, CommandEnvelope)
        except CodecError as exc:
            self.malformed += 1
            await self._drop(
                entry_id, "malformed", "?", f"undecodable command entry: {excerpt(exc)}"
            )
            return
        if self._handles is not None and not self._handles(envelope.command):
            # Another process's kind of command (split roles: bots vs executor): its own
            # consumer group answers it (and reports it, if forged).
            await self._redis.xack(self._stream, self._group, entry_id)
            return
        if not self._signature_ok(body, fields.get(b"sig")):
            self.bad_signatures += 1
            await self._drop(
                entry_id, "bad_signature", envelope.sender_id, f"{_what(envelope)}: bad signature"
            )
            return
        if not valid_sender_id(envelope.sender_id):
            self.unknown_senders += 1
            await self._drop(
                entry_id, "unknown_sender", envelope.sender_id, f"{_what(envelope)}: bad sender id"
            )
            return
        await self._handle_verified(entry_id, envelope)

    async def _handle_verified(self, entry_id: bytes, envelope: CommandEnvelope) -> None:
        command_id = envelope.command_id
        for _ in range(3):  # a planted entry that changes under us: look again, a few times
            if await self.ledger.claim(command_id, self.consumer, await self.lean()):
                seen, receipt = self._recent.get(command_id)
                if seen:  # we claimed a key someone deleted: put the outcome back in it
                    await self._replayed(
                        entry_id, envelope, receipt, "its ledger entry vanished", claimed=True
                    )
                    return
                receipt = await self._decide(envelope)
                self._recent.add(command_id, receipt)
                await self._finish(entry_id, envelope, receipt, done=True)
                return
            state, entry, raw = await self.ledger.read(command_id)
            if state == "missing":
                continue  # expired or deleted between the two calls: claim again
            if state == "planted":
                self.planted += 1
                self._report(
                    "planted_marker",
                    envelope.sender_id,
                    f"command {excerpt(command_id, 40)}: its ledger key held a value the engine "
                    f"did not write ({len(raw or b'')} bytes); replaced",
                )
                assert raw is not None
                if await self.ledger.replace(command_id, raw, self.consumer):
                    receipt = await self._decide(envelope)
                    self._recent.add(command_id, receipt)
                    await self._finish(entry_id, envelope, receipt, done=True)
                    return
                continue
            assert entry is not None
            if entry.state == "done" and entry.receipt is not None:
                await self._replayed(
                    entry_id, envelope, entry.receipt, "already applied", claimed=False
                )
                return
            await self._interrupted(entry_id, envelope, entry.consumer)
            return
        await self._finish(
            entry_id, envelope, self._refusal(envelope, "ledger contended; not applied"), done=True
        )

    async def _replayed(
        self,
        entry_id: bytes,
        envelope: CommandEnvelope,
        receipt: CommandReceipt | None,
        why: str,
        *,
        claimed: bool,
    ) -> None:
        """The command id was handled before: never again; answer with what it got then.

        ``claimed``: this receiver holds the ledger key now, so its outcome is written back.
        """
        self.duplicates += 1
        self.replays += 1
        self._report(
            "replay",
            envelope.sender_id,
            f"command {excerpt(envelope.command_id, 40)} came again ({why}); not applied again",
        )
        answer = receipt or self._refusal(envelope, "replayed: already handled")
        await self._finish(entry_id, envelope, answer, done=claimed)

    async def _interrupted(self, entry_id: bytes, envelope: CommandEnvelope, who: str) -> None:
        self.interrupted += 1
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
        await self._finish(entry_id, envelope, receipt, done=True)

    def _signature_ok(self, body: bytes, sig: bytes | None, domain: bytes = b"") -> bool:
        if self._secret is None:
            return True  # signing not required (require_signature=False and no secret)
        return signature_ok(self._secret, domain + body, sig)

    def _refusal(self, envelope: CommandEnvelope, reason: str) -> CommandReceipt:
        self.refused += 1
        return CommandReceipt(command_id=envelope.command_id, accepted=False, reason=reason)

    async def _decide(self, envelope: CommandEnvelope) -> CommandReceipt:
        """Check age and lease, then apply; the receipt says what happened."""
        age_s = (time.time_ns() - envelope.issued_ns) / 1e9
        if age_s > self.config.max_age_s:
            self._report("expired", envelope.sender_id, f"command issued {age_s:.1f}s ago refused")
            return self._refusal(envelope, f"expired: issued {age_s:.1f}s ago")
        exempt = self._lease_exempt_prefix is not None and envelope.sender_id.startswith(
            self._lease_exempt_prefix
        )
        if self.lease is not None and not exempt:
            holder = await self.lease.holder()
            if not envelope.holder_id or envelope.holder_id != holder:
                self._report(
                    "lease_violation",
                    envelope.sender_id,
                    f"{type(envelope.command).__name__} from a UI without the control lease "
                    f"(held by {excerpt(holder or 'nobody', 80)})",
                )
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

    # -- lease requests -----------------------------------------------------------------------

    async def _handle_lease(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        if self._group != COMMAND_GROUP:
            await self._redis.xack(self._stream, self._group, entry_id)  # the engine's to answer
            return
        body = fields[b"lease"]
        try:
            request = decode_as(body, LeaseRequest)
        except CodecError as exc:
            self.malformed += 1
            await self._drop(
                entry_id, "malformed", "?", f"undecodable lease request: {excerpt(exc)}"
            )
            return
        if not self._signature_ok(body, fields.get(b"sig"), LEASE_DOMAIN):
            self.bad_signatures += 1
            await self._drop(
                entry_id,
                "bad_signature",
                request.sender_id,
                f"lease {request.action}: bad signature",
            )
            return
        if not valid_sender_id(request.sender_id):
            self.unknown_senders += 1
            await self._drop(
                entry_id, "unknown_sender", request.sender_id, "lease request: bad sender id"
            )
            return
        seen, _ = self._recent.get(request.request_id)
        if seen:
            self.replays += 1
            await self._drop(
                entry_id, "replay", request.sender_id, f"lease {request.action} came again; ignored"
            )
            return
        self._recent.add(request.request_id, None)
        self.lease_requests += 1
        age_s = (time.time_ns() - request.issued_ns) / 1e9
        if age_s > self.config.max_age_s:
            self._report("expired", request.sender_id, f"lease request issued {age_s:.1f}s ago")
            reason = f"expired: issued {age_s:.1f}s ago"
            receipt = CommandReceipt(command_id=request.request_id, accepted=False, reason=reason)
        elif self.authority is None:
            receipt = CommandReceipt(
                command_id=request.request_id,
                accepted=False,
                reason="this desk keeps no control lease",
            )
        else:
            receipt = await self.authority.handle(request)
        await self._answer(entry_id, request.sender_id, receipt)

    # -- answering ----------------------------------------------------------------------------

    async def _finish(
        self,
        entry_id: bytes,
        envelope: CommandEnvelope,
        receipt: CommandReceipt,
        *,
        done: bool,
    ) -> None:
        """One MULTI: ledger "done" (if ``done``), XACK, the sealed receipt for the sender."""
        await self._answer(
            entry_id, envelope.sender_id, receipt, envelope.command_id if done else None
        )

    async def _answer(
        self,
        entry_id: bytes,
        sender_id: str,
        receipt: CommandReceipt,
        ledger_id: str | None = None,
    ) -> None:
        ack_stream = self._keys.acks_stream(sender_id)
        payload = encode(receipt)
        sealed = (
            self._receipt_sealer.seal(ack_stream, payload)
            if self._receipt_sealer is not None
            else payload
        )
        commands: list[tuple[Any, ...]] = [("MULTI",)]
        if ledger_id is not None:
            commands.append(self.ledger.done_command(ledger_id, self.consumer, receipt))
        commands += [
            ("XACK", self._stream, self._group, entry_id),
            ("XADD", ack_stream, "MAXLEN", "~", self.config.ack_stream_maxlen, "*",
             "receipt", sealed),
            ("EXPIRE", ack_stream, self.config.ack_stream_ttl_s),
            ("EXEC",),
        ]  # fmt: skip
        results = await replies((await self.lean()).send_many(commands))  # one write
        error = first_error(results)
        if error is not None:
            raise error


def _what(envelope: CommandEnvelope) -> str:
    """How a refusal names the command (built only for a refusal: not on the hot path)."""
    return f"command {type(envelope.command).__name__} {excerpt(envelope.command_id, 40)}"


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``detail`` as msgpack-safe builtins (a Decimal becomes its string)."""
    try:
        return msgspec.to_builtins(dict(detail))
    except (TypeError, msgspec.EncodeError):
        return {key: str(value) for key, value in detail.items()}
