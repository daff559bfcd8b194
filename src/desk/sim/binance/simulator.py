"""``BinanceSimulator``: a loopback Binance Spot (stream WebSockets + REST on one aiohttp port).

    sim = BinanceSimulator(SimulatorConfig(port=0, seed=7))
    await sim.start()
    sim.ws_url      # ws://127.0.0.1:PORT   (/ws/<stream>, /stream?streams=a/b, live SUBSCRIBE)
    sim.rest_url    # http://127.0.0.1:PORT (/api/v3/depth, /api/v3/exchangeInfo, /api/v3/klines...)
    sim.faults.sequence_gap("BTCUSDT")
    await sim.stop()

A synthetic market of its own (seeded from ``config.seed`` and the venue, prices
``price_offset_bps`` off the other venues') steps ``steps_per_second`` times a second. Every
10 ms (every step in firehose mode) the simulator pushes trades and ``bookTicker``; every
``update_interval`` (0.1 s by default) ``<s>@depth@100ms`` and the ``@100ms`` partial books; ten
times slower ``<s>@depth`` and the other partial books; every second (of the loop's clock, in
firehose mode too) ``<s>@miniTicker``. ``/api/v3/klines`` serves the market's bars:
``history_hours`` of simulated past (OKX's walk with this venue's own deviation,
``desk.sim.history``), then every trade published (``klines.py``); ``miniTicker``'s rolling 24 h
figures come from the same bars (``day_stats.py``).

Keepalive and limits as on Binance (PROTOCOLS.md B.1): a ping frame every ``ping_interval``
(20 s) whose pong must come within ``pong_timeout`` (60 s) or the connection is closed; more than
``max_incoming_per_s`` incoming frames a second (pings and pongs included) close it; after
``max_connection_age`` (24 h) the server sends ``serverShutdown`` and closes ``shutdown_grace``
seconds later.

For tests the market can be driven by hand: ``pause()``, ``step_market(n)``, ``publish()``, and
``synthetic_take(symbol, side, size)`` sends one market order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from functools import partial
from typing import Any

from desk.core.clock import NS_PER_MS, Clock, LiveClock
from desk.core.enums import Side
from desk.sim.binance.day_stats import Window, day_window
from desk.sim.binance.faults import BinanceFaults
from desk.sim.binance.klines import Klines
from desk.sim.binance.listings import Listing, default_listings, venue_seed
from desk.sim.binance.rest import RestApi
from desk.sim.binance.server import StreamServer
from desk.sim.binance.streams import FAST, SLOW, Hub, SymbolStreams
from desk.sim.config import SimulatorConfig, catch_up_cap
from desk.sim.fair import SharedFair
from desk.sim.faults import OrderFaults
from desk.sim.history_book import HistoryBook
from desk.sim.market import TAKER, FlowParams, SyntheticMarket

log = logging.getLogger(__name__)

FAST_TICK = 0.01
SLOW_EVERY = 10  # the 1000 ms streams publish every tenth 100 ms cycle
MINI_TICKER_S = 1.0  # <s>@miniTicker: every 1000 ms


class Cadence:
    """A push due every ``period`` seconds of a loop's clock, on a fixed grid from ``start``;
    after a stall of a period or more, one push and the grid restarts from then (no burst of
    catch-up pushes)."""

    __slots__ = ("next", "period")

    def __init__(self, start: float, period: float) -> None:
        self.period = period
        self.next = start + period

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        self.next += self.period
        if self.next <= now:
            self.next = now + self.period
        return True


class BinanceSimulator(StreamServer):
    """An in-process Binance Spot: stream WebSockets, REST, a synthetic market and faults."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        listings: Iterable[Listing] | None = None,
        price_offset_bps: float = 2.0,
        ping_interval: float = 20.0,
        pong_timeout: float = 60.0,
        max_connection_age: float = 86_400.0,
        shutdown_grace: float = 3.0,
        max_incoming_per_s: int = 5,
        max_streams: int = 1024,
        max_queue: int = 20_000,
        firehose: bool = False,
        clock: Clock | None = None,
        flow: FlowParams | None = None,
        fair: SharedFair | None = None,
    ) -> None:
        config = config or SimulatorConfig()
        chosen = tuple(listings) if listings is not None else default_listings(price_offset_bps)
        self.market = SyntheticMarket(
            (listing.spec for listing in chosen),
            seed=venue_seed(config.seed),
            params=flow,
            shared=fair,  # the fair-price walk shared with the other venues (desk.sim.fair)
        )
        self.hub = Hub()
        self.streams = {
            listing.native: SymbolStreams(
                listing, self.market.markets[listing.spec.inst_id], self.hub, config.seed
            )
            for listing in chosen
        }
        super().__init__(
            config,
            self.hub,
            {s.name for s in self.streams.values()},
            conn_ids=random.Random(f"{config.seed}:binance:conn"),
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            max_connection_age=max_connection_age,
            shutdown_grace=shutdown_grace,
            max_incoming_per_s=max_incoming_per_s,
            max_streams=max_streams,
            max_queue=max_queue,
        )
        self.firehose = firehose
        self.clock = clock or LiveClock()
        self.faults = BinanceFaults(self)
        self.order_faults = OrderFaults()  # no order entry yet; the fault target wants one
        self.rest = RestApi(self.streams, self.now_ms, self.faults.apply)
        self.histories = HistoryBook(self.market, "binance", config.seed)
        for stream in self.streams.values():
            stream.on_trades = self.histories.add_trades
            stream.day_window = partial(self._day_window, stream.listing.spec.inst_id)
        self.klines = Klines(self.streams, self.histories, self.now_ms)
        self._paused = False
        self._origin = 0.0
        self._steps_since_origin = 0
        self._cycles = 0
        self._mini = Cadence(0.0, MINI_TICKER_S)

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        self.histories.start(self.now_ms(), config.history_hours, config.steps_per_second)
        await self.start_server(self.rest.routes() + self.klines.routes())
        loop = asyncio.get_running_loop()
        self._origin = loop.time()
        self._mini = Cadence(self._origin, MINI_TICKER_S)
        self.publish()
        market = self._firehose_loop if self.firehose else self._market_loop
        self.add_task(market(), "binance-sim-market")
        log.info("binance simulator listening on %s", self.rest_url)

    async def stop(self) -> None:
        await self.stop_server()

    async def __aenter__(self) -> BinanceSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- driving the market --------------------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ns() // NS_PER_MS

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop the market; streams keep running (pings, replies, REST)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._origin = asyncio.get_running_loop().time()
        self._steps_since_origin = 0

    def step_market(self, n: int = 1) -> None:
        """Advance the market ``n`` steps now; the changes go out with the next publish."""
        ts = self.now_ms()
        for _ in range(n):
            self.market.step(ts)

    def synthetic_take(self, symbol: str, side: Side | str, size: str) -> None:
        """Send one market order of ``size`` (base asset) on ``symbol`` (``BTCUSDT``) now."""
        market = self.streams[symbol].market
        lots = market.spec.lot.units(size)
        market.record(market.engine.submit_market(Side(side), lots, TAKER), self.now_ms())

    def publish(self, depth: bool = True, slow: bool = True, mini: bool | None = None) -> None:
        """Run one publish cycle now: trades and tickers, and the diff depth if ``depth``
        (the 1000 ms streams too if ``slow``); ``miniTicker`` if ``mini`` (by default with the
        1000 ms streams; the loops time it apart)."""
        ts = self.now_ms()
        with_mini = depth and slow if mini is None else mini
        for stream in self.streams.values():
            stream.collect()
            stream.publish_fast(ts)
            if depth:
                stream.publish_depth(FAST, ts)
                stream.publish_partial(FAST)
            if depth and slow:
                stream.publish_depth(SLOW, ts)
                stream.publish_partial(SLOW)
        if with_mini:  # last: nothing of it can hold up the other streams
            for stream in self.streams.values():
                stream.publish_mini_ticker(ts)

    async def _market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.update_interval
        next_depth = loop.time() + interval
        while True:
            await asyncio.sleep(min(FAST_TICK, interval))
            now = loop.time()
            self._run_due_steps(now, cap=catch_up_cap(self.config.steps_per_second))
            due = now >= next_depth
            if due:
                next_depth = max(next_depth + interval, now - interval)
                self._cycles += 1
            self._safe_publish(due, due and self._cycles % SLOW_EVERY == 0, self._mini.due(now))

    async def _firehose_loop(self) -> None:
        """Publish after every single step (at ``steps_per_second`` or as fast as the CPU can)."""
        loop = asyncio.get_running_loop()
        idle = min(FAST_TICK, 1 / self.config.steps_per_second)
        while True:
            if self._paused:
                self._safe_publish(True, True, self._mini.due(loop.time()))
                await asyncio.sleep(FAST_TICK)
            elif self._due_steps(loop.time(), cap=1000) > 0:
                self.step_market()
                self._steps_since_origin += 1
                self._cycles += 1
                mini = self._mini.due(loop.time())
                self._safe_publish(True, self._cycles % SLOW_EVERY == 0, mini)
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(idle)

    def _due_steps(self, now: float, cap: int) -> int:
        due = int((now - self._origin) * self.config.steps_per_second) - self._steps_since_origin
        if due > cap:  # fell behind (loop blocked): do not try to catch up forever
            self._origin, self._steps_since_origin = now, 0
            return cap
        return due

    def _run_due_steps(self, now: float, cap: int) -> None:
        if self._paused:
            return
        due = self._due_steps(now, cap)
        self.step_market(due)
        self._steps_since_origin += due

    def _day_window(self, inst_id: str, now_ms: int) -> Window:
        return day_window(self.histories.get(inst_id, now_ms), now_ms)

    def _safe_publish(self, depth: bool, slow: bool, mini: bool) -> None:
        try:
            self.publish(depth, slow, mini)
        except Exception:  # a bug must not silence the whole exchange
            log.exception("binance simulator publish failed")

    # ---- introspection -------------------------------------------------------------------

    def book(self, symbol: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(bids desc, asks asc) of ``symbol``'s current book as (price, qty) strings."""
        stream = self.streams[symbol]
        stream.collect()
        return stream.book()

    def last_update_id(self, symbol: str) -> int:
        """The update id the current book of ``symbol`` is at (REST ``lastUpdateId``)."""
        stream = self.streams[symbol]
        stream.collect()
        return stream.update_id

    def published_trades(self, symbol: str) -> list[dict[str, Any]]:
        """``{"t","p","q","m"}`` of every ``trade`` so far (the last 10,000), oldest first."""
        return list(self.streams[symbol].trades)

    def stats(self) -> dict[str, Any]:
        return {
            **self.server_stats(),
            "pushes": dict(self.hub.pushes),
            "market_steps": self.market.steps,
            "depth_requests": self.rest.depth_requests,
            "faults": dict(self.faults.injected),
        }
