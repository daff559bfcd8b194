"""Sealed values: what one desk process writes to Redis and another acts on carries a MAC.

Redis is a trust boundary: a client that can reach it but does not hold ``$DESK_COMMAND_SECRET``
must not be able to make desk act on anything it wrote. Commands are signed by their senders
(:mod:`desk.bridge.commands_stream`); everything the engine and the split roles write for each
other (views, pub/sub market data, heartbeats, command receipts, the control lease grant, the
exactly-once ledger) is *sealed* here, and every reader that acts on it opens the seal first.

**Format.** ``b"\\xc1\\x01" + ts_ns (8 bytes, big endian) + tag (16 bytes) + payload``, where
the payload is the codec's msgpack bytes. ``0xc1`` is the one byte msgpack never uses, so a
sealed value is never mistaken for a plain codec message (nor the other way round). ``tag`` is
keyed BLAKE2b-128 over ``name + NUL + ts + payload``; ``name`` is the Redis key or channel the
value was written to, so a sealed book of one symbol cannot be moved to another's key, nor a
receipt to another UI's ack stream. ``ts`` (the writer's clock, strictly increasing per writer)
lets a reader refuse an older value put back in place of a newer one (a replay).

**Keys.** :class:`Keyring` derives one key per purpose from the secret and the key prefix
(HMAC-SHA256), so two desks that share a secret but not a prefix cannot read each other's
seals as their own, and a value sealed for one purpose (a view) is never valid for another (a
receipt). Commands keep the secret itself (their signature predates the keyring).

Without a secret (``redis.require_signature: false``) nothing is sealed and nothing verified:
Redis ACLs (``desk redis-acl``) are then the only protection.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from collections.abc import Callable

MAGIC = b"\xc1\x01"
_HEADER = struct.Struct(">2sQ16s")
HEADER_SIZE = _HEADER.size
TAG_SIZE = 16
PURPOSES = ("data", "receipt", "lease", "ledger")

Report = Callable[[str, str, str], None]
"""``report(kind, sender, detail)``: one refusal (:class:`desk.bridge.security.RefusalReporter`)."""


class SealError(ValueError):
    """A value that does not open: ``reason`` is "unsigned", "bad signature" or "truncated"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def derive_key(secret: bytes, prefix: str, purpose: str) -> bytes:
    """The key of one purpose for the desk at ``prefix`` (HMAC-SHA256 of a fixed label)."""
    label = f"desk-seal-v1\x00{prefix}\x00{purpose}".encode()
    return hmac.new(secret, label, hashlib.sha256).digest()


def is_sealed(data: bytes) -> bool:
    return data[:2] == MAGIC


def strip_unverified(data: bytes) -> bytes:
    """The payload of a sealed value without checking it (tools and tests; never to act on)."""
    return data[HEADER_SIZE:] if is_sealed(data) else data


def _name_bytes(name: str | bytes) -> bytes:
    return (name.encode() if isinstance(name, str) else name) + b"\x00"


_NAMES: dict[str | bytes, bytes] = {}


def _cached_name(name: str | bytes) -> bytes:
    """``_name_bytes`` for the few names a process seals under again and again."""
    hit = _NAMES.get(name)
    if hit is None:
        if len(_NAMES) > 10_000:
            _NAMES.clear()
        hit = _NAMES[name] = _name_bytes(name)
    return hit


