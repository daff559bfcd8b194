"""Plain state views the UI draws from: what an EngineClient hands out.

They are msgspec Structs so the Redis implementation can ship the same objects across processes.
Every view carries a ``version`` that changes whenever its content does, so the UI can skip
redrawing what did not change. Times are integer ns since the epoch.
"""

from __future__ import annotations

from typing import Any

import msgspec

from desk.core.enums import ConnectionState, Mode, Severity, Side
from desk.storage.recording.health import RecorderHealth


class View(msgspec.Struct, frozen=True, kw_only=True):
    version: int = 0


class LevelView(msgspec.Struct, frozen=True, array_like=True):
    price: float
    size: float


class BookView(View, frozen=True, kw_only=True):
    """Top-N of one local order book.

    ``age_ms`` is the time since its feed last heard anything, as of ``ts_recv`` (when the view
    was built; a cached view keeps it): a UI adds the time elapsed since ``ts_recv``.
    """

    symbol: str
    bids: list[LevelView]
    asks: list[LevelView]
    seq_id: int
    ts_exchange: int
    ts_recv: int
    age_ms: float
    stale: bool
    last_price: float = float("nan")
    last_side: Side | None = None
    venue: str = "okx"


class TradeView(msgspec.Struct, frozen=True, kw_only=True):
    ts_exchange: int
    price: float
    size: float
    side: Side
    count: int = 1
    venue: str = "okx"


class TapeView(View, frozen=True, kw_only=True):
    """Most recent trades of one symbol, newest first."""

    symbol: str
    trades: list[TradeView]


