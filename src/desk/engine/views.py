"""The EngineClient views of an engine in this process, built from live objects on demand.

:class:`EngineViews` is what :class:`~desk.clients.inprocess.InProcessClient` shows a local UI
and what :class:`~desk.engine.redis_link.RedisLink` writes to Redis for attached ones.

Each view is cached by the version of the state it came from, so a UI polling at 10 Hz over an
unchanged symbol costs a dict lookup, and the engine never does per-tick work for the UI.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import msgspec

from desk.bridge.views import (
    BookView,
    BotDetailView,
    BotsView,
    BotView,
    CandlesView,
    CandleView,
    ConnectionHealth,
    EventView,
    HealthView,
    IndicatorsView,
    InstrumentView,
    LevelView,
    ModelsView,
    ModelView,
    QueueHealth,
    SignalsView,
    StrategyInfo,
    TapeView,
    TickersView,
    TickerView,
    TradeView,
    TradingView,
)
from desk.core.enums import ConnectionState, Mode
from desk.core.orders import OrderRequest
from desk.engine.latency import latency_views
from desk.engine.signal_accuracy import SignalAccuracy
from desk.engine.state import MarketState
from desk.engine.trading_view import build_trading_view

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts

NS_PER_MS = 1_000_000


class EngineViews:
    """The views of an engine in this process, on this event loop (no lifecycle, no commands).

    Build it before the engine starts, so its state sees every event from the first.
    """

    def __init__(self, engine: EngineParts) -> None:
        self.engine = engine
        trading = engine.config.trading
        self.state = MarketState(engine.bus, trading.symbols, trading.timeframes)
        self.accuracy = SignalAccuracy(engine.bus, self.state, trading.bots_accuracy_bars)
        self._cache: dict[Any, Any] = {}
        self._health_version = 0

    @property
    def mode(self) -> Mode:
        return self.engine.config.system.mode

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.engine.config.trading.symbols

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self.engine.config.trading.timeframes

    @property
    def connected(self) -> bool:
        feeds = self.engine.feeds
        return feeds is not None and any(f.state is ConnectionState.CONNECTED for f in feeds.feeds)

    def _cached(self, key: Any, version: int, build: Any) -> Any:
        hit = self._cache.get(key)
        if hit is not None and hit.version == version:
            return hit
        view = build()
        self._cache[key] = view
        return view

    # -- market ----------------------------------------------------------------------------

    def book(self, symbol: str, depth: int = 20) -> BookView:
        age_ms, connected = self._feed_age_ms(symbol)
        version = self.state.book_version.get(symbol, 0)
        stale = (not connected) or age_ms > self.engine.config.ui.stale_after * 1000
        hit = self._cache.get(("book", symbol, depth))
        if hit is not None and hit.version == version and hit.stale == stale:
            return hit
        view = self._build_book(symbol, depth, version, age_ms, stale)
        self._cache[("book", symbol, depth)] = view
        return view

    def _build_book(
        self, symbol: str, depth: int, version: int, age_ms: float, stale: bool
    ) -> BookView:
        book = self._order_book(symbol)
        trades = self.state.trades.get(symbol)
        last = trades[0] if trades else None
        if book is None:
            bids: list[LevelView] = []
            asks: list[LevelView] = []
            seq_id = ts_exchange = 0
        else:
            bids = [LevelView(p, s) for p, s in book.bids(depth)]
            asks = [LevelView(p, s) for p, s in book.asks(depth)]
            seq_id, ts_exchange = book.seq_id, book.ts_exchange
        return BookView(
            version=version,
            symbol=symbol,
            bids=bids,
            asks=asks,
            seq_id=seq_id,
            ts_exchange=ts_exchange,
            ts_recv=time.time_ns(),
            age_ms=age_ms,
            stale=stale or book is None or not (bids or asks),
            last_price=last.price if last else math.nan,
            last_side=last.side if last else None,
        )

    def _order_book(self, symbol: str) -> Any:
        feeds = self.engine.feeds
        return None if feeds is None else feeds.book(symbol)

    def _feed_age_ms(self, symbol: str) -> tuple[float, bool]:
        feeds = self.engine.feeds
        if feeds is None:
            return math.inf, False
        for feed in feeds.feeds:
            if symbol in feed.books:
                last = feed.counters.last_recv_ns
                age = (time.time_ns() - last) / NS_PER_MS if last else math.inf
                return age, feed.state is ConnectionState.CONNECTED
        return math.inf, False

    def tape(self, symbol: str, limit: int = 50) -> TapeView:
        version = self.state.trade_version.get(symbol, 0)

        def build() -> TapeView:
            trades = list(self.state.trades.get(symbol, ()))[:limit]
            return TapeView(
                version=version,
                symbol=symbol,
                trades=[
                    TradeView(
                        ts_exchange=t.ts_exchange,
                        price=t.price,
                        size=t.size,
                        side=t.side,
                        count=t.count,
                    )
                    for t in trades
                ],
            )

        return self._cached(("tape", symbol, limit), version, build)

    def tickers(self) -> TickersView:
        version = self.state.ticker_version

        def build() -> TickersView:
            views = []
            for symbol in self.symbols:
                t = self.state.tickers.get(symbol)
                if t is None:
                    continue
                change = (t.last / t.open_24h - 1.0) * 100 if t.open_24h else math.nan
                views.append(
                    TickerView(
                        symbol=symbol,
                        last=t.last,
                        open_24h=t.open_24h,
                        change_24h_pct=change,
                        bid=t.bid,
                        ask=t.ask,
                        volume_24h=t.volume_24h,
                        ts_recv=t.ts_recv,
                    )
                )
            return TickersView(version=version, tickers=views)

        return self._cached(("tickers",), version, build)

    def candles(self, symbol: str, timeframe: str, limit: int = 120) -> CandlesView:
        """Closed candles plus the forming one; rebuilt each call since the forming bar moves."""
        closed = list(self.state.candles.get((symbol, timeframe), ()))[-limit:]
        views = [CandleView(c.end, c.open, c.high, c.low, c.close, c.volume) for c in closed]
        aggregator = self.engine.candles.get(symbol)
        forming = aggregator.forming(timeframe) if aggregator is not None else None
        if forming is not None:
            views.append(
                CandleView(
                    forming.end,
                    forming.open,
                    forming.high,
                    forming.low,
                    forming.close,
                    forming.volume,
                )
            )
            views = views[-limit:]
        version = self.state.candle_version.get((symbol, timeframe), 0) * 1_000_003 + (
            self.state.trade_version.get(symbol, 0)
        )
        return CandlesView(
            version=version,
            symbol=symbol,
            timeframe=timeframe,
            candles=views,
            forming=forming is not None,
        )

    # -- health ----------------------------------------------------------------------------

    def health(self) -> HealthView:
        engine = self.engine
        self._health_version += 1
        return HealthView(
            version=self._health_version,
            ts=time.time_ns(),
            mode=self.mode,
            connections=self._connections(),
            loop_lag_ms=engine.loop_lag.last_ms,
            loop_lag_p99_ms=engine.loop_lag.percentile_ms(0.99),
            cpu_percent=engine.process.cpu_percent(),
            rss_bytes=engine.process.rss_bytes(),
            max_memory_bytes=engine.config.system.max_memory_bytes,
            queues=self._queues(),
            sqlite_backlog=engine.store.backlog,
            sqlite_rows_written=engine.store.rows_written,
            sqlite_write_errors=engine.store.write_errors,
            candles_closed=engine.candles_closed,
            uptime_s=(time.time_ns() - engine.started_ns) / 1e9 if engine.started_ns else 0.0,
            sqlite_dead_letters=engine.store.dead_letters,
            **_risk_fields(engine),
            model_warnings=[f"{m.model_id}: {w}" for m in self._models() for w in m.warnings],
            latencies=latency_views(engine),
        )

    def _models(self) -> list[ModelView]:
        health = msgspec.to_builtins(self.engine.bots.models.health())
        return msgspec.convert(health, list[ModelView])

    def models(self) -> ModelsView:
        """Every live model's health; rebuilt per call (its ages and rates move)."""
        now = time.time_ns()
        return ModelsView(version=now, ts=now, models=self._models())

    def _queues(self) -> list[QueueHealth]:
        """The bus's bounded queues, and the SQLite writer's backlog (a queue that never drops)."""
        engine = self.engine
        queues = [
            QueueHealth(
                name=s.name,
                depth=s.depth,
                maxsize=s.maxsize,
                dropped=s.dropped,
                over_bound=s.over_bound,
            )
            for s in engine.bus.async_subscribers
        ]
        queues.append(
            QueueHealth(
                name="sqlite-writer",
                depth=engine.store.backlog,
                maxsize=engine.config.storage.queue_size,
                dropped=0,
                over_bound=engine.store.over_bound,
            )
        )
        return queues

    def _connections(self) -> list[ConnectionHealth]:
        feeds = self.engine.feeds
        if feeds is None:
            return []
        out = []
        for feed in feeds.feeds:
            c = feed.counters.snapshot()
            ready = sum(1 for book in feed.books.values() if book)
            out.append(
                ConnectionHealth(
                    venue="okx",
                    name=c.name,
                    state=feed.state,
                    msgs_per_s=c.msgs_per_s,
                    bytes_per_s=c.bytes_per_s,
                    latency_p50_ms=c.latency_p50_ms,
                    latency_p99_ms=c.latency_p99_ms,
                    last_message_age_ms=c.last_message_age_s * 1000,
                    reconnects=c.reconnects,
                    gaps=c.gaps,
                    resyncs=c.resyncs,
                    checksum_failures=c.checksum_failures,
                    decode_errors=c.decode_errors,
                    books_ready=ready,
                    books_total=len(feed.books),
                )
            )
        return out

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]:
        newer = [e for e in self.state.events if e.seq > seq]
        return newer[-limit:]

    # -- bots and signals ------------------------------------------------------------------

    def bots(self) -> BotsView:
        """Every bot; the version moves only when something shown changed."""
        engine = self.engine
        views = [
            _bot_view(status, engine.bots.config(status.bot_id), engine.bot_pnl(status.bot_id))
            for status in engine.bots.statuses()
        ]
        views = self.accuracy.annotate(views)
        hit = self._cache.get(("bots",))
        if hit is not None and hit.bots == views:
            return hit
        version = hit.version + 1 if hit is not None else 1
        view = BotsView(version=version, bots=views)
        self._cache[("bots",)] = view
        return view

    def signals(
        self,
        *,
        bot_id: str | None = None,
        fate: str | None = None,
        symbol: str | None = None,
        text: str = "",
        limit: int = 200,
    ) -> SignalsView:
        board = self.engine.bot_board
        version = board.signal_version

        def build() -> SignalsView:
            found, total = board.recent_signals(
                bot_id=bot_id, fate=fate, symbol=symbol, text=text, limit=limit
            )
            return SignalsView(version=version, signals=found, total=total)

        return self._cached(("signals", bot_id, fate, symbol, text, limit), version, build)

    def bot_detail(self, bot_id: str, limit: int = 120) -> BotDetailView:
        """KeyError for an unknown bot."""
        engine = self.engine
        config = engine.bots.config(bot_id)
        bot = _bot_view(engine.bots.status(bot_id), config, engine.bot_pnl(bot_id))
        key = (config.symbol, config.timeframe)
        version = (
            self.state.candle_version.get(key, 0) * 1_000_003
            + engine.bot_board.signal_version * 1_009
            + engine.bot_board.event_version
        )
        hit = self._cache.get(("bot", bot_id, limit))
        if hit is not None and hit.version == version and hit.bot == bot:
            return hit
        candles = list(self.state.candles.get(key, ()))[-limit:]
        strategy = engine.bots.strategy(bot_id)
        signals, _ = engine.bot_board.recent_signals(bot_id=bot_id, limit=100)
        view = BotDetailView(
            version=version,
            bot=bot,
            candles=[CandleView(c.end, c.open, c.high, c.low, c.close, c.volume) for c in candles],
            indicators=strategy.indicator_series(candles),
            signals=signals,
            events=engine.bot_board.recent_events(bot_id),
        )
        self._cache[("bot", bot_id, limit)] = view
        return view

    def indicators(self) -> IndicatorsView:
        board = self.engine.indicators
        version = board.version
        return self._cached(
            ("indicators",), version, lambda: IndicatorsView(version=version, rows=board.rows())
        )

    def strategies(self) -> list[StrategyInfo]:
        """The strategies a new bot can run, with their default parameters."""
        from desk.signals.strategies import STRATEGIES

        return [
            StrategyInfo(
                name=name,
                defaults=_param_defaults(cls.Params),
                doc=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            )
            for name, cls in sorted(STRATEGIES.items())
        ]

    # -- trading ---------------------------------------------------------------------------

    def trading(self) -> TradingView:
        """Rebuilt at most once per UI tick; the version moves only when the content does."""
        view = build_trading_view(self.engine)
        hit = self._cache.get(("trading",))
        if hit is not None and _same_trading(hit, view):
            return hit
        view = msgspec.structs.replace(view, version=(hit.version + 1) if hit else 1)
        self._cache[("trading",)] = view
        return view

    def instruments(self) -> list[InstrumentView]:
        return [
            InstrumentView(
                symbol=i.symbol,
                base=i.base,
                quote=i.quote,
                tick_size=i.tick_size,
                lot_size=i.lot_size,
                min_size=i.min_size,
                state=i.state,
            )
            for i in self.engine.instruments.values()
        ]

    def check_order(self, request: OrderRequest) -> str:
        execution = self.engine.execution
        if execution is None:
            return f"execution unavailable: {self.engine.execution_error or 'not started'}"
        try:
            request = msgspec.convert(msgspec.to_builtins(request), OrderRequest)
        except msgspec.ValidationError as exc:
            return f"invalid: {exc}"
        return execution.preview(request)


