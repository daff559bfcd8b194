"""The control lease: at most one attached UI may send commands; the engine decides who.

A UI does not take the lease by writing a key (anyone who can reach Redis could, and block
every real UI); it asks the engine with a signed :class:`~desk.bridge.commands_stream.LeaseRequest`
(acquire / renew / release) on the command stream. The engine's :class:`LeaseAuthority` (the
receiver of the ``engine`` consumer group) records the holder and writes a :class:`LeaseGrant`
sealed with the lease key (:mod:`desk.bridge.signing`) into ``{prefix}:lease:control`` with the
lease's TTL. Everyone else (a split desk's bots process, every attached UI) reads the grant
through a :class:`LeaseReader`, which opens the seal: a value someone else wrote (or an older
grant put back) is ignored and reported, and the last verified grant stays in force until it
expires, so deleting or overwriting the key changes nothing. The authority also puts its grant
back when it finds the key overwritten or deleted.

A released lease is a grant with no holder (not a deleted key), so a reader that cached the
old grant learns of the release too.
"""

from __future__ import annotations

import logging
import time

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, decode_as, encode
from desk.bridge.commands_stream import CommandReceipt, LeaseRequest
from desk.bridge.signing import Report, SealedReader, Sealer

log = logging.getLogger(__name__)


class LeaseGrant(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds the control lease, until when (wall clock ns); no holder: released."""

    holder_id: str
    sender_id: str
    expires_ns: int
    ttl_ms: int

    def active(self, now_ns: int | None = None) -> bool:
        now = time.time_ns() if now_ns is None else now_ns
        return bool(self.holder_id) and self.expires_ns > now


class LeaseReader:
    """The verified view of the lease key ``key`` (see the module docstring)."""

    def __init__(
        self,
        redis: aioredis.Redis | None,
        key: str,
        sealer: Sealer | None,
        report: Report | None = None,
    ) -> None:
        self._redis = redis
        self.key = key
        self._reader = SealedReader(sealer, "control lease grant", report, kind="tampered_lease")
        self._seen: bytes | None = None
        self._grant: LeaseGrant | None = None
        self._grant_raw: bytes | None = None

    @property
    def refused(self) -> int:
        """Values of the key that were not the engine's grant (forged, replayed, garbage)."""
        return self._reader.refused

    def observe(self, raw: bytes | None) -> LeaseGrant | None:
        """The grant in force, given the key's value now (None: nobody holds the lease)."""
        if raw is not None and raw != self._seen:
            self._seen = raw
            payload = self._reader.open(self.key, raw)
            if payload is not None:
                try:
                    self._grant = decode_as(payload, LeaseGrant)
                    self._grant_raw = raw
                except CodecError as exc:
                    log.warning("undecodable lease grant: %s", exc)
        grant = self._grant
        return grant if grant is not None and grant.active() else None

    async def read(self) -> LeaseGrant | None:
        assert self._redis is not None, "a LeaseReader without a client only observes"
        return self.observe(await self._redis.get(self.key))

    async def holder(self) -> str | None:
        grant = await self.read()
        return grant.holder_id if grant is not None else None


class LeaseAuthority(LeaseReader):
    """The engine's side: answers lease requests and keeps its grant in the key."""

    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        sealer: Sealer | None,
        ttl_s: float,
        report: Report | None = None,
    ) -> None:
        super().__init__(redis, key, sealer, report)
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be > 0, got {ttl_s!r}")
        self._sealer = sealer
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._mine: bytes | None = None
        self.restored = 0

    async def handle(self, request: LeaseRequest) -> CommandReceipt:
        """Grant, renew or release for ``request`` (already verified); the receipt says how."""
        current = await self.read()
        holder = current.holder_id if current is not None else None
        asker = request.holder_id
        if request.action == "release":
            if holder != asker:
                return _refused(request, f"not the holder (held by {holder or 'nobody'})")
            released = LeaseGrant(
                holder_id="", sender_id=request.sender_id, expires_ns=0, ttl_ms=self.ttl_ms
            )
            await self._write(released)
            return CommandReceipt(command_id=request.request_id, accepted=True)
        if holder is not None and holder != asker:
            return _refused(request, f"held by {holder}")
        if request.action == "renew" and holder is None:
            return _refused(request, "not held by you any more (expired or released)")
        grant = LeaseGrant(
            holder_id=asker,
            sender_id=request.sender_id,
            expires_ns=time.time_ns() + self.ttl_ms * 1_000_000,
            ttl_ms=self.ttl_ms,
        )
        await self._write(grant)
        return CommandReceipt(
            command_id=request.request_id,
            accepted=True,
            detail={"holder": asker, "expires_ns": grant.expires_ns, "ttl_ms": self.ttl_ms},
        )

    async def _write(self, grant: LeaseGrant) -> None:
        assert self._redis is not None
        payload = encode(grant)
        raw = self._sealer.seal(self.key, payload) if self._sealer is not None else payload
        await self._redis.set(self.key, raw, px=self.ttl_ms)
        self._mine = raw
        self.observe(raw)

    async def keep_key(self) -> None:
        """Put the grant in force back if the key was overwritten or deleted (and say so)."""
        assert self._redis is not None
        raw = await self._redis.get(self.key)
        if raw == self._mine:
            return
        grant = self.observe(raw)  # reports a value that is not a grant
        if grant is None or self._grant_raw != self._mine or self._mine is None:
            return  # nobody holds it, or a newer grant (another engine's) is in force
        left_ms = (grant.expires_ns - time.time_ns()) // 1_000_000
        if left_ms > 0:
            self.restored += 1
            log.warning("control lease key %s was tampered with: grant restored", self.key)
            await self._redis.set(self.key, self._mine, px=left_ms)
            self._seen = self._mine  # the same forgery again is reported again


def _refused(request: LeaseRequest, reason: str) -> CommandReceipt:
    return CommandReceipt(command_id=request.request_id, accepted=False, reason=reason)
