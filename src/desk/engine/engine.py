"""The engine: builds feeds, books, candles and storage from a config and runs them headless.

Nothing here knows about a terminal. The hot path (feed message -> book -> candles) is direct
calls through the synchronous bus; SQLite hangs off it as a write-behind store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from desk.config import DeskConfig
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import Clock, LiveClock
from desk.core.enums import Severity
from desk.core.events import Candle, SystemEvent, Trade
from desk.engine.bot_board import BotBoard
from desk.engine.commands import CommandHandler
from desk.engine.health import LoopLagMonitor, ProcessProbe
from desk.engine.indicator_board import IndicatorBoard
from desk.engine.instruments import InstrumentRegistry
from desk.engine.status import format_status
from desk.execution.service import ExecutionService
from desk.feeds.manager import FeedManager
from desk.market.candles import CandleAggregator
from desk.market.instruments import Instrument
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig
from desk.signals.order_sink import OrderSink, PaperSink, UnavailableSink
from desk.sim.accounts import SIM_CREDENTIALS
from desk.storage.sqlite import SqliteStore

log = logging.getLogger("desk.engine")

CANDLE_CLOCK_INTERVAL = 0.25


class Engine:
    """Owns every headless component of one desk and their start/stop order."""

    def __init__(self, config: DeskConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or LiveClock()
        self.bus = Bus()
        self.store = SqliteStore(config.storage, report=self._publish_system_event)
        self.simulator: Any = None
        self.feeds: FeedManager | None = None
        self.candles: dict[str, CandleAggregator] = {}
        self.loop_lag = LoopLagMonitor()
        self.process = ProcessProbe()
        self.candles_closed = 0
        self.started_ns = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._status_listeners: list[Callable[[str], None]] = []
        trading = config.trading
        self.bot_board = BotBoard(self.bus)
        self.indicators = IndicatorBoard(
            self.bus, trading.symbols, trading.timeframes, self._book_imbalance
        )
        self.instruments: dict[str, Instrument] = {}
        self.instrument_registry: InstrumentRegistry | None = None
        self.execution: ExecutionService | None = None
        self.execution_error = ""
        self.sink: OrderSink = PaperSink()
        self.bots = BotManager(self.bus, self.store, self.sink, self.clock)
        self.bots.book = self._order_book  # model bots read the book's top levels at each close
        self.commands = CommandHandler(self)
        self.redis_link: Any = None  # a RedisLink while config.redis.enabled (start_redis_link)
        self.gateway: Any = None  # a Gateway while config.gateway.enabled (start_gateway)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open storage, start the simulator if configured, then the feeds and timers."""
        self.started_ns = time.time_ns()
        await self.start_gateway()
        await self.store.open()
        self.bus.subscribe(topics.SYSTEM_EVENTS, self.store.record_system_event)
        await self.start_redis_link()
        if self.config.simulator.enabled:
            await self._start_simulator()
        self._wire_candles()
        await self._load_instruments()
        await self._start_bots()
        await self._start_execution()
        self.feeds = FeedManager(
            self.config.exchanges.okx,
            self.config.trading.symbols,
            self.config.trading.channels,
            self.bus,
        )
        await self.feeds.start()
        self.bus.start_async_subscribers()
        self.loop_lag.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._candle_clock(), name="candle-clock"))
        self._tasks.append(loop.create_task(self._status_loop(), name="status-line"))
        self.emit("engine", "started", f"engine started in {self.config.system.mode} mode")

    async def _start_simulator(self) -> None:
        from desk.sim.okx.simulator import (
            OkxSimulator,  # only a sim run pays for importing the simulator
        )

        self.simulator = OkxSimulator(
            self.config.simulator, firehose=self.config.simulator.firehose
        )
        await self.simulator.start()
        okx = msgspec.structs.replace(
            self.config.exchanges.okx,
            ws_public_url=self.simulator.ws_public_url,
            ws_business_url=self.simulator.ws_business_url,
            ws_private_url=self.simulator.ws_private_url,
            rest_url=self.simulator.rest_url,
        )
        exchanges = msgspec.structs.replace(self.config.exchanges, okx=okx)
        self.config = msgspec.structs.replace(self.config, exchanges=exchanges)
        self.emit("simulator", "started", f"simulator listening at {self.simulator.rest_url}")

    async def _load_instruments(self) -> None:
        """The instrument rules: from the venue, else the SQLite cache; refreshed daily."""
        self.instrument_registry = InstrumentRegistry(
            self.config.trading.symbols,
            self.config.exchanges.okx.rest_url,
            self.store,
            self.emit,
        )
        self.instruments = self.instrument_registry.by_symbol
        await self.instrument_registry.load()
        self.instrument_registry.start()

    async def _start_bots(self) -> None:
        """Bring stored bots back as they were, then add config bots that are new (running).

        A bot's stored state wins over the config: a bot the operator stopped stays stopped.
        """
        restored = await self.bots.restore()
        known = {status.bot_id for status in self.bots.statuses()}
        for config in self.config.bots:
            if config.bot_id in known:
                continue
            self.bots.add_bot(config, actor="config")
            try:
                self.bots.start_bot(config.bot_id, actor="config")
            except ValueError as exc:  # a model that will not load: the bot stays stopped
                self.emit("bots", "start_failed", str(exc), Severity.ERROR)
        if restored:
            self.emit("bots", "restored", f"restored bots: {', '.join(restored)}")

    async def _start_execution(self) -> None:
        """Risk, OMS and venue; bots trade through them. A venue that cannot be reached is
        reported and bots' orders are refused; market data keeps running."""
        execution = ExecutionService(
            self.config.execution,
            self.bus,
            self.store,
            self.clock,
            mode=self.config.system.mode,
            symbols=self.config.trading.symbols,
            okx=self.config.exchanges.okx,
            book=lambda symbol: self.feeds.book(symbol) if self.feeds is not None else None,
            instruments=self.instruments,
            atr=lambda symbol, timeframe: self.indicators.value(symbol, timeframe, "atr_14"),
            sim_credentials=SIM_CREDENTIALS,
        )
        try:
            await execution.start()
        except Exception as exc:
            self.execution_error = f"{type(exc).__name__}: {exc}"
            log.error("execution unavailable: %s", self.execution_error)
            self.emit("execution", "error", f"execution unavailable: {exc}", Severity.ERROR)
            self.sink = UnavailableSink(self.execution_error)
            self.bots.sink = self.sink
            with contextlib.suppress(Exception):
                await execution.stop()
            return
        self.execution = execution
        self.sink = execution.sink
        self.bots.sink = execution.sink
        self.emit("execution", "started", f"execution on {execution.client.name}")

    async def start_redis_link(self, **options: Any) -> None:
        """With ``redis.enabled``: link to Redis (views, pub/sub, commands; never fatal).

        Split roles pass ``options`` (which views, whether to take commands) to the link.
        """
        if not self.config.redis.enabled or self.redis_link is not None:
            return
        from desk.engine.redis_link import RedisLink

        self.redis_link = RedisLink(self, **options)
        await self.redis_link.start()

    async def start_gateway(self) -> None:
        """With ``gateway.enabled``: the WebSocket routes and /metrics (desk.gateway).

        First thing at start: a gateway that must not run as configured (no token while
        listening beyond loopback) or cannot bind raises ``GatewayRefused`` before anything
        else has started.
        """
        if not self.config.gateway.enabled or self.gateway is not None:
            return
        from desk.engine.views import EngineViews
        from desk.gateway.server import Gateway

        gateway = Gateway(self.config.gateway, self, EngineViews(self))
        await gateway.start()
        self.gateway = gateway
        self.emit("gateway", "started", f"gateway listening on {gateway.url}")

    def check_bot(self, config: BotConfig) -> None:
        """ValueError unless the bot trades a configured symbol and timeframe."""
        trading = self.config.trading
        if config.symbol not in trading.symbols:
            raise ValueError(
                f"symbol {config.symbol!r} is not traded here ({', '.join(trading.symbols)})"
            )
        if config.timeframe not in trading.timeframes:
            raise ValueError(
                f"timeframe {config.timeframe!r} is not configured "
                f"({', '.join(trading.timeframes)})"
            )

    def bot_pnl(self, bot_id: str) -> float:
        """The bot's PnL as execution sees it (0 where the sink keeps none)."""
        pnl = getattr(self.sink, "pnl", None)
        return float(pnl(bot_id)) if pnl is not None else 0.0

    def _order_book(self, symbol: str) -> Any:
        return self.feeds.book(symbol) if self.feeds is not None else None

    def _book_imbalance(self, symbol: str) -> float:
        book = self.feeds.book(symbol) if self.feeds is not None else None
        if book is None:
            return float("nan")
        return book.imbalance(10)

    def _wire_candles(self) -> None:
        candles = self.config.candles
        for symbol in self.config.trading.symbols:
            aggregator = CandleAggregator(
                "okx",
                symbol,
                self.config.trading.timeframes,
                self.clock if candles.clock == "wall" else None,  # None: the data's own time
                self._on_candle,
                max_fill_bars=candles.max_fill_bars,
                on_gap=lambda text: self.emit("candles", "candle_gap", text, Severity.WARNING),
            )
            self.candles[symbol] = aggregator
            self.bus.subscribe(topics.market_data(symbol), _trade_feeder(aggregator))

    def _on_candle(self, candle: Candle) -> None:
        self.candles_closed += 1
        self.store.record_candle(candle)
        self.bus.publish(topics.market_data(candle.symbol), candle)

    async def _candle_clock(self) -> None:
        """Close candles on clock time even when no trade arrives."""
        while True:
            await asyncio.sleep(CANDLE_CLOCK_INTERVAL)
            for aggregator in self.candles.values():
                aggregator.on_clock()

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.system.status_interval)
            line = self.status_line()
            log.info("%s", line)
            for listener in self._status_listeners:
                listener(line)

    def status_line(self) -> str:
        return format_status(self)

    def on_status(self, listener: Callable[[str], None]) -> None:
        self._status_listeners.append(listener)

    def _publish_system_event(self, event: SystemEvent) -> None:
        self.bus.publish(topics.SYSTEM_EVENTS, event)

    def emit(
        self, source: str, kind: str, message: str, severity: Severity = Severity.INFO
    ) -> None:
        now = time.time_ns()
        event = SystemEvent(
            ts_exchange=0,
            ts_recv=now,
            source=source,
            kind=kind,
            message=message,
            severity=severity,
        )
        self.bus.publish(topics.SYSTEM_EVENTS, event)

    async def stop(self) -> None:
        """Stop feeds first (no new data), then timers, then flush storage; idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.gateway is not None:
            await self.gateway.stop()
        if self.feeds is not None:
            await self.feeds.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self.bots.close()
        if self.instrument_registry is not None:
            await self.instrument_registry.stop()
        if self.execution is not None:
            await self.execution.stop()
        await self.loop_lag.stop()
        self.emit("engine", "stopped", "engine stopped")
        if self.redis_link is not None:
            await self.redis_link.stop()
        await self.bus.stop()
        await self.store.close()
        if self.simulator is not None:
            await self.simulator.stop()

    async def run(self, duration: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Start, run until ``duration`` passes or ``stop`` is set, then stop cleanly."""
        stop = stop or asyncio.Event()
        await self.start()
        try:
            if duration is None:
                await stop.wait()
            else:
                try:
                    await asyncio.wait_for(stop.wait(), duration)
                except TimeoutError:
                    pass
        finally:
            await self.stop()


def _trade_feeder(aggregator: CandleAggregator) -> Callable[[Any], None]:
    """A market-data subscriber that passes trades to one symbol's candle aggregator."""
    on_trade = aggregator.on_trade

    def feed(event: Any) -> None:
        if type(event) is Trade:
            on_trade(event.ts_exchange, event.price, event.size)

    return feed