class Sealer:
    """Seals and opens values under one key; see the module docstring for the format."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a sealing key needs at least 16 bytes")
        self._base = hashlib.blake2b(key=key, digest_size=TAG_SIZE)
        self._last_ts = 0

    def _tag(self, name: bytes, ts: int, payload: bytes | memoryview) -> bytes:
        h = self._base.copy()
        h.update(name)
        h.update(ts.to_bytes(8, "big"))
        h.update(payload)
        return h.digest()

    def next_ts(self) -> int:
        """Now in ns, strictly after the last seal of this sealer (two seals never tie)."""
        ts = time.time_ns()
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        return ts

    def seal(self, name: str | bytes, payload: bytes) -> bytes:
        ts = self.next_ts()
        return _HEADER.pack(MAGIC, ts, self._tag(_cached_name(name), ts, payload)) + payload

    def open(self, name: str | bytes, data: bytes) -> tuple[int, bytes]:
        """``(ts, payload)`` of a value sealed for ``name``; :class:`SealError` otherwise."""
        if data[:2] != MAGIC:
            raise SealError("unsigned")
        if len(data) < HEADER_SIZE:
            raise SealError("truncated")
        _, ts, tag = _HEADER.unpack_from(data)
        payload = memoryview(data)[HEADER_SIZE:]
        if not hmac.compare_digest(tag, self._tag(_cached_name(name), ts, payload)):
            raise SealError("bad signature")
        return ts, bytes(payload)


class Keyring:
    """The per-purpose sealers of one desk (``prefix``) derived from the shared secret."""

    def __init__(self, secret: bytes, prefix: str) -> None:
        self.secret = secret
        self.prefix = prefix
        self.data = Sealer(derive_key(secret, prefix, "data"))
        self.receipt = Sealer(derive_key(secret, prefix, "receipt"))
        self.lease = Sealer(derive_key(secret, prefix, "lease"))
        self.ledger = Sealer(derive_key(secret, prefix, "ledger"))


class SealedReader:
    """Opens the sealed values of one kind for a reader that acts on them.

    Refuses (returns None, counts, reports) a value that is unsigned, badly signed, or (when
    ``ordered``) older than the last one accepted under the same name (``strict``: not newer,
    for messages that must never repeat), or older than ``max_age_s`` by the writer's clock.
    ``ordered`` is for names with one writer (a view, a channel); names are only
    remembered once a value under them verified, so forged names cannot grow memory.
    With ``sealer`` None (signing off) every value is accepted as it is.
    """

    def __init__(
        self,
        sealer: Sealer | None,
        what: str,
        report: Report | None = None,
        *,
        ordered: bool = True,
        strict: bool = False,
        max_age_s: float | None = None,
        kind: str = "forged_data",
    ) -> None:
        self.sealer = sealer
        self.kind = kind
        self.what = what
        self.report = report
        self.ordered = ordered
        self.strict = strict
        self.max_age_ns = None if max_age_s is None else int(max_age_s * 1e9)
        self._last: dict[str, int] = {}
        self.accepted = 0
        self.refused = 0
        self.last_refusal = ""

    def open(self, name: str, data: bytes) -> bytes | None:
        if self.sealer is None:
            return strip_unverified(data)
        try:
            ts, payload = self.sealer.open(name, data)
        except SealError as exc:
            return self._refuse(name, exc.reason)
        if self.ordered:
            last = self._last.get(name, 0)
            if ts < last or (self.strict and ts == last):
                return self._refuse(name, "replayed: older than the last one accepted", "replay")
        if self.max_age_ns is not None and time.time_ns() - ts > self.max_age_ns:
            return self._refuse(name, f"too old: sealed {(time.time_ns() - ts) / 1e9:.1f}s ago")
        if self.ordered:
            self._last[name] = ts
        self.accepted += 1
        return payload

    def _refuse(self, name: str, reason: str, kind: str | None = None) -> None:
        self.refused += 1
        self.last_refusal = f"{name}: {reason}"
        if self.report is not None:
            self.report(kind or self.kind, name, f"{self.what} on {name} refused: {reason}")
        return None


class Liveness:
    """Whether a sealed heartbeat still moves: alive while its seal time advanced within
    ``ttl_s`` of this process's own clock (so neither clock skew between hosts nor an old
    heartbeat put back makes a dead process look alive)."""

    def __init__(self, reader: SealedReader, ttl_s: float) -> None:
        self.reader = reader
        self.ttl_s = ttl_s
        self._raw: dict[str, bytes] = {}
        self._moved_at: dict[str, float] = {}

    def observe(self, name: str, raw: bytes | None) -> bool:
        now = time.monotonic()
        if raw is None:
            return False
        if raw != self._raw.get(name):
            if self.reader.open(name, raw) is None:
                return False
            self._raw[name] = raw
            self._moved_at[name] = now
        return now - self._moved_at.get(name, -1e18) <= self.ttl_s
