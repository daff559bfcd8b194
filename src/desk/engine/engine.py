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

from desk.config import ConfigError, DeskConfig
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import Clock, DataClock, LiveClock
from desk.core.enums import Severity
from desk.core.events import Candle, SystemEvent
from desk.engine.backfill import backfill_candles
from desk.engine.bot_board import BotBoard
from desk.engine.commands import CommandHandler
from desk.engine.cross_venue_board import board_for
from desk.engine.gc_policy import POLICY, collect_every
from desk.engine.health import LoopLagMonitor, ProcessProbe
from desk.engine.indicator_board import IndicatorBoard
from desk.engine.instruments import InstrumentRegistry
from desk.engine.status import format_status
from desk.engine.venues import (
    build_feeds,
    load_instruments,
    start_simulators,
    trade_feeder,
    wire_candles,
)
from desk.execution.service import ExecutionService
from desk.feeds.manager import FeedManager
from desk.market.candles import CandleAggregator
from desk.market.instruments import Instrument, InstrumentReferential
from desk.signals.activation import ActivationWatch
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig
from desk.signals.order_sink import OrderSink, PaperSink, UnavailableSink
from desk.signals.spread_watcher import SpreadWatcher
from desk.sim.accounts import SIM_CREDENTIALS
from desk.storage.sqlite import SqliteStore

log = logging.getLogger("desk.engine")

CANDLE_CLOCK_INTERVAL = 0.25


