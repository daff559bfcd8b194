"""Typed events that flow on the bus.

Every event carries the exchange time and the local receive time, both in integer nanoseconds
since the Unix epoch (``ts_exchange`` is 0 where the venue gives none). Events are frozen,
tagged msgspec Structs so the same objects can be msgpack-encoded across processes later.

The market-data events (``Trade``, ``Ticker``, ``BookChanged``, ``Candle``) are ``gc=False``:
made of numbers, strings and enum members only, and frozen, they can never be part of a reference
cycle, so the cyclic collector need not track them (feeds publish thousands a second, and
tapes and candle stores keep thousands). A subclass inherits ``gc=False``: it must not add a
field that can hold a container.
"""

from __future__ import annotations

import msgspec

from desk.core.enums import ConnectionState, Severity, Side

SCHEMA_VERSION = 1


class Event(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of every event: exchange time and local receive time in ns."""

    ts_exchange: int
    ts_recv: int


class Trade(Event, frozen=True, kw_only=True, gc=False):
    """One public trade (OKX may aggregate ``count`` fills of one taker order into it)."""

    venue: str
    symbol: str
    trade_id: str
    price: float
    size: float
    side: Side
    count: int = 1


class Ticker(Event, frozen=True, kw_only=True, gc=False):
    """24 h statistics plus top of book, as the venue's ticker channel sends them."""

    venue: str
    symbol: str
    last: float
    last_size: float
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    open_24h: float
    high_24h: float
    low_24h: float
    volume_24h: float
    volume_quote_24h: float


class BookChanged(Event, frozen=True, kw_only=True, gc=False):
    """Notice that a local order book changed; the book object itself is read from its owner.

    Carrying the top of book lets cheap consumers (tickers, risk bands) skip the book lookup.
    ``best_bid``/``best_ask`` are NaN when that side is empty.
    """

    venue: str
    symbol: str
    seq_id: int
    snapshot: bool
    best_bid: float
    best_ask: float


class Candle(Event, frozen=True, kw_only=True, gc=False):
    """An OHLCV bar. ``end`` is the right-aligned stamp: the bar holds trades in (end - tf, end].

    ``ts_exchange`` equals ``end``; ``closed`` is False for the still-forming bar. ``backfill``
    marks history fetched from the venue at start: charts and indicators take it, bots only
    warm up on it (they never trade on a backfilled bar).
    """

    venue: str
    symbol: str
    timeframe: str
    end: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int
    closed: bool
    backfill: bool = False


class FeedStatus(Event, frozen=True, kw_only=True):
    """A feed connection changed state."""

    venue: str
    connection: str
    state: ConnectionState
    reason: str = ""


class SystemEvent(Event, frozen=True, kw_only=True):
    """Something an operator should be able to find later: connects, gaps, resyncs, errors.

    ``kind`` is a short machine-readable word (``connected``, ``disconnected``, ``gap``,
    ``resync``, ``checksum_failure``, ``decode_error``, ``crossed_book``, ``notice``, ``error``).
    """

    source: str
    kind: str
    message: str
    severity: Severity = Severity.INFO
    symbol: str = ""


AnyEvent = Trade | Ticker | BookChanged | Candle | FeedStatus | SystemEvent
