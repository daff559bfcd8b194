"""Market data a split role acts on, read from Redis and verified before it is used.

* :class:`RedisBooks`: the executor's books, from the book views the feed writes (risk's price
  band and the paper venue's fills use them);
* :class:`RedisMarketIn`: closed candles (for the bots) and trades (for the paper venue) from
  the feed's pub/sub onto the local bus.

Both open every value's seal (:mod:`desk.bridge.signing`) with the desk's data key: a value that
is unsigned, forged, moved from another key or channel, or older than the last one accepted (a
replay) is dropped, counted and reported as a ``forged_data`` security event. The feed's
liveness is its sealed heartbeat *moving* (:class:`~desk.bridge.signing.Liveness`), so a
heartbeat kept in place by someone else does not make a dead feed's last book usable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from desk.bridge.codec import CodecError, decode_as, decode_event
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import CONNECTION_ERRORS, make_client
from desk.bridge.redis_views import ViewKeys
from desk.bridge.resp import RespConnection, params_of
from desk.bridge.signing import Keyring, Liveness, Report, SealedReader
from desk.bridge.tasks import cancel_and_wait
from desk.bridge.views import BookView
from desk.config import DeskConfig
from desk.core import topics
from desk.core.events import SystemEvent

REDIS_ERRORS = (*CONNECTION_ERRORS, RedisError)


def _data_reader(
    keyring: Keyring | None, what: str, report: Report | None, **options: Any
) -> SealedReader:
    return SealedReader(keyring.data if keyring is not None else None, what, report, **options)


class _RemoteBook:
    """An :class:`~desk.market.book.OrderBook` look-alike over a BookView (top 50 levels)."""

    def __init__(self, view: BookView) -> None:
        self.view = view
        self.symbol = view.symbol

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        return [(lv.price, lv.size) for lv in self.view.bids[:n]]

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        return [(lv.price, lv.size) for lv in self.view.asks[:n]]

    def raw_bids(self, n: int | None = None) -> list[tuple[str, str]]:
        return [(repr(lv.price), repr(lv.size)) for lv in self.view.bids[:n]]

    def raw_asks(self, n: int | None = None) -> list[tuple[str, str]]:
        return [(repr(lv.price), repr(lv.size)) for lv in self.view.asks[:n]]

    def best_bid(self) -> tuple[float, float] | None:
        return (self.view.bids[0].price, self.view.bids[0].size) if self.view.bids else None

    def best_ask(self) -> tuple[float, float] | None:
        return (self.view.asks[0].price, self.view.asks[0].size) if self.view.asks else None

    def mid(self) -> float:
        bid, ask = self.best_bid(), self.best_ask()
        return (bid[0] + ask[0]) / 2 if bid and ask else float("nan")

    def imbalance(self, n: int = 5) -> float:
        b = sum(s for _, s in self.bids(n))
        a = sum(s for _, s in self.asks(n))
        return (b - a) / (b + a) if b + a else 0.0

    def __bool__(self) -> bool:
        return bool(self.view.bids or self.view.asks)


class RedisBooks:
    """``book(symbol)`` from the book views the feed writes, refreshed every view interval.

    None while the feed's view is stale, missing, or its heartbeat has stopped moving, so risk
    and the paper venue never use a dead book; a view that does not verify is never used.
    """

    def __init__(
        self,
        config: DeskConfig,
        component: str = "feed",
        keyring: Keyring | None = None,
        report: Report | None = None,
    ) -> None:
        self.config = config
        self.keys = RedisKeys(config.redis.key_prefix)
        self.view_keys = ViewKeys(self.keys)
        self.component = component
        self.reader = _data_reader(keyring, "book view", report)
        self._liveness = Liveness(
            _data_reader(keyring, "heartbeat", report), config.redis.heartbeat_ttl
        )
        self._views: dict[str, BookView] = {}
        self._raw: dict[str, bytes] = {}
        self._alive = False
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self.errors = 0

    def book(self, symbol: str) -> _RemoteBook | None:
        view = self._views.get(symbol)
        if view is None or view.stale or not self._alive:
            return None
        return _RemoteBook(view)

    async def start(self) -> None:
        self._redis = make_client(self.config.redis.url)
        with contextlib.suppress(*REDIS_ERRORS):
            await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-books")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def refresh(self) -> None:
        assert self._redis is not None
        symbols = self.config.trading.symbols
        heartbeat = self.keys.heartbeat(self.component)
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([self.view_keys.book(s) for s in symbols])
        pipe.get(heartbeat)
        values, beat = await pipe.execute()
        self._alive = self._liveness.observe(heartbeat, beat)
        for symbol, raw in zip(symbols, values, strict=True):
            if raw is None or raw == self._raw.get(symbol):
                continue
            self._raw[symbol] = raw  # a refused value is not looked at again
            payload = self.reader.open(self.view_keys.book(symbol), raw)
            if payload is None:
                self.errors += 1
                continue
            try:
                self._views[symbol] = decode_as(payload, BookView)
            except CodecError:
                self.errors += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.redis.view_interval)
            try:
                await self.refresh()
            except REDIS_ERRORS:
                self.errors += 1
                self._alive = False


EVENT_MAX_AGE_S = 3600.0
"""A system event older than this is refused (a replay, or an outage longer than the buffer)."""


class RedisMarketIn:
    """Market data from Redis pub/sub onto the local bus (only the event ``kinds`` asked for).

    Pub/sub is fire-and-forget: what was published while this process was disconnected is
    gone, as it would be for a live feed. A message must be sealed for its channel, newer than
    the last one on that channel and at most ``redis.command_max_age`` old.
    """

    def __init__(
        self,
        bus: Any,
        config: DeskConfig,
        kinds: tuple[type, ...],
        keyring: Keyring | None = None,
        report: Report | None = None,
        on_system_event: Callable[[SystemEvent], None] | None = None,
        on_link: Callable[[bool], None] | None = None,
    ) -> None:
        """``on_system_event``: also receive the other roles' system events (a feed's connects
        and disconnects), handed to it and not put on the bus; ``on_link(up)``: told when this
        subscription is made (True) and lost (False): what was published meanwhile is gone."""
        self.bus = bus
        self.config = config
        self.keys = RedisKeys(config.redis.key_prefix)
        self.kinds = kinds
        self.reader = _data_reader(
            keyring, "market data", report, strict=True, max_age_s=config.redis.command_max_age
        )
        # Every role writes the events channel (no one order to check) and keeps its events
        # through an outage, so they may come late: sealed, and at most EVENT_MAX_AGE_S old.
        self.event_reader = _data_reader(
            keyring, "system events", report, ordered=False, max_age_s=EVENT_MAX_AGE_S
        )
        self.on_system_event = on_system_event
        self.on_link = on_link
        self._events_channel = self.keys.channel(topics.SYSTEM_EVENTS)
        self.received = 0
        self.errors = 0
        self.refused = 0
        self._task: asyncio.Task[None] | None = None
        self._up = False

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-market-in")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        """Subscribed on a lean connection (:mod:`desk.bridge.resp`): each message is
        verified and published here straight from the socket's callback, no task between."""
        pattern = self.keys.channel_pattern(topics.market_data("*"))
        client = make_client(self.config.redis.url)
        params, context = params_of(client)
        await client.aclose()
        on_push = self._on_push
        while True:
            conn: RespConnection | None = None
            try:
                conn = await RespConnection.open(params, context, on_push=on_push)
                await conn.call("PSUBSCRIBE", pattern)
                if self.on_system_event is not None:
                    await conn.call("SUBSCRIBE", self._events_channel)
                self._link(True)
                await asyncio.shield(conn.closed)
                self.errors += 1  # the connection went: subscribe again
            except REDIS_ERRORS:
                self.errors += 1
            finally:
                if conn is not None:
                    conn.close()
            self._link(False)  # not when stopped (cancelled): that is no gap in the data
            await asyncio.sleep(0.5)

    def _link(self, up: bool) -> None:
        """Tell ``on_link`` of a change (once per change: a failed retry is not news)."""
        if up != self._up and self.on_link is not None:
            self.on_link(up)
        self._up = up

    def _on_push(self, message: list[Any]) -> None:
        if message[0] == b"pmessage":
            self.deliver(message[2], message[3])
        elif message[0] == b"message" and self.on_system_event is not None:
            self.deliver_event(message[1], message[2])

    def deliver_event(self, channel: bytes | str, data: bytes) -> None:
        """One message of the system events channel: verified, decoded, handed on."""
        name, event = self._open(self.event_reader, channel, data)
        if name != self._events_channel:
            return
        if isinstance(event, SystemEvent) and self.on_system_event is not None:
            self.on_system_event(event)

    def deliver(self, channel: bytes | str, data: bytes) -> None:
        """One pub/sub message: verified, decoded, and published here if of a wanted kind."""
        name, event = self._open(self.reader, channel, data)
        if not isinstance(event, self.kinds):
            return
        if self.keys.channel(topics.market_data(event.symbol)) != name:
            self.refused += 1  # sealed for one symbol's channel, claiming another symbol
            return
        self.received += 1
        self.bus.publish(topics.market_data(event.symbol), event)

    def _open(self, reader: SealedReader, channel: bytes | str, data: bytes) -> tuple[str, Any]:
        """(channel name, the event) of a sealed message; None as the event (counted) when it
        is not sealed right or does not decode."""
        name = channel.decode(errors="replace") if isinstance(channel, bytes) else channel
        payload = reader.open(name, data)
        if payload is None:
            self.refused += 1
            return name, None
        try:
            return name, decode_event(payload)
        except CodecError:
            self.errors += 1
            return name, None