class TickerView(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    last: float
    open_24h: float
    change_24h_pct: float
    bid: float
    ask: float
    volume_24h: float
    ts_recv: int
    venue: str = "okx"


class TickersView(View, frozen=True, kw_only=True):
    tickers: list[TickerView]


class CandleView(msgspec.Struct, frozen=True, array_like=True):
    end: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesView(View, frozen=True, kw_only=True):
    """Closed candles, oldest first, then the forming one (if any) last; ``venue``'s trades."""

    symbol: str
    timeframe: str
    candles: list[CandleView]
    forming: bool
    venue: str = "okx"


class ConnectionHealth(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    name: str
    state: ConnectionState
    msgs_per_s: float
    bytes_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    last_message_age_ms: float
    reconnects: int
    gaps: int
    resyncs: int
    checksum_failures: int
    decode_errors: int
    books_ready: int
    books_total: int


class LatencyView(msgspec.Struct, frozen=True, kw_only=True):
    """A latency distribution since the start (ns), as counts over the fixed buckets of
    :mod:`desk.core.histogram`. ``path``: ``exchange`` (exchange time to our receive; ``name``
    the venue) or ``tick_to_order`` (a closed bar's receive to its bot's order; "bots")."""

    name: str
    path: str
    counts: list[int] = msgspec.field(default_factory=list)
    count: int = 0
    sum_ns: int = 0
    min_ns: int = 0
    max_ns: int = 0


class QueueHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    depth: int
    maxsize: int
    dropped: int
    over_bound: int


class HealthView(View, frozen=True, kw_only=True):
    """Everything the health mode shows, sampled at one instant.

    ``risk_state`` (active / reducing / halted, "" where this engine trades nothing) and its
    reason ride here too, so every screen's header can show a halt; ``risk_restored`` says the
    state was brought back from the last run. ``sqlite_dead_letters`` counts rows put aside.
    """

    ts: int
    mode: Mode
    connections: list[ConnectionHealth]
    loop_lag_ms: float
    loop_lag_p99_ms: float
    cpu_percent: float
    rss_bytes: int
    max_memory_bytes: int
    queues: list[QueueHealth]
    sqlite_backlog: int
    sqlite_rows_written: int
    sqlite_write_errors: int
    candles_closed: int
    uptime_s: float
    risk_state: str = ""
    risk_reason: str = ""
    risk_restored: bool = False
    sqlite_dead_letters: int = 0
    model_warnings: list[str] = msgspec.field(default_factory=list)
    """The live models' warnings (drift, stale inputs, late predictions), "model_id: text"."""
    latencies: list[LatencyView] = msgspec.field(default_factory=list)
    """Exchange-to-receive per venue, then the bots' tick-to-order (:class:`LatencyView`)."""
    recorder: RecorderHealth | None = None  # the parquet recorder's; None where none runs


class EventView(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    ts: int
    source: str
    kind: str
    severity: Severity
    message: str
    symbol: str = ""


class BotView(msgspec.Struct, frozen=True, kw_only=True):
    """One bot as the bots table shows it. ``pnl`` = realised + unrealised - fees (quote)."""

    bot_id: str
    strategy: str
    symbol: str
    timeframe: str
    state: str
    mode: str
    size: float
    position: float
    pnl: float
    last_signal_ts: int | None
    last_signal_direction: str | None
    signal_count: int
    sent_count: int
    params: dict[str, Any]
    min_strength: float
    cooldown_s: float
    confirm_bars: int
    # The share of its resolved long/short signals whose direction the price followed over the
    # next ``trading.bots_accuracy_bars`` bars (None until one resolves), and over how many.
    accuracy: float | None = None
    accuracy_signals: int = 0


class BotsView(View, frozen=True, kw_only=True):
    bots: list[BotView]


class SignalView(msgspec.Struct, frozen=True, kw_only=True):
    """One signal and its fate. ``seq`` grows with every signal the engine recorded."""

    seq: int
    ts: int
    recorded_ns: int
    bot_id: str
    symbol: str
    timeframe: str
    strategy: str
    direction: str
    strength: float
    price: float
    fate: str
    reason: str
    indicators: dict[str, float]
    order_id: str = ""


class SignalsView(View, frozen=True, kw_only=True):
    """Recent signals across bots (or one bot's), newest first, after the asked-for filter."""

    signals: list[SignalView]
    total: int


class BotEventView(msgspec.Struct, frozen=True, kw_only=True):
    """A change to a bot (started, mode, params, ...) and who made it."""

    seq: int
    ts: int
    bot_id: str
    kind: str
    summary: str
    actor: str


class BotDetailView(View, frozen=True, kw_only=True):
    """One bot in depth: its candles with the strategy's indicator series aligned to them
    (NaN during warm-up), its recent signals and the changes made to it."""

    bot: BotView
    candles: list[CandleView]
    indicators: dict[str, list[float]]
    signals: list[SignalView]
    events: list[BotEventView]
    arbitrage: dict[str, Any] | None = None  # an arbitrage bot's legs, positions and PnL


class IndicatorRow(msgspec.Struct, frozen=True, kw_only=True):
    """Live indicator values of one symbol on one timeframe, as of the last closed candle.

    NaN while an indicator is still warming up. ``imbalance`` is the book's top-10 volume
    imbalance in [-1, 1] (the same for every timeframe of a symbol).
    """

    symbol: str
    timeframe: str
    ts: int
    close: float
    sma_20: float
    ema_20: float
    rsi_14: float
    macd: float
    macd_signal: float
    macd_hist: float
    bb_upper: float
    bb_lower: float
    atr_14: float
    zscore_20: float
    vol_20: float
    imbalance: float
    bars: int


class IndicatorsView(View, frozen=True, kw_only=True):
    rows: list[IndicatorRow]


class StrategyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy a bot can run, with its parameters' defaults (for the new-bot form)."""

    name: str
    defaults: dict[str, Any]
    doc: str


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """One order as the trading mode lists it (prices and sizes as floats for display)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: str
    order_type: str
    price: float | None
    size: float
    filled: float
    avg_price: float
    status: str
    bot_id: str
    reason: str
    created_ns: int
    updated_ns: int
    venue: str = ""


class FillView(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    client_order_id: str
    trade_id: str
    symbol: str
    side: str
    price: float
    size: float
    fee: float
    fee_ccy: str
    liquidity: str
    bot_id: str
    venue: str = ""


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    """One account's (a bot's or "manual") position in one symbol, marked to market."""

    bot_id: str
    symbol: str
    size: float
    avg_price: float
    mark_price: float
    unrealized_pnl: float
    realized_pnl: float
    fees: float
    notional: float
    venue: str = ""


class DenialView(msgspec.Struct, frozen=True, kw_only=True):
    """An order risk refused, and why."""

    ts: int
    bot_id: str
    symbol: str
    side: str
    size: float
    price: float | None
    reason: str


class ReconciliationView(msgspec.Struct, frozen=True, kw_only=True):
    """How local orders/positions compare with the venue's after a (re)start.

    While ``blocking``, bots may not trade; the operator accepts the venue's view to go on.
    """

    ts: int
    clean: bool
    blocking: bool
    differences: list[str]


class TradingView(View, frozen=True, kw_only=True):
    """Everything the trading mode shows, sampled at one instant. Money in the quote currency.

    ``risk_state`` is ACTIVE / REDUCING / HALTED; ``breaker_state`` closed / open / half_open;
    ``venue`` names the execution venue ("paper", "okx" — the simulator speaks OKX).
    ``live_confirmed`` is False in LIVE mode until the operator confirmed on screen.
    """

    venue: str
    open_orders: list[OrderView]
    recent_orders: list[OrderView]
    fills: list[FillView]
    positions: list[PositionView]
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    gross_exposure: float
    daily_pnl: float
    risk_state: str
    risk_reason: str
    denials: list[DenialView]
    breaker_state: str
    trading_blocked: bool
    reconciliation: ReconciliationView | None
    live_confirmed: bool = True


def no_trading_view(venue: str, reason: str) -> TradingView:
    """What the trading mode shows when there is no execution to show: blocked, with why."""
    return TradingView(
        venue=venue,
        open_orders=[],
        recent_orders=[],
        fills=[],
        positions=[],
        equity=0.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        fees=0.0,
        gross_exposure=0.0,
        daily_pnl=0.0,
        risk_state="halted",
        risk_reason=reason,
        denials=[],
        breaker_state="open",
        trading_blocked=True,
        reconciliation=None,
        live_confirmed=False,
    )


class InstrumentView(msgspec.Struct, frozen=True, kw_only=True):
    """An instrument's trading rules (strings, as the venue writes them)."""

    symbol: str
    base: str
    quote: str
    tick_size: str
    lot_size: str
    min_size: str
    state: str
    venue: str = "okx"


class LiveScoreView(msgspec.Struct, frozen=True, kw_only=True):
    """A predictor's live record over resolved bars: accuracy, and the hit rate of its calls."""

    n: int = 0
    accuracy: float | None = None
    hit_rate: float | None = None
    calls: int = 0


class FeatureDriftView(msgspec.Struct, frozen=True, kw_only=True):
    """One feature's PSI against its training distribution over the last live rows."""

    name: str
    psi: float | None = None
    rows: int = 0
    warn: bool = False


class ModelView(msgspec.Struct, frozen=True, kw_only=True):
    """One live model's health (``desk.signals.model.monitor.ModelHealth``); latencies in µs.

    ``model`` / ``persistence`` / ``majority``: the live record of the model and of the two
    baselines on the same bars, once each prediction's horizon has passed; ``drift_exact`` is
    False for a card without stored training bins (the drift is then an approximation).
    """

    model_id: str
    path: str = ""
    created_ns: int = 0
    age_s: float = 0.0
    train_start: str = ""
    train_end: str = ""
    symbols: list[str] = msgspec.field(default_factory=list)
    timeframe: str = ""
    horizon: int = 0
    bots: list[str] = msgspec.field(default_factory=list)
    device: str = "cpu"
    predictions: int = 0
    late: int = 0
    dropped: int = 0
    errors: int = 0
    queued: int = 0
    per_second: float = 0.0
    infer_p50_us: float | None = None
    infer_p99_us: float | None = None
    wait_p50_us: float | None = None
    wait_p99_us: float | None = None
    model: LiveScoreView = msgspec.field(default_factory=LiveScoreView)
    persistence: LiveScoreView = msgspec.field(default_factory=LiveScoreView)
    majority: LiveScoreView = msgspec.field(default_factory=LiveScoreView)
    brier: float | None = None
    test_accuracy: float | None = None
    test_hit_rate: float | None = None
    drift: list[FeatureDriftView] = msgspec.field(default_factory=list)
    drift_exact: bool = True
    input_age_s: float | None = None
    warnings: list[str] = msgspec.field(default_factory=list)


class ModelsView(View, frozen=True, kw_only=True):
    """Every live model of the engine (none until a model bot starts), by model id."""

    ts: int = 0
    models: list[ModelView] = msgspec.field(default_factory=list)
