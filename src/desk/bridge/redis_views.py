"""What the engine's RedisLink writes and a RedisClient reads: views as Redis keys.

Latest state over Redis is the EngineClient views themselves (``bridge/views.py``), each
codec-encoded (msgpack with the schema version) and sealed (:mod:`desk.bridge.signing`) into one
string key ``{prefix}:view:{name}``. The writer and the reader agree on the names here:

    view:meta                        DeskMeta: mode, symbols, timeframes, who writes, since when
                                     (the market's writer: the engine, or a split desk's feed)
    view:book:{symbol}               BookView, top BOOK_DEPTH levels per side (OKX's book)
    view:book:{symbol}:{venue}       the same, of another venue (binance, coinbase)
    view:crossvenue                  CrossVenueView: each venue's top and the spreads
    view:tape:{symbol}               TapeView, the last TAPE_LIMIT trades (every venue's)
    view:tape:{symbol}:{venue}       the same, of one venue (written when there are several)
    view:tickers                     TickersView
    view:candles:{symbol}:{tf}       CandlesView, the last CANDLE_LIMIT closed candles + forming
                                     (OKX's, the chart venue's)
    view:candles:{symbol}:{tf}:{venue}  the same, of another venue (binance, coinbase)
    view:health                      HealthView (with a "redis" connection row)
    view:bots                        BotsView
    view:bot:{bot_id}                BotDetailView
    view:signals                     SignalsView, the last SIGNAL_LIMIT signals, unfiltered
    view:indicators                  IndicatorsView
    view:models                      ModelsView (live models' health), at most once a second
    view:trading                     TradingView
    view:instruments                 InstrumentsView
    view:strategies                  StrategiesView
    view:events                      EventsView, the last EVENT_LIMIT system events
    view:events:{role}               the same, of the bots / executor role in a split desk

A key is rewritten only when its view's version moved; all of them are rewritten at once after
Redis comes back (it may have lost everything).
"""

from __future__ import annotations

import msgspec

from desk.bridge.keys import RedisKeys
from desk.bridge.venue_views import ALL_VENUES
from desk.bridge.views import EventView, InstrumentView, StrategyInfo, View
from desk.core.enums import Mode

BOOK_DEPTH = 50
TAPE_LIMIT = 200
CANDLE_LIMIT = 500
SIGNAL_LIMIT = 1000
EVENT_LIMIT = 500
BOT_DETAIL_LIMIT = 200

ENGINE_COMPONENT = "engine"


class DeskMeta(View, frozen=True, kw_only=True):
    """Who the desk behind a prefix is. ``started_ns`` changes when that engine restarts."""

    mode: Mode
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    component: str
    started_ns: int
    views: tuple[str, ...] = ()
    """The view groups the writer of this meta provides (see ``VIEW_GROUPS``)."""
    venues: tuple[str, ...] = ("okx",)
    """The venues whose books are written (``view:book:{symbol}:{venue}``)."""


class EventsView(View, frozen=True, kw_only=True):
    """The most recent system events, oldest first (``version`` = the newest one's seq)."""

    events: list[EventView]


class InstrumentsView(View, frozen=True, kw_only=True):
    instruments: list[InstrumentView]


class StrategiesView(View, frozen=True, kw_only=True):
    strategies: list[StrategyInfo]


SPLIT_EVENT_ROLES = ("bots", "executor")
"""Split roles whose system events an attached UI reads from their own events view."""

VIEW_GROUPS = ("market", "health", "events", "bots", "trading", "instruments")
"""What one writer may provide: a whole engine writes them all; a split role writes its own."""


class ViewKeys:
    """The view key names of one desk (a thin layer over :class:`RedisKeys`)."""

    def __init__(self, keys: RedisKeys) -> None:
        self.keys = keys
        self.meta = keys.view("meta")
        self.tickers = keys.view("tickers")
        self.health = keys.view("health")
        self.bots = keys.view("bots")
        self.signals = keys.view("signals")
        self.indicators = keys.view("indicators")
        self.trading = keys.view("trading")
        self.instruments = keys.view("instruments")
        self.strategies = keys.view("strategies")
        self.events = keys.view("events")
        self.models = keys.view("models")
        self.cross_venue = keys.view("crossvenue")

    def component_events(self, component: str) -> str:
        """System events of one split role that does not write the shared events view."""
        return self.keys.view("events", component)

    def book(self, symbol: str, venue: str = "okx") -> str:
        if venue == "okx":  # OKX's stays where it was before other venues
            return self.keys.view("book", symbol)
        return self.keys.view("book", symbol, venue)

    def tape(self, symbol: str, venue: str = ALL_VENUES) -> str:
        if venue == ALL_VENUES:  # every venue's trades stay where OKX's alone were
            return self.keys.view("tape", symbol)
        return self.keys.view("tape", symbol, venue)

    def candles(self, symbol: str, timeframe: str, venue: str = "okx") -> str:
        if venue == "okx":  # OKX's stay where they were before other venues
            return self.keys.view("candles", symbol, timeframe)
        return self.keys.view("candles", symbol, timeframe, venue)

    def bot(self, bot_id: str) -> str:
        return self.keys.view("bot", bot_id)


def same_but_version(a: msgspec.Struct, b: msgspec.Struct) -> bool:
    """Equal once the version is set aside."""
    return msgspec.structs.replace(a, version=0) == msgspec.structs.replace(b, version=0)
