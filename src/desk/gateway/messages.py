"""The gateway's messages: msgspec Structs, encoded as JSON text frames.

Every message is an object with ``type`` (which message it is) and ``v`` (the schema version,
:data:`SCHEMA_VERSION`; a change that could break a reader bumps it) and ``ts`` (ns since the
epoch, when the gateway built it). The JSON schema of them all is :func:`message_schema`
(``desk gateway-schema``). Money is in the quote currency, sizes in the base currency, prices
and sizes as JSON numbers (floats: for display and monitoring, not for accounting).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec

SCHEMA_VERSION = 1


def doc(text: str) -> msgspec.Meta:
    """A field's description in the JSON Schema (and so in the README)."""
    return msgspec.Meta(description=text)


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every message."""

    v: Annotated[int, doc("The schema version")] = SCHEMA_VERSION
    ts: Annotated[int, doc("When the gateway built it (ns since the epoch)")]


# -- every route ---------------------------------------------------------------------------


class Hello(Message, frozen=True, kw_only=True, tag="hello"):
    """The first message on every connection: what this stream is and how fast it runs."""

    route: Annotated[str, doc("The path asked for, e.g. /ws/market/BTC-USDT")]
    rate_hz: Annotated[
        float,
        doc(
            "At most this many messages per second follow (market), or how often changes "
            "are looked for (the other routes)"
        ),
    ]


# -- /ws/market/{symbol} -------------------------------------------------------------------


class Level(msgspec.Struct, frozen=True, array_like=True):
    """One book level as ``[price, size]``."""

    price: float
    size: float


class BookTop(msgspec.Struct, frozen=True, kw_only=True):
    """The top ``depth`` levels of one order book, best first."""

    bids: list[Level]
    asks: list[Level]
    seq_id: Annotated[int, doc("The venue's sequence id of the last update applied")]
    ts_exchange: Annotated[int, doc("The venue's time of the last update applied")]
    stale: Annotated[
        bool,
        doc("True while the feed is down or quiet past ``ui.stale_after``, or the book is empty."),
    ]


class MarketTrade(msgspec.Struct, frozen=True, kw_only=True):
    trade_id: str
    ts_exchange: Annotated[int, doc("The venue's time of the trade")]
    ts_recv: Annotated[int, doc("When desk received it")]
    price: float
    size: float
    side: Annotated[str, doc("The aggressor's side: buy or sell.")]
    count: Annotated[int, doc("Fills of one taker order aggregated into this trade")] = 1


class MarketTicker(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's 24 h ticker; a field the venue left empty is null."""

    ts_exchange: int
    last: float | None
    bid: float | None
    ask: float | None
    open_24h: float | None
    high_24h: float | None
    low_24h: float | None
    volume_24h: float | None


class Market(Message, frozen=True, kw_only=True, tag="market"):
    """One venue's market of one symbol since the previous message, at most ``market_hz`` a
    second (``?venue=`` chooses the venue; OKX by default).

    ``book``: the latest top-N if it changed since the previous message, else null (keep the
    last one; latest wins). ``trades``: every trade since the previous message, oldest first
    (none is skipped between messages). ``ticker``: the latest if it changed, else null.
    ``seq`` counts this symbol's messages (a client's first may start anywhere).
    """

    symbol: str
    venue: Annotated[str, doc("The venue all of this message is from (okx, binance, coinbase)")]
    seq: Annotated[int, doc("This symbol's message count on this venue; +1 per message")]
    book: Annotated[BookTop | None, doc("The latest top-N; null if unchanged")] = None
    trades: Annotated[
        list[MarketTrade], doc("Every trade since the previous message, oldest first")
    ] = msgspec.field(default_factory=list)
    ticker: Annotated[MarketTicker | None, doc("The latest ticker; null if unchanged")] = None


# -- /ws/bot/{bot_id}/status ---------------------------------------------------------------


class BotState(msgspec.Struct, frozen=True, kw_only=True):
    bot_id: str
    strategy: str
    symbol: str
    timeframe: str
    state: Annotated[str, doc("running or stopped.")]
    mode: Annotated[str, doc("auto, paused or manual.")]
    position: Annotated[float, doc("Signed, in the base currency (> 0 long)")]
    pnl: Annotated[float, doc("Realised + unrealised - fees.")]
    signal_count: Annotated[int, doc("Signals made since the bot started")]
    sent_count: Annotated[int, doc("Of those, sent as orders")]
    last_signal_ts: int | None


class SignalItem(msgspec.Struct, frozen=True, kw_only=True):
    """One signal and its fate (sent, or why not: filtered_paused, filtered_cooldown ...)."""

    seq: Annotated[int, doc("Grows with every signal the engine records")]
    ts: Annotated[int, doc("The bar the signal was made on")]
    direction: Annotated[str, doc("long, short or flat")]
    strength: float
    price: float
    fate: Annotated[str, doc("sent, or why not (filtered_paused, filtered_cooldown ...)")]
    reason: Annotated[str, doc("The strategy's reason")]
    order_id: Annotated[str, doc("The client order id when sent")] = ""


