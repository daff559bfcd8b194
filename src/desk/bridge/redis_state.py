"""Latest state in Redis: what an attaching UI needs to draw at once (DESIGN.md section 3).

Pub/sub only carries what happens from now on; a UI that attaches later needs the current
picture first. The engine keeps it in plain keys and hashes (names in :mod:`desk.bridge.keys`),
every value codec-encoded with its schema version:

* hashes: positions, open orders (a terminal order is removed), balances, bot states, metrics;
* one string per symbol for the book's top N (a :class:`~desk.bridge.views.BookView`);
* one string per component for its heartbeat, written with ``SET ... EX ttl`` so a component
  that dies simply disappears; the set of known components lets a reader tell "dead" from
  "never existed".

Writers raise redis errors while Redis is unreachable; whoever drives them catches that and,
once Redis is back, calls :meth:`RedisStateWriter.republish_all` with a fresh snapshot, which
replaces everything in one transaction (no reader sees half of it).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, decode_as, encode
from desk.bridge.keys import RedisKeys, position_field
from desk.bridge.signing import Sealer, strip_unverified
from desk.bridge.views import BookView
from desk.core.orders import Order, Position
from desk.signals.bots import BotStatus

log = logging.getLogger(__name__)

T = TypeVar("T")


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    """One currency of the account. (Belongs in ``core/`` once execution defines balances.)"""

    currency: str
    total: Decimal
    available: Decimal


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True):
    """A component saying it is alive: when, and which process on which host."""

    component: str
    ts_ns: int
    pid: int
    host: str


class StateSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything at once. ``heartbeats[c]`` is None for a known component whose TTL ran out."""

    positions: list[Position] = msgspec.field(default_factory=list)
    open_orders: list[Order] = msgspec.field(default_factory=list)
    balances: list[Balance] = msgspec.field(default_factory=list)
    bots: list[BotStatus] = msgspec.field(default_factory=list)
    books: dict[str, BookView] = msgspec.field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    heartbeats: dict[str, Heartbeat | None] = msgspec.field(default_factory=dict)


