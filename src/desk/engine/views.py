"""The EngineClient views of an engine in this process, built from live objects on demand.

:class:`EngineViews` is what :class:`~desk.clients.inprocess.InProcessClient` shows a local UI
and what :class:`~desk.engine.redis_link.RedisLink` writes to Redis for attached ones.

Each view is cached by the version of the state it came from, so a UI polling at 10 Hz over an
unchanged symbol costs a dict lookup, and the engine never does per-tick work for the UI.
"""

from __future__ import annotations

import math
import time
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

from desk.bridge.venue_views import ALL_VENUES, PRIMARY_VENUE, CrossVenueView
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
from desk.engine.book_view import build_book_view, feed_age_ms
from desk.engine.cross_venue_board import board_for
from desk.engine.health import bounded_histories
from desk.engine.latency import latency_views
from desk.engine.signal_accuracy import SignalAccuracy
from desk.engine.state import MarketState
from desk.engine.trading_view import build_trading_view

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts


class EngineViews:
    """The views of an engine in this process, on this event loop (no lifecycle, no commands).

    Build it before the engine starts, so its state sees every event from the first.
    """

    def __init__(self, engine: EngineParts) -> None:
        self.engine = engine
        trading = engine.config.trading
        self.state = MarketState(engine.bus, trading.symbols, trading.timeframes)
        self.accuracy = SignalAccuracy(engine.bus, self.state, trading.bots_accuracy_bars)
        self.cross_venue_board = board_for(engine)
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

    def book(self, symbol: str, depth: int = 20, venue: str = PRIMARY_VENUE) -> BookView:
        """One venue's book of ``symbol`` (engine/book_view.py builds it)."""
        age_ms, connected = feed_age_ms(self.engine.feeds, symbol, venue)
        version = self.state.venue_book_version.get((symbol, venue), 0)
        stale = (not connected) or age_ms > self.engine.config.ui.stale_after * 1000
        key = ("book", symbol, depth, venue)
        hit = self._cache.get(key)
        if hit is not None and hit.version == version and hit.stale == stale:
            return hit
        trades = self.state.venue_trades.get((symbol, venue))
        last = trades[0] if trades else None
        view = build_book_view(
            self.engine.feeds, symbol, venue, depth, version=version, age_ms=age_ms,
            stale=stale, last=last,
        )  # fmt: skip
        self._cache[key] = view
        return view

    @property
    def venues(self) -> tuple[str, ...]:
        """The venues whose market data this engine shows."""
        return tuple(self.cross_venue_board.venues())

    def cross_venue(self) -> CrossVenueView:
        """Each venue's top per symbol and the net spreads (engine/cross_venue_board.py)."""
        return self.cross_venue_board.view()

    def tape(self, symbol: str, limit: int = 50, venue: str = ALL_VENUES) -> TapeView:
        """``venue``'s trades of ``symbol`` newest first (ALL_VENUES: every venue's).

        The version counts the trades, so only the ones since the cached view are converted
        and the rest of its rows are kept (a busy tape gains a few trades per UI tick)."""
        state = self.state
        if venue == ALL_VENUES:
            version, source = state.trade_version.get(symbol, 0), state.trades.get(symbol)
        else:
            key = (symbol, venue)
            version, source = state.venue_trade_version.get(key, 0), state.venue_trades.get(key)
        cache_key = ("tape", symbol, limit, venue)
        hit = self._cache.get(cache_key)
        if hit is not None and hit.version == version:
            return hit
        fresh = min(limit, version - hit.version if hit is not None else limit)
        trades = [_trade_view(t) for t in islice(source or (), fresh)]
        if hit is not None and fresh < limit:
            trades += hit.trades[: limit - fresh]
        view = self._cache[cache_key] = TapeView(version=version, symbol=symbol, trades=trades)
        return view

    def tickers(self) -> TickersView:
        """Every venue's ticker of every symbol: by symbol, then in venue order."""
        version = self.state.ticker_version

        def build() -> TickersView:
            tickers = self.state.tickers
            symbols = {symbol: i for i, symbol in enumerate(self.symbols)}
            venues = {venue: i for i, venue in enumerate(self.venues)}
            keys = sorted(tickers, key=lambda k: (symbols[k[0]], venues.get(k[1], len(venues)), k))
            return TickersView(version=version, tickers=[_ticker_view(tickers[k]) for k in keys])

        return self._cached(("tickers",), version, build)

    def candles(
        self, symbol: str, timeframe: str, limit: int = 120, venue: str = PRIMARY_VENUE
    ) -> CandlesView:
        """``venue``'s closed candles plus its forming one; rebuilt each call since the forming
        bar moves. The version moves with that venue's closed candles and trades only."""
        state = self.state
        closed = list(state.venue_candles.get((symbol, timeframe, venue), ()))[-limit:]
        aggregator = self.engine.venue_candles.get((venue, symbol))
        forming = aggregator.forming(timeframe) if aggregator is not None else None
        bars = [*closed, forming] if forming is not None else closed
        views = [CandleView(c.end, c.open, c.high, c.low, c.close, c.volume) for c in bars]
        version = state.venue_candle_version.get((symbol, timeframe, venue), 0) * 1_000_003 + (
            state.venue_trade_version.get((symbol, venue), 0)
        )
        return CandlesView(
            version=version,
            symbol=symbol,
            timeframe=timeframe,
            candles=views[-limit:],
            forming=forming is not None,
            venue=venue,
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
            recorder=engine.recorder.health() if getattr(engine, "recorder", None) else None,
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
        return queues + bounded_histories(getattr(engine, "execution", None))

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
                    venue=feeds.venue_of(feed),
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
        strategy = engine.bots.strategy(bot_id)
        snapshot = getattr(strategy, "snapshot", None)  # arbitrage: legs, positions, PnL
        arbitrage = msgspec.to_builtins(snapshot()) if snapshot is not None else None
        hit = self._cache.get(("bot", bot_id, limit))
        if hit and hit.version == version and hit.bot == bot and hit.arbitrage == arbitrage:
            return hit
        candles = list(self.state.candles.get(key, ()))[-limit:]
        signals, _ = engine.bot_board.recent_signals(bot_id=bot_id, limit=100)
        view = BotDetailView(
            version=version,
            bot=bot,
            candles=[CandleView(c.end, c.open, c.high, c.low, c.close, c.volume) for c in candles],
            indicators=strategy.indicator_series(candles),
            signals=signals,
            events=engine.bot_board.recent_events(bot_id),
            arbitrage=arbitrage,
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
        """Every venue's rules (OKX's first), each tagged with its venue."""
        by_venue = getattr(self.engine, "venue_instruments", None) or {}
        by_venue = {PRIMARY_VENUE: self.engine.instruments, **by_venue}
        return [
            InstrumentView(
                symbol=i.symbol,
                base=i.base,
                quote=i.quote,
                tick_size=i.tick_size,
                lot_size=i.lot_size,
                min_size=i.min_size,
                state=i.state,
                venue=venue,
            )
            for venue, rules in by_venue.items()
            for i in rules.values()
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


def _trade_view(t: Any) -> TradeView:
    return TradeView(
        ts_exchange=t.ts_exchange,
        price=t.price,
        size=t.size,
        side=t.side,
        count=t.count,
        venue=t.venue,
    )


def _ticker_view(t: Any) -> TickerView:
    change = (t.last / t.open_24h - 1.0) * 100 if t.open_24h else math.nan
    return TickerView(
        symbol=t.symbol,
        last=t.last,
        open_24h=t.open_24h,
        change_24h_pct=change,
        bid=t.bid,
        ask=t.ask,
        volume_24h=t.volume_24h,
        ts_recv=t.ts_recv,
        venue=t.venue,
    )


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