class BotStatus(Message, frozen=True, kw_only=True, tag="bot_status"):
    """The bot now, and its signals since the previous message (oldest first; the first
    message of a connection carries the most recent ones)."""

    bot: BotState
    signals: list[SignalItem] = msgspec.field(default_factory=list)


# -- /ws/portfolio/{bot_id} and /ws/portfolio/all ------------------------------------------


class PositionItem(msgspec.Struct, frozen=True, kw_only=True):
    bot_id: str
    symbol: str
    size: Annotated[float, doc("> 0 long, < 0 short.")]
    avg_price: float
    mark_price: float
    unrealized_pnl: float
    realized_pnl: float
    fees: float
    notional: Annotated[float, doc("|size| x mark")]


class OrderItem(msgspec.Struct, frozen=True, kw_only=True):
    client_order_id: str
    bot_id: str
    symbol: str
    side: str
    order_type: str
    price: float | None
    size: float
    filled: float
    avg_price: float
    status: str
    reason: str
    created_ns: int
    updated_ns: int


class FillItem(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    client_order_id: str
    trade_id: str
    bot_id: str
    symbol: str
    side: str
    price: float
    size: float
    fee: float
    fee_ccy: str
    liquidity: str


class Pnl(msgspec.Struct, frozen=True, kw_only=True):
    realized: float
    unrealized: float
    fees: float
    net: Annotated[float, doc("realized + unrealized - fees.")]
    gross_exposure: float
    daily: Annotated[
        float | None, doc("Since the UTC day began: the whole desk's only (null for one bot).")
    ] = None
    equity: Annotated[
        float | None, doc("Starting cash + net: the whole desk's only (null for one bot).")
    ] = None


class Portfolio(Message, frozen=True, kw_only=True, tag="portfolio"):
    """Positions, open orders and PnL of one account (a bot id, "manual") or of ``all``; the
    fills since the previous message (the first message carries the recent ones)."""

    scope: Annotated[str, doc('A bot id, "manual" or "all"')]
    positions: Annotated[list[PositionItem], doc("Every position the scope holds or held")]
    open_orders: list[OrderItem]
    fills: Annotated[list[FillItem], doc("Fills since the previous message, oldest first")]
    pnl: Pnl
    risk_state: Annotated[
        str, doc('active, reducing or halted ("" where this engine runs no execution)')
    ]
    trading_blocked: Annotated[bool, doc("Bots may not trade (reconciliation pending)")]


# -- /ws/system ----------------------------------------------------------------------------


class ConnectionItem(msgspec.Struct, frozen=True, kw_only=True):
    """One feed connection. Latencies are exchange-to-receive; null before any sample."""

    venue: str
    name: str
    state: str
    msgs_per_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    last_message_age_ms: float | None
    reconnects: int
    gaps: int


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    depth: int
    maxsize: int
    dropped: int


class Health(Message, frozen=True, kw_only=True, tag="health"):
    """The engine's health, about once a second."""

    mode: Annotated[str, doc("sim, paper or live")]
    uptime_s: float
    loop_lag_ms: Annotated[float, doc("How late the event loop woke its last 100 ms timer")]
    loop_lag_p99_ms: float
    cpu_percent: float
    rss_bytes: int
    connections: list[ConnectionItem]
    queues: list[QueueItem]
    sqlite_backlog: Annotated[int, doc("Rows waiting to be written")]
    risk_state: str
    warnings: Annotated[list[str], doc("The live models' warnings")] = msgspec.field(
        default_factory=list
    )


class EventItem(msgspec.Struct, frozen=True, kw_only=True):
    seq: Annotated[int, doc("Grows with every event the engine records")]
    ts: int
    source: Annotated[str, doc("The part of desk it comes from (okx, risk, gateway ...)")]
    kind: Annotated[str, doc("A short machine-readable word (connected, gap, risk_denied ...)")]
    severity: Annotated[str, doc("info, warning or error.")]
    message: str
    symbol: str = ""


class SystemEvents(Message, frozen=True, kw_only=True, tag="system_events"):
    """System events (connects, gaps, risk denials, errors ...) since the previous message,
    oldest first; the first message of a connection carries the recent ones."""

    events: list[EventItem]


AnyMessage = Hello | Market | BotStatus | Portfolio | Health | SystemEvents
"""Every message the gateway sends; decode a frame with ``msgspec.json.decode(frame,
type=AnyMessage)``."""

ROUTE_MESSAGES: dict[str, tuple[type[Message], ...]] = {
    "/ws/market/{symbol}": (Hello, Market),
    "/ws/bot/{bot_id}/status": (Hello, BotStatus),
    "/ws/portfolio/{bot_id}": (Hello, Portfolio),
    "/ws/portfolio/all": (Hello, Portfolio),
    "/ws/system": (Hello, Health, SystemEvents),
}


def message_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of every gateway message, generated from these Structs."""
    return msgspec.json.schema(AnyMessage)


def finite(value: float) -> float | None:
    """``value``, or None for NaN and infinities (JSON has no such numbers)."""
    return value if math.isfinite(value) else None


_encoder = msgspec.json.Encoder()
encode = _encoder.encode
"""A message as the JSON bytes of one text frame."""
