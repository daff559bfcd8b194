"""Ships the in-process bus to Redis: pub/sub for every topic, and a durable stream for trades.

Market data goes out at once: the bus handler encodes, seals and writes its ``PUBLISH`` to the
socket itself (:mod:`desk.bridge.resp`, no task to wake, no timer), as long as nothing is queued
before it and fewer than ``direct_limit`` replies are outstanding. Everything else (and market
data past that limit) is appended to one of three buffers, which one task drains in batches,
each batch one pipelined write (``PUBLISH`` per event, plus ``XADD`` for trade updates). While
a batch is in flight new events accumulate, so batches grow by themselves under load.

What happens when Redis is unreachable depends on the class of message (DESIGN.md section 3):

* **market data** (``market_data:*``) is worthless late: it is dropped and counted in
  ``dropped_market``, and whatever was queued is dropped when the connection is lost;
* **system and bot events** (``system_events``, ``bot_signals:*``) are kept up to
  ``event_buffer``; past it the oldest is dropped and counted in ``dropped_events``;
* **trade updates** (Order/Fill on ``trade_updates:*``) are never dropped: the buffer grows past
  ``trade_buffer_bound`` (counted in ``over_bound`` so health can warn) and is flushed in order
  once Redis is back. Each is published and also ``XADD``-ed to the trade-updates stream with
  fields ``event`` (codec bytes), ``src`` (this publisher's id) and ``seq`` (its number here).
  A batch that failed half way is sent again, so the stream is at-least-once: a reader that must
  not count twice de-duplicates on (``src``, ``seq``).

With a ``sealer`` (:mod:`desk.bridge.signing`, the keyring's data key) every message and
stream entry is sealed under its channel or stream name, so a process that acts on it (a split
desk's bots and executor) can tell it from one published by someone without the secret.

Starting with Redis down does not raise: ``state`` says disconnected and the task keeps trying
with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from desk.bridge.codec import encode
from desk.bridge.keys import RedisKeys
from desk.bridge.resp import RespConnection, params_of, replies
from desk.bridge.signing import Sealer
from desk.core import topics
from desk.core.bus import Bus

log = logging.getLogger(__name__)

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class PublisherConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds and timings of one publisher (all have working defaults)."""

    batch_size: int = 1000
    direct_limit: int = 256
    """Market data is written from the bus handler while fewer replies than this are due."""
    market_buffer: int = 10_000
    event_buffer: int = 10_000
    trade_buffer_bound: int = 100_000
    trade_stream_maxlen: int = 1_000_000
    reconnect_min_s: float = 0.05
    reconnect_max_s: float = 2.0
    idle_ping_s: float = 1.0
    socket_timeout_s: float = 2.0


class PublisherState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class PublisherCounters(msgspec.Struct, frozen=True, kw_only=True):
    """What the health screen shows about the publisher."""

    state: PublisherState
    sent: int
    streamed: int
    buffered: int
    dropped_market: int
    dropped_events: int
    over_bound: int
    reconnects: int
    errors: int
    last_error: str


PASSWORD_ENV = "DESK_REDIS_PASSWORD"
"""Redis AUTH password, from the environment (never the YAML). TLS: use a ``rediss://`` URL."""


def redis_auth() -> dict[str, str]:
    """``password=`` for redis-py when :data:`PASSWORD_ENV` is set (a URL's own wins)."""
    password = os.environ.get(PASSWORD_ENV, "")
    return {"password": password} if password else {}


def _plain(_name: str, data: bytes) -> bytes:
    return data


def make_client(url: str, socket_timeout_s: float = 2.0) -> aioredis.Redis:
    """A client that fails fast instead of retrying by itself.

    redis-py retries a failed command on a fresh connection by default; for a pipeline that
    would hide the failure and re-send it, so callers here own retrying (and counting) instead.
    """
    return aioredis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        **redis_auth(),
    )


_Item = tuple[str, Any]  # (channel, event)
_TradeItem = tuple[str, Any, int]  # (channel, event, seq)


