"""``CoinbaseSimulator``: a loopback Coinbase Advanced Trade market-data venue (WS + REST).

    sim = CoinbaseSimulator(SimulatorConfig(port=0, seed=7))
    await sim.start()
    sim.ws_url      # ws://127.0.0.1:PORT/  (the market-data WebSocket)
    sim.rest_url    # http://127.0.0.1:PORT (/api/v3/brokerage/..., candles too)
    sim.faults.sequence_gap("BTC-USD")
    await sim.stop()

A synthetic market (its own seed and start prices, ``products.py``) steps ``steps_per_second``
times a second. Every ``update_interval`` the simulator sends each product's ``level2`` changes
on ``l2_data``; every ``trades_interval`` (250 ms, as Coinbase batches them) its trades on
``market_trades`` and a ``ticker``; every second a heartbeat to each ``heartbeats`` subscriber.
Every message a connection gets takes the connection's next ``sequence_num``.
``.../products/{id}/candles`` serves the market's bars: ``history_hours`` of simulated past
(OKX's walk with this venue's own deviation, ``desk.sim.history``), then every trade published
(``candles.py``).

A connection that has not subscribed within ``subscribe_timeout`` (5 s) is closed (1008), as is
one that was sent nothing for ``idle_timeout`` (Coinbase closes idle channels within 60-90 s).

For tests the market can be driven by hand: ``pause()``, ``step_market(n)``, ``publish()``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import WSMsgType, web

from desk.core.clock import Clock, LiveClock
from desk.sim.coinbase.candles import Candles
from desk.sim.coinbase.conn import CoinbaseConnection
from desk.sim.coinbase.faults import CoinbaseFaults
from desk.sim.coinbase.products import (
    DEFAULT_PRICE_OFFSET_BPS,
    DEFAULT_PRODUCTS,
    ProductSpec,
    venue_seed,
)
from desk.sim.coinbase.rest import RestApi
from desk.sim.coinbase.streams import Hub, ProductStreams
from desk.sim.coinbase.wire import go_time, message, rfc3339_ns
from desk.sim.coinbase.ws import HEARTBEATS, RequestHandler
from desk.sim.config import SimulatorConfig, catch_up_cap
from desk.sim.fair import SharedFair
from desk.sim.faults import OrderFaults
from desk.sim.history_book import HistoryBook
from desk.sim.loopback import LoopbackSite
from desk.sim.market import FlowParams, SyntheticMarket

__all__ = ["CoinbaseSimulator"]

log = logging.getLogger(__name__)

FAST_TICK = 0.01
TRADES_INTERVAL = 0.25
POLICY_VIOLATION = 1008
NORMAL_CLOSE = 1000


class CoinbaseSimulator:
    """An in-process Coinbase market-data venue: WebSocket, REST, synthetic market, faults."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        products: Iterable[ProductSpec] = DEFAULT_PRODUCTS,
        price_offset_bps: float = DEFAULT_PRICE_OFFSET_BPS,
        trades_interval: float = TRADES_INTERVAL,
        heartbeat_interval: float = 1.0,
        subscribe_timeout: float = 5.0,
        idle_timeout: float = 60.0,
        docs_shape: bool = False,
        max_queue: int = 20_000,
        clock: Clock | None = None,
        flow: FlowParams | None = None,
        fair: SharedFair | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.products = {p.product_id: p for p in products}
        self.trades_interval = trades_interval
        self.heartbeat_interval = heartbeat_interval
        self.subscribe_timeout = subscribe_timeout
        self.idle_timeout = idle_timeout
        self.docs_shape = docs_shape
        self.max_queue = max_queue
        self.clock = clock or LiveClock()
        specs = [
            p.market_spec(price_offset_bps, n) for n, p in enumerate(self.products.values(), 1)
        ]
        seed = venue_seed(self.config.seed)
        # fair: the fair-price walk shared with the other venues (desk.sim.fair)
        self.market = SyntheticMarket(specs, seed=seed, params=flow, shared=fair)
        self.hub = Hub()
        self.streams = {
            pid: ProductStreams(m, self.hub, random.Random(f"{seed}:gap:{pid}"), docs_shape)
            for pid, m in self.market.markets.items()
        }
        self.requests = RequestHandler(self.hub, self.streams, self.timestamp, docs_shape)
        self.faults = CoinbaseFaults(self)
        self.order_faults = OrderFaults()  # no private side; the fault protocol wants one
        self.rest = RestApi(self.products, self.streams, self.now_ns, self.faults.apply)
        self.histories = HistoryBook(self.market, "coinbase", self.config.seed)
        for stream in self.streams.values():
            stream.on_trades = self.histories.add_trades
        specs = {pid: m.spec for pid, m in self.market.markets.items()}
        self.candles = Candles(specs, self.histories, self.now_ms)
        self._conn_ids = random.Random(f"{self.config.seed}:coinbase:conn")
        self._conns: set[CoinbaseConnection] = set()
        self.site = LoopbackSite(self.config.host, self.config.port, "the simulator")
        self._paused = False
        self._origin = 0.0
        self._steps_since_origin = 0
        self._started_at = time.monotonic()
        self.messages_sent = 0
        self.bytes_sent = 0
        self.connections_total = 0

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._ws)
        app.router.add_routes(self.rest.routes())
        app.router.add_routes(self.candles.routes())
        config = self.config
        self.histories.start(self.now_ms(), config.history_hours, config.steps_per_second)
        await self.site.bind(app, shutdown_timeout=1.0)
        self.publish()
        self._origin = asyncio.get_running_loop().time()
        self.site.add_task(self._market_loop(), "coinbase-sim-market")
        self.site.add_task(self._heartbeat_loop(), "coinbase-sim-heartbeats")
        self.site.add_task(self._watchdog_loop(), "coinbase-sim-watchdog")
        log.info("coinbase simulator listening on %s", self.rest_url)

    async def stop(self) -> None:
        await self.site.close(self._conns, "server stopping")

    async def __aenter__(self) -> CoinbaseSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def ws_url(self) -> str:
        return self.site.ws_url("/")

    @property
    def rest_url(self) -> str:
        return self.site.http_url

    def urls(self) -> dict[str, str]:
        return {"ws": self.ws_url, "rest": self.rest_url}

    # ---- driving the market --------------------------------------------------------------

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    def timestamp(self) -> str:
        return rfc3339_ns(self.clock.now_ns())

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop the market; the connections keep running (heartbeats, REST)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._origin = asyncio.get_running_loop().time()
        self._steps_since_origin = 0

    def step_market(self, n: int = 1) -> None:
        """Advance the market ``n`` steps now; the changes go out with the next publish."""
        ts_ms = self.now_ns() // 1_000_000
        for _ in range(n):
            self.market.step(ts_ms)

    def publish(self, books: bool = True, trades: bool = True) -> None:
        """Run one publish cycle now: ``level2`` (if ``books``), trades and tickers."""
        stamp = self.timestamp()
        for stream in self.streams.values():
            if books:
                stream.publish_level2(stamp)
            if trades:
                stream.publish_trades(stamp)

    async def _market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        books_every = self.config.update_interval
        trades_every = self.trades_interval
        tick = min(FAST_TICK, books_every, trades_every)
        next_books = loop.time() + books_every
        next_trades = loop.time() + trades_every
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            self._run_due_steps(now, cap=catch_up_cap(self.config.steps_per_second))
            books, trades = now >= next_books, now >= next_trades
            if books:
                next_books = max(next_books + books_every, now - books_every)
            if trades:
                next_trades = max(next_trades + trades_every, now - trades_every)
            if books or trades:
                try:
                    self.publish(books, trades)
                except Exception:  # a bug must not silence the whole venue
                    log.exception("coinbase simulator publish failed")

    def _run_due_steps(self, now: float, cap: int) -> None:
        if self._paused:
            return
        due = int((now - self._origin) * self.config.steps_per_second) - self._steps_since_origin
        if due > cap:  # fell behind (loop blocked): do not try to catch up forever
            self._origin, self._steps_since_origin, due = now, 0, cap
        self.step_market(due)
        self._steps_since_origin += due

    async def _heartbeat_loop(self) -> None:
        """``{"channel":"heartbeats",...,"events":[{"current_time":"2023-06-23 20:31:56.1219
        +0000 UTC m=+91717.525857105","heartbeat_counter":3049}]}`` to each subscriber."""
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            now = self.now_ns()
            stamp = rfc3339_ns(now)
            current = go_time(now, time.monotonic() - self._started_at)
            for conn in list(self.hub.subscribers((HEARTBEATS, ""))):
                conn.heartbeat_counter += 1
                count = conn.heartbeat_counter
                event = {
                    "current_time": current,
                    "heartbeat_counter": str(count) if self.docs_shape else count,
                }
                conn.send_message(message(HEARTBEATS, stamp, [event], self.docs_shape))

    async def _watchdog_loop(self) -> None:
        """Close connections that never subscribed in time, or were sent nothing for long."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(0.5, self.subscribe_timeout / 4))
            now = loop.time()
            for conn in self.open_connections():
                if conn.stalled:
                    continue
                if not conn.ever_subscribed and now - conn.opened_at > self.subscribe_timeout:
                    conn.close_soon(POLICY_VIOLATION, "no subscribe within 5 s of connecting")
                elif now - conn.last_activity > self.idle_timeout:
                    conn.close_soon(NORMAL_CLOSE, "idle")

    # ---- connections ---------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 16)
        transport = request.transport
        await ws.prepare(request)
        conn = CoinbaseConnection(
            ws, transport, self._new_conn_id(), "public", self.max_queue, self._count_sent
        )
        self._conns.add(conn)
        self.connections_total += 1
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self.requests.handle(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self.requests.handle(conn, msg.data.decode("utf-8", "replace"))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            for key in conn.subscriptions:
                self.hub.discard(key, conn)
            await conn.finished()
        return ws

    def _new_conn_id(self) -> str:
        return f"{self._conn_ids.getrandbits(32):08x}"

    def _count_sent(self, frames: int, size: int) -> None:
        self.messages_sent += frames
        self.bytes_sent += size

    def open_connections(self) -> list[CoinbaseConnection]:
        return [c for c in self._conns if not c.closing]

    # ---- introspection -------------------------------------------------------------------

    @property
    def connections(self) -> int:
        return len(self._conns)

    def published_book(self, product_id: str) -> tuple[list[tuple[str, str]], ...]:
        """(bids desc, asks asc) as (price, size) strings: the book as of the last ``level2``."""
        return self.streams[product_id].book.raw()

    def published_trades(self, product_id: str) -> list[dict[str, Any]]:
        """Every trade entry sent so far (the last 10,000), oldest first."""
        return self.streams[product_id].published_trades()

    def stats(self) -> dict[str, Any]:
        return {
            "messages_sent": self.messages_sent,
            "bytes_sent": self.bytes_sent,
            "messages": dict(self.hub.messages),
            "connections": self.connections,
            "connections_total": self.connections_total,
            "market_steps": self.market.steps,
            "faults": dict(self.faults.injected),
        }