class Engine:
    """Owns every headless component of one desk and their start/stop order."""

    def __init__(self, config: DeskConfig, clock: Clock | None = None) -> None:
        self.config = config
        # A replay runs on the data's own time (``candles.clock: data``), live on the wall's.
        self.clock = clock or (DataClock() if config.candles.clock == "data" else LiveClock())
        self.bus = Bus()
        if isinstance(self.clock, DataClock):  # the first subscriber: moved before anyone reads
            for symbol in config.all_symbols:
                self.bus.subscribe(topics.market_data(symbol), self.clock.observe)
        self.store = SqliteStore(config.storage, report=self._publish_system_event)
        self.simulator: Any = None  # OKX's; every venue's: simulators (sim_server's)
        self.sim_server: Any = None
        self.simulators: dict[str, Any] = {}
        self.replay: Any = None  # a ReplayServer while config.replay.enabled (desk --replay)
        self.venue_replays: Any = None  # VenueReplays (Binance, Coinbase) in a replay
        self.feeds: FeedManager | None = None
        self.candles: dict[str, CandleAggregator] = {}  # OKX's by symbol
        self.venue_candles: dict[tuple[str, str], CandleAggregator] = {}  # all, by (venue, symbol)
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
        self.instrument_registry: InstrumentRegistry | None = None  # OKX's
        self.instrument_registries: dict[str, InstrumentRegistry] = {}  # every venue's
        self.venue_instruments: dict[str, dict[str, Instrument]] = {}
        self.referential = InstrumentReferential()  # (venue, native symbol) -> rules
        self.execution: ExecutionService | None = None
        self.execution_error = ""
        self.sink: OrderSink = PaperSink()
        self.bots = BotManager(self.bus, self.store, self.sink, self.clock)
        self.bots.book = self._order_book  # model bots read the book's top levels at each close
        self.bots.activation = ActivationWatch(self.bus, self._order_book, self.indicators.values)
        self.commands = CommandHandler(self)
        self.cross_venue = board_for(self)  # tops and spreads across venues, for the UI
        spread = config.watchers.spread  # the spread watcher: alerts and signals, never trades
        symbols = config.all_symbols
        self.spread_watcher = SpreadWatcher(spread, self.bus, self.store, symbols=symbols)
        if spread.enabled:
            self.spread_watcher.start()
        self.redis_link: Any = None  # a RedisLink while config.redis.enabled (start_redis_link)
        self.gateway: Any = None  # a Gateway while config.gateway.enabled (start_gateway)
        self.recorder: Any = None  # a Recorder while config.recorder.enabled (start_recorder)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open storage, start the simulator if configured, then the feeds and timers."""
        self.started_ns = time.time_ns()
        await self.start_gateway()
        await self.store.open()
        self.bus.subscribe(topics.SYSTEM_EVENTS, self.store.record_system_event)
        await self.start_recorder()
        await self.start_redis_link()
        if self.config.replay.enabled:
            await self._start_replay()
        try:
            if not self.config.replay.enabled and self.config.simulator.enabled:
                await self._start_simulator()
            self._wire_candles()
            await self._load_instruments()
        except ConfigError:  # a venue does not list a configured symbol: nothing starts
            await self.stop()
            raise
        await self._start_bots()
        await self._start_execution()
        await backfill_candles(self)  # charts, indicators and bots' warm-up get history
        self.feeds = build_feeds(self.config, self.bus)
        if self.replay is not None:
            self._lockstep_replay()
        if self.recorder is not None:
            self.recorder.tap(self.feeds.feeds)
        await self.feeds.start()
        self.bus.start_async_subscribers()
        self.loop_lag.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._candle_clock(), name="candle-clock"))
        self._tasks.append(loop.create_task(self._status_loop(), name="status-line"))
        self.emit("engine", "started", f"engine started in {self.config.system.mode} mode")

    async def _start_simulator(self) -> None:
        """One simulator per enabled venue; those venues' URLs pointed at them."""
        self.sim_server, self.config = await start_simulators(self.config)
        self.simulator = self.sim_server.okx
        self.simulators = self.sim_server.simulators
        where = ", ".join(f"{v} {sim.rest_url}" for v, sim in self.simulators.items())
        self.emit("simulator", "started", f"simulator listening at {where}")

    async def _load_instruments(self) -> None:
        """Every venue's rules (``desk.engine.venues.load_instruments``)."""
        await load_instruments(self)

    async def _start_replay(self) -> None:
        """``desk --replay PATH``: serve the recording as OKX and point the feeds at it."""
        from desk.sim.replay.server import ReplayServer

        self.replay = ReplayServer(self.config.replay)
        await self.replay.start()  # RecordingError (a ValueError) when the path is unusable
        for path, why in self.replay.timeline.skipped:
            self.emit("replay", "skipped_file", f"skipped {path}: {why}", Severity.WARNING)
        self.replay.finished_listeners.append(
            lambda n: self.emit("replay", "finished", f"replay finished: {n} frames played")
        )
        okx = msgspec.structs.replace(
            self.config.exchanges.okx,
            ws_public_url=self.replay.ws_public_url,
            ws_business_url=self.replay.ws_business_url,
            rest_url=self.replay.rest_url,
        )
        exchanges = msgspec.structs.replace(self.config.exchanges, okx=okx)
        exchanges = await self._start_venue_replays(exchanges)
        self.config = msgspec.structs.replace(self.config, exchanges=exchanges)
        self.emit("replay", "started", f"replaying {self.config.replay.path}")

    async def _start_venue_replays(self, exchanges: Any) -> Any:
        """Binance and Coinbase, when enabled (``with_replay``: recorded), on their own replay
        servers; ``exchanges`` with their URLs pointed there."""
        from desk.sim.replay.venues import OTHER_VENUES, VenueReplays

        enabled = tuple(v for v in OTHER_VENUES if getattr(exchanges, v).enabled)
        self.venue_replays = VenueReplays(self.config.replay, enabled)
        for venue, urls in (await self.venue_replays.start()).items():
            section = getattr(exchanges, venue)
            section = msgspec.structs.replace(section, ws_url=urls["ws"], rest_url=urls["rest"])
            exchanges = msgspec.structs.replace(exchanges, **{venue: section})
        self.venue_replays.finished_listeners.append(
            lambda v, n: self.emit("replay", "finished", f"{v} replay finished: {n} frames played")
        )
        return exchanges

    def _lockstep_replay(self) -> None:
        """Hold each feed's next frame while orders are on their way to the paper venue, so a
        replay fills at the book of the frame that caused the order, however fast it runs."""
        execution = self.execution

        def busy() -> bool:
            if execution is None:
                return False
            return bool(execution.oms._tasks) or bool(getattr(execution.client, "_outbox", ()))

        for feed in self.feeds.feeds if self.feeds is not None else ():
            connection = getattr(feed, "connection", None)
            if connection is not None:
                connection.hold = busy

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
            venue_books={v: self._venue_book(v) for v in self.config.exchanges.venues[1:]},
            venue_instruments=self.venue_instruments,
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
        self.bots.orders = execution.submit  # strategies placing their own orders (arbitrage)
        self.emit("execution", "started", f"execution on {execution.label}")

    async def start_redis_link(self, **options: Any) -> None:
        """With ``redis.enabled``: link to Redis (views, pub/sub, commands; never fatal).

        Split roles pass ``options`` (which views, whether to take commands) to the link.
        """
        if not self.config.redis.enabled or self.redis_link is not None:
            return
        from desk.engine.redis_link import RedisLink

        self.redis_link = RedisLink(self, **options)
        await self.redis_link.start()

    async def start_recorder(self) -> None:
        """With ``recorder.enabled``: record market data to parquet (desk.storage.recording);
        ``recorder.tap(feeds)`` then taps the feeds' frames before they start."""
        if not self.config.recorder.enabled or self.recorder is not None:
            return
        if self.config.replay.enabled:  # never record a replay into what it plays
            return
        from desk.storage.recording.recorder import Recorder

        self.recorder = Recorder(
            self.config.recorder,
            report=lambda kind, text, severity: self.emit("recorder", kind, text, severity),
        )
        self.recorder.attach(self.bus)
        await self.recorder.start()

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

    def _venue_book(self, venue: str) -> Callable[[str], Any]:
        return lambda symbol: self.feeds.book(symbol, venue) if self.feeds is not None else None

    def _order_book(self, symbol: str) -> Any:
        return self.feeds.book(symbol) if self.feeds is not None else None

    def _book_imbalance(self, symbol: str) -> float:
        book = self.feeds.book(symbol) if self.feeds is not None else None
        if book is None:
            return float("nan")
        return book.imbalance(10)

    def _wire_candles(self) -> None:
        """One aggregator per (venue, symbol, timeframe), each fed by its venue's trades."""
        self.venue_candles = wire_candles(
            self.config,
            self.bus,
            self.clock,
            self._on_candle,
            lambda text: self.emit("candles", "candle_gap", text, Severity.WARNING),
        )
        self.candles = {s: a for (v, s), a in self.venue_candles.items() if v == "okx"}

    def _on_candle(self, candle: Candle) -> None:
        """Bots see the closed candle first: its SQLite row is queued after (off their path)."""
        self.candles_closed += 1
        self.bus.publish(topics.market_data(candle.symbol), candle)
        self.store.record_candle(candle)

    async def _candle_clock(self) -> None:
        """Close candles on clock time even when no trade arrives."""
        while True:
            await asyncio.sleep(CANDLE_CLOCK_INTERVAL)
            for aggregator in self.venue_candles.values():
                aggregator.on_clock()
            if self.config.watchers.spread.enabled:  # alerts also when no quote comes
                self.spread_watcher.check(self.clock.now_ns())

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
        if self.recorder is not None:
            await self.recorder.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self.bots.close()
        for registry in self.instrument_registries.values():
            await registry.stop()
        if self.execution is not None:
            await self.execution.stop()
        await self.loop_lag.stop()
        self.emit("engine", "stopped", "engine stopped")
        if self.redis_link is not None:
            await self.redis_link.stop()
        await self.bus.stop()
        await self.store.close()
        if self.sim_server is not None:
            await self.sim_server.stop()
        elif self.simulator is not None:
            await self.simulator.stop()
        if self.replay is not None:
            await self.replay.stop()
        if self.venue_replays is not None:
            await self.venue_replays.stop()

    async def run(
        self,
        duration: float | None = None,
        stop: asyncio.Event | None = None,
        *,
        gc_policy: bool = True,
    ) -> None:
        """Start, run until ``duration`` passes or ``stop`` is set, then stop cleanly.

        ``gc_policy``: once started, the engine takes the garbage collector's schedule over as
        the App does (engine/gc_policy.py: start-up objects frozen, collections from a 10 Hz
        timer between turns of the loop instead of every 700 new objects, wherever they fall).
        The App runs the engine through start/stop and collects after its frames instead.
        """
        stop = stop or asyncio.Event()
        await self.start()
        collector: asyncio.Task[None] | None = None
        if gc_policy:
            POLICY.start()
            collector = asyncio.get_running_loop().create_task(
                collect_every(), name="desk-gc-policy"
            )
        try:
            if duration is None:
                await stop.wait()
            else:
                try:
                    await asyncio.wait_for(stop.wait(), duration)
                except TimeoutError:
                    pass
        finally:
            if collector is not None:
                collector.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collector
            try:
                await self.stop()
            finally:
                if gc_policy:
                    POLICY.stop()


_trade_feeder = trade_feeder  # its name before venues