def _risk_fields(engine: EngineParts) -> dict[str, Any]:
    """The risk state for the header (nothing where this engine runs no execution)."""
    execution = engine.execution
    if execution is None:
        return {}
    risk = execution.risk
    return {
        "risk_state": str(risk.state),
        "risk_reason": risk.state_reason,
        "risk_restored": risk.restored,
    }


def _same_trading(a: TradingView, b: TradingView) -> bool:
    """Equal but for the version."""
    return msgspec.structs.replace(a, version=0) == msgspec.structs.replace(b, version=0)


def _param_defaults(params: type) -> dict[str, Any]:
    """Each parameter's default (None for a required one)."""
    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(params):
        if field.default is not msgspec.NODEFAULT:
            out[field.name] = field.default
        elif field.default_factory is not msgspec.NODEFAULT:
            out[field.name] = field.default_factory()
        else:
            out[field.name] = None
    return out


def _bot_view(status: Any, config: Any, pnl: float) -> BotView:
    return BotView(
        bot_id=status.bot_id,
        strategy=status.strategy,
        symbol=status.symbol,
        timeframe=status.timeframe,
        state=str(status.state),
        mode=str(status.mode),
        size=config.size,
        position=status.position,
        pnl=pnl,
        last_signal_ts=status.last_signal_ts,
        last_signal_direction=(
            str(status.last_signal_direction) if status.last_signal_direction else None
        ),
        signal_count=status.signal_count,
        sent_count=status.sent_count,
        params=dict(config.params),
        min_strength=config.min_strength,
        cooldown_s=config.cooldown_s,
        confirm_bars=config.confirm_bars,
    )
