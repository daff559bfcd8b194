"""Plain state views the UI draws from: what an EngineClient hands out.

They are msgspec Structs so the Redis implementation can ship the same objects across processes.
Every view carries a ``version`` that changes whenever its content does, so the UI can skip
redrawing what did not change. Times are integer ns since the epoch.
"""

from __future__ import annotations

import msgspec

from desk.core.enums import ConnectionState, Mode, Severity, Side


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


class TradeView(msgspec.Struct, frozen=True, kw_only=True):
    ts_exchange: int
    price: float
    size: float
    side: Side
    count: int = 1


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
    """Closed candles, oldest first, then the forming one (if any) last."""

    symbol: str
    timeframe: str
    candles: list[CandleView]
    forming: bool


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


class QueueHealth(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    depth: int
    maxsize: int
    dropped: int
    over_bound: int


class HealthView(View, frozen=True, kw_only=True):
    """Everything the health mode shows, sampled at one instant."""

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


class EventView(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    ts: int
    source: str
    kind: str
    severity: Severity
    message: str
    symbol: str = ""