class RedisPublisher:
    """Subscribes to every bus topic and publishes to Redis (see the module docstring)."""

    def __init__(
        self,
        bus: Bus,
        keys: RedisKeys,
        client_factory: Callable[[], aioredis.Redis],
        config: PublisherConfig | None = None,
        publisher_id: str | None = None,
        sealer: Sealer | None = None,
        market: bool = True,
    ) -> None:
        self._bus = bus
        self._keys = keys
        self._sealer = sealer
        self._market_on = market
        self._client_factory = client_factory
        self.config = config or PublisherConfig()
        self.publisher_id = publisher_id or os.urandom(6).hex()
        self._client: aioredis.Redis | None = None
        self._conn: RespConnection | None = None
        self._wakeup: asyncio.Future[bool] | None = None
        self._market: deque[_Item] = deque()
        self._events: deque[_Item] = deque()
        self._trades: deque[_TradeItem] = deque()
        self._channels: dict[str, str] = {}
        self._seq = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._ever_connected = False
        self.state = PublisherState.DISCONNECTED
        self.sent = 0
        self.streamed = 0
        self.dropped_market = 0
        self.dropped_events = 0
        self.over_bound = 0
        self.reconnects = 0
        self.errors = 0
        self.last_error = ""

    # -- bus side (synchronous, on the publishing code path) ---------------------------------

    def _channel(self, topic: str) -> str:
        channel = self._channels.get(topic)
        if channel is None:
            channel = self._channels[topic] = self._keys.channel(topic)
        return channel

    def on_market_data(self, event: Any) -> None:
        if self.state is not PublisherState.CONNECTED:
            self.dropped_market += 1
            return
        channel = self._channel(topics.market_data(event.symbol))
        conn = self._conn
        if not self._market and conn is not None and conn.waiting < self.config.direct_limit:
            seal = self._sealer.seal if self._sealer is not None else _plain
            try:
                conn.send("PUBLISH", channel, seal(channel, encode(event)), reply=False)
            except CONNECTION_ERRORS:
                pass  # lost: the sending task notices; queue it like the rest meanwhile
            else:
                self.sent += 1
                return
        if len(self._market) >= self.config.market_buffer:
            self._market.popleft()
            self.dropped_market += 1
        self._market.append((channel, event))
        self._wake()

    def on_system_event(self, event: Any) -> None:
        self._offer_event(self._channel(topics.SYSTEM_EVENTS), event)

    def on_bot_event(self, event: Any) -> None:
        self._offer_event(self._channel(topics.bot_signals(event.bot_id)), event)

    def _offer_event(self, channel: str, event: Any) -> None:
        if len(self._events) >= self.config.event_buffer:
            self._events.popleft()
            self.dropped_events += 1
        self._events.append((channel, event))
        self._wake()

    def on_trade_update(self, event: Any) -> None:
        if len(self._trades) >= self.config.trade_buffer_bound:
            self.over_bound += 1
        self._seq += 1
        self._trades.append((self._channel(topics.trade_updates(event.bot_id)), event, self._seq))
        self._wake()

    def _wake(self, ping: bool = False) -> None:
        """Wake the sending task if it waits (``ping``: its idle timer ran out)."""
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(ping)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._market) + len(self._events) + len(self._trades)

    def counters(self) -> PublisherCounters:
        return PublisherCounters(
            state=self.state,
            sent=self.sent,
            streamed=self.streamed,
            buffered=self.buffered,
            dropped_market=self.dropped_market,
            dropped_events=self.dropped_events,
            over_bound=self.over_bound,
            reconnects=self.reconnects,
            errors=self.errors,
            last_error=self.last_error,
        )

    def start(self) -> None:
        """Subscribe to the bus and start the sending task; never raises for Redis being down.

        The channel of an event is rebuilt from its ``symbol`` or ``bot_id`` (a bus handler is
        not told the topic), the same rule every publisher of those topics follows. Without
        ``market`` market data is not shipped (a split role that got it *from* Redis must not
        publish it back).
        """
        if self._task is not None:
            return
        subscribe = self._bus.subscribe
        self._unsubscribe = [
            subscribe(topics.bot_signals("*"), self.on_bot_event),
            subscribe(topics.trade_updates("*"), self.on_trade_update),
            subscribe(topics.SYSTEM_EVENTS, self.on_system_event),
        ]
        if self._market_on:
            self._unsubscribe.append(subscribe(topics.market_data("*"), self.on_market_data))
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-publisher")

    async def stop(self, flush_timeout_s: float = 2.0) -> None:
        """Unsubscribe, try to send what is buffered (while connected), and close."""
        for remove in self._unsubscribe:
            remove()
        self._unsubscribe = []
        if self._task is None:
            return
        if self.state is PublisherState.CONNECTED and self.buffered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_flushed(), flush_timeout_s)
        self._stopping.set()
        self._wake()
        task, self._task = self._task, None
        done, _ = await asyncio.wait({task}, timeout=flush_timeout_s)
        if not done:  # stuck in a round trip: cancel (the batch goes back into the buffers)
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        self._close_conn()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
        if self.buffered:
            log.warning("redis publisher stopped with %d events unsent", self.buffered)

    async def _wait_flushed(self) -> None:
        while self.buffered and self.state is PublisherState.CONNECTED:
            await asyncio.sleep(0.01)

    # -- sending task -------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.config.reconnect_min_s
        while not self._stopping.is_set():
            if self.state is not PublisherState.CONNECTED:
                if await self._connect():
                    backoff = self.config.reconnect_min_s
                else:
                    await self._pause(backoff)
                    backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            if not self.buffered:
                await self._idle()
                continue
            await self._send_batch()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _idle(self) -> None:
        """Wait for events; PING now and then so ``state`` notices a silent disconnect.

        A plain future and a timer (not ``wait_for``, which wraps the wait in a task of its own
        and so costs the wake-up several loop turns).
        """
        loop = asyncio.get_running_loop()
        self._wakeup = waiter = loop.create_future()
        timer = loop.call_later(self.config.idle_ping_s, self._wake, True)
        try:
            ping = await waiter
        finally:
            timer.cancel()
            self._wakeup = None
        conn = self._conn
        if not ping or self._stopping.is_set():
            return
        try:
            if conn is None:
                raise RedisConnectionError("not connected to Redis")
            await conn.call("PING")
        except CONNECTION_ERRORS as exc:
            self._lost_connection(exc)

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def _connect(self) -> bool:
        self._close_conn()
        try:
            params, context = params_of(self._redis())
            conn = await RespConnection.open(params, context)
            self._conn = conn
            conn.on_error = self._note_error
            conn.closed.add_done_callback(lambda _: self._conn_closed(conn))
            await conn.call("PING")
        except (*CONNECTION_ERRORS, RedisError) as exc:  # RedisError: e.g. auth refused
            self._close_conn()
            self._note_error(exc)
            return False
        if self._ever_connected:
            self.reconnects += 1
            log.info("redis publisher reconnected; %d events buffered", self.buffered)
        self._ever_connected = True
        self.state = PublisherState.CONNECTED
        return True

    def _note_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    def _conn_closed(self, conn: RespConnection) -> None:
        """The connection went (Redis gone, or a reply overdue): disconnected until back."""
        if conn is self._conn and self.state is PublisherState.CONNECTED:
            self._lost_connection(RedisConnectionError("connection to Redis lost"))
            self._wake()

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _lost_connection(self, exc: BaseException) -> None:
        self._close_conn()
        self._note_error(exc)
        if self.state is PublisherState.CONNECTED:
            log.warning("redis publisher lost its connection: %s", self.last_error)
        self.state = PublisherState.DISCONNECTED
        self.dropped_market += len(self._market)
        self._market.clear()

    def _take_batch(self) -> tuple[list[_TradeItem], list[_Item], list[_Item]]:
        """Trades first (they matter most), then system/bot events, then market data."""
        room = self.config.batch_size
        trades = [self._trades.popleft() for _ in range(min(room, len(self._trades)))]
        room -= len(trades)
        events = [self._events.popleft() for _ in range(min(room, len(self._events)))]
        room -= len(events)
        market = [self._market.popleft() for _ in range(min(room, len(self._market)))]
        return trades, events, market

    async def _send_batch(self) -> None:
        trades, events, market = self._take_batch()
        stream = self._keys.trade_updates_stream
        maxlen = self.config.trade_stream_maxlen
        src = self.publisher_id
        seal = self._sealer.seal if self._sealer is not None else _plain
        commands: list[tuple[Any, ...]] = []
        for channel, event, seq in trades:
            data = encode(event)
            commands.append(("PUBLISH", channel, seal(channel, data)))
            commands.append(
                ("XADD", stream, "MAXLEN", "~", maxlen, "*",
                 "event", seal(stream, data), "src", src, "seq", seq)
            )  # fmt: skip
        for channel, event in events:
            commands.append(("PUBLISH", channel, seal(channel, encode(event))))
        for channel, event in market:
            commands.append(("PUBLISH", channel, seal(channel, encode(event))))
        try:
            if self._conn is None:
                raise RedisConnectionError("not connected to Redis")
            results = await replies(self._conn.send_many(commands))  # one write
        except CONNECTION_ERRORS as exc:
            self._requeue(trades, events)
            self.dropped_market += len(market)
            self._lost_connection(exc)
            return
        except asyncio.CancelledError:
            self._requeue(trades, events)  # stopped mid-flight: keep them for whoever asks
            raise
        failures = [r for r in results if isinstance(r, RedisError)]
        if failures:
            # A command Redis refused (not a lost connection): re-sending would fail the same way.
            self._note_error(failures[0])
            log.error(
                "redis refused %d of %d commands: %s", len(failures), len(commands), failures[0]
            )
        self.sent += len(trades) + len(events) + len(market)
        self.streamed += len(trades)

    def _requeue(self, trades: list[_TradeItem], events: list[_Item]) -> None:
        """Put an unsent batch back in front, in its original order."""
        self._trades.extendleft(reversed(trades))
        self._events.extendleft(reversed(events))
        while len(self._events) > self.config.event_buffer:
            self._events.popleft()
            self.dropped_events += 1
