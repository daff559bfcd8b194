"""The exactly-once ledger of the command receiver, which nobody without the secret can forge.

One key per command id and consumer group (``{prefix}:cmd:applied:{group}:{command_id}``)
holds a :class:`LedgerEntry` ("applying" while the command runs, "done" with its receipt),
sealed under the ledger key (:mod:`desk.bridge.signing`) and bound to its key name. A value
that does not open is *planted* (someone who saw the command on the stream wrote the key first
to get it refused as "interrupted"): the receiver reports it, replaces it with its own entry by
compare-and-set (``WATCH``/``MULTI``, so two consumers never both take it) and goes on.

Deleting a "done" entry to get a command applied again is caught by :class:`RecentCommands`:
the receiver remembers the ids it handled for longer than a command stays valid (``max_age``),
so a command that reappears after its ledger entry vanished is answered as a replay.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from desk.bridge.codec import CodecError, decode_as, encode
from desk.bridge.commands_stream import CommandReceipt
from desk.bridge.keys import RedisKeys
from desk.bridge.resp import RespConnection
from desk.bridge.signing import SealedReader, Sealer


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    state: str  # "applying" | "done"
    consumer: str
    receipt: CommandReceipt | None = None


LedgerState = Literal["missing", "planted", "valid"]


class Ledger:
    """Reads and writes one consumer group's sealed ledger entries."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        group: str,
        sealer: Sealer | None,
        ttl_s: int,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._group = group
        self._sealer = sealer
        self._reader = SealedReader(sealer, "ledger entry", ordered=False)
        self.ttl_s = ttl_s

    def key(self, command_id: str) -> str:
        return self._keys.applied_command(command_id, self._group)

    def pack(self, key: str, entry: LedgerEntry) -> bytes:
        payload = encode(entry)
        return self._sealer.seal(key, payload) if self._sealer is not None else payload

    async def claim(
        self, command_id: str, consumer: str, conn: RespConnection | None = None
    ) -> bool:
        """``SET NX`` an "applying" entry: True if this consumer now owns the command.

        One round trip, on ``conn`` (the receiver's lean connection) when given.
        """
        key = self.key(command_id)
        entry = self.pack(key, LedgerEntry(state="applying", consumer=consumer))
        if conn is not None:
            return await conn.call("SET", key, entry, "NX", "EX", self.ttl_s) is not None
        return bool(await self._redis.set(key, entry, nx=True, ex=self.ttl_s))

    async def read(self, command_id: str) -> tuple[LedgerState, LedgerEntry | None, bytes | None]:
        key = self.key(command_id)
        raw = await self._redis.get(key)
        if raw is None:
            return "missing", None, None
        payload = self._reader.open(key, raw)
        if payload is None:
            return "planted", None, raw
        try:
            return "valid", decode_as(payload, LedgerEntry), raw
        except CodecError:
            return "planted", None, raw

    async def replace(self, command_id: str, expected: bytes, consumer: str) -> bool:
        """Swap a planted value for this consumer's "applying" entry, if it is still there."""
        key = self.key(command_id)
        entry = self.pack(key, LedgerEntry(state="applying", consumer=consumer))
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            if await pipe.get(key) != expected:
                await pipe.unwatch()
                return False
            pipe.multi()
            pipe.set(key, entry, ex=self.ttl_s)
            try:
                await pipe.execute()
            except WatchError:
                return False
        return True

    def done_command(
        self, command_id: str, consumer: str, receipt: CommandReceipt
    ) -> tuple[Any, ...]:
        """The ``SET`` of the "done" entry, for a MULTI (the receipt and XACK go with it)."""
        key = self.key(command_id)
        done = LedgerEntry(state="done", consumer=consumer, receipt=receipt)
        return ("SET", key, self.pack(key, done), "EX", self.ttl_s)


class RecentCommands:
    """Command ids this receiver handled lately, with their receipts (see module docstring)."""

    def __init__(self, keep_s: float, limit: int = 100_000) -> None:
        self.keep_s = keep_s
        self.limit = limit
        self._seen: OrderedDict[str, tuple[float, CommandReceipt | None]] = OrderedDict()

    def _prune(self, now: float) -> None:
        seen = self._seen
        while seen and (len(seen) > self.limit or now - next(iter(seen.values()))[0] > self.keep_s):
            seen.popitem(last=False)

    def add(self, command_id: str, receipt: CommandReceipt | None) -> None:
        now = time.monotonic()
        self._seen[command_id] = (now, receipt)
        self._seen.move_to_end(command_id)
        self._prune(now)

    def get(self, command_id: str) -> tuple[bool, CommandReceipt | None]:
        """``(seen, receipt)`` for an id handled in the last ``keep_s`` seconds."""
        self._prune(time.monotonic())
        hit = self._seen.get(command_id)
        return (True, hit[1]) if hit is not None else (False, None)