class RedisStateWriter:
    """The engine side: keeps the latest state keys current.

    With a ``sealer`` heartbeats are sealed (other processes judge liveness by them); with
    ``register_components`` off a heartbeat does not add its component to the shared set, so
    a split role's Redis user needs write access to its own keys only.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        sealer: Sealer | None = None,
        register_components: bool = True,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._sealer = sealer
        self._register = register_components

    async def put_position(self, position: Position) -> None:
        field = position_field(position.bot_id, position.symbol, position.venue)
        await self._redis.hset(self._keys.positions, field, encode(position))

    async def remove_position(self, bot_id: str, symbol: str) -> None:
        await self._redis.hdel(self._keys.positions, position_field(bot_id, symbol))

    async def put_order(self, order: Order) -> None:
        """An open order is stored; a terminal one is removed from the open orders."""
        if order.status.terminal:
            await self._redis.hdel(self._keys.open_orders, order.client_order_id)
        else:
            await self._redis.hset(self._keys.open_orders, order.client_order_id, encode(order))

    async def put_balance(self, balance: Balance) -> None:
        await self._redis.hset(self._keys.balances, balance.currency, encode(balance))

    async def put_bot(self, status: BotStatus) -> None:
        await self._redis.hset(self._keys.bots, status.bot_id, encode(status))

    async def remove_bot(self, bot_id: str) -> None:
        await self._redis.hdel(self._keys.bots, bot_id)

    async def put_book(self, book: BookView) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._keys.book(book.symbol), encode(book))
        pipe.sadd(self._keys.book_symbols, book.symbol)
        await pipe.execute()

    async def put_metrics(self, component: str, metrics: Mapping[str, Any]) -> None:
        await self._redis.hset(self._keys.metrics, component, encode(dict(metrics)))

    async def heartbeat(self, component: str, ttl_s: float) -> None:
        """``SET heartbeat:{component} ... EX ttl``: the key vanishes if the beats stop."""
        beat = Heartbeat(
            component=component, ts_ns=time.time_ns(), pid=os.getpid(), host=socket.gethostname()
        )
        key = self._keys.heartbeat(component)
        value = encode(beat)
        if self._sealer is not None:
            value = self._sealer.seal(key, value)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(key, value, px=max(1, int(ttl_s * 1000)))
        if self._register:
            pipe.sadd(self._keys.components, component)
        await pipe.execute()

    async def republish_all(self, snapshot: StateSnapshot) -> None:
        """Replace every state key with ``snapshot`` in one MULTI (after Redis came back).

        Heartbeats are not part of it: each component writes its own on its next beat.
        """
        keys = self._keys
        old_symbols = await self._redis.smembers(keys.book_symbols)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.positions, keys.open_orders, keys.balances, keys.bots, keys.metrics)
        pipe.delete(keys.book_symbols, *(keys.book(s.decode()) for s in old_symbols))
        _hset_all(
            pipe,
            keys.positions,
            {position_field(p.bot_id, p.symbol, p.venue): p for p in snapshot.positions},
        )
        _hset_all(
            pipe,
            keys.open_orders,
            {o.client_order_id: o for o in snapshot.open_orders if o.status.open},
        )
        _hset_all(pipe, keys.balances, {b.currency: b for b in snapshot.balances})
        _hset_all(pipe, keys.bots, {b.bot_id: b for b in snapshot.bots})
        _hset_all(pipe, keys.metrics, snapshot.metrics)
        for symbol, book in snapshot.books.items():
            pipe.set(keys.book(symbol), encode(book))
        if snapshot.books:
            pipe.sadd(keys.book_symbols, *snapshot.books)
        await pipe.execute()


def _hset_all(pipe: Any, key: str, values: Mapping[str, Any]) -> None:
    if values:
        pipe.hset(key, mapping={field: encode(value) for field, value in values.items()})


class RedisStateReader:
    """The attaching UI's side: everything at once (one transaction, then two MGETs).

    A value that does not decode (another desk version, a corrupt write) is skipped, counted in
    ``errors`` and logged, so one bad key cannot blank the whole screen. Seals are not checked
    here (this is for display; what acts on a heartbeat uses ``signing.Liveness``).
    """

    def __init__(self, redis: aioredis.Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self.errors = 0

    async def read_all(self) -> StateSnapshot:
        keys = self._keys
        pipe = self._redis.pipeline(transaction=True)
        for key in (keys.positions, keys.open_orders, keys.balances, keys.bots, keys.metrics):
            pipe.hgetall(key)
        pipe.smembers(keys.book_symbols)
        pipe.smembers(keys.components)
        positions, orders, balances, bots, metrics, symbols, components = await pipe.execute()
        symbol_names = sorted(s.decode() for s in symbols)
        component_names = sorted(c.decode() for c in components)
        books_raw = await self._mget([keys.book(s) for s in symbol_names])
        beats_raw = await self._mget([keys.heartbeat(c) for c in component_names])
        books = {
            symbol: book
            for symbol, book in zip(symbol_names, self._values(books_raw, BookView), strict=True)
            if book is not None
        }
        beats = dict(zip(component_names, self._values(beats_raw, Heartbeat), strict=True))
        return StateSnapshot(
            positions=self._present(positions.values(), Position),
            open_orders=self._present(orders.values(), Order),
            balances=self._present(balances.values(), Balance),
            bots=self._present(bots.values(), BotStatus),
            books=books,
            metrics={
                field.decode(): value
                for field, value in zip(
                    metrics.keys(), self._values(metrics.values(), dict[str, Any]), strict=True
                )
                if value is not None
            },
            heartbeats=beats,
        )

    async def _mget(self, names: list[str]) -> list[bytes | None]:
        return await self._redis.mget(names) if names else []

    def _values(self, raw: Any, type_: Any) -> list[Any]:
        """Decode each value (None for missing or undecodable ones)."""
        out: list[Any] = []
        for data in raw:
            if data is None:
                out.append(None)
                continue
            try:
                out.append(decode_as(strip_unverified(data), type_))
            except CodecError as exc:
                self.errors += 1
                log.warning("skipping an undecodable state value: %s", exc)
                out.append(None)
        return out

    def _present(self, raw: Any, type_: type[T]) -> list[T]:
        return [v for v in self._values(raw, type_) if v is not None]
