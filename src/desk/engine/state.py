"""Folds the bus's events into the plain latest state a UI samples.

Subscribed synchronously to every ``market_data:*`` event, so it must stay cheap: it keeps the
event objects themselves (no conversion per tick) and bumps integer versions; views are built
only when a UI asks, at its own rate.

Every venue publishes on the same ``market_data:{symbol}`` topic, so trades, tickers and book
versions are kept per (symbol, venue) as well as per symbol: a UI showing OKX's ladder and tape
then redraws nothing when only Binance moved.
"""

from __future__ import annotations

from collections import deque
from itertools import count
from typing import Any

from desk.bridge.views import EventView
from desk.core import topics
from desk.core.bus import Bus
from desk.core.events import BookChanged, Candle, SystemEvent, Ticker, Trade

TAPE_LENGTH = 200
CANDLE_HISTORY = 500
EVENT_HISTORY = 1000
CHART_VENUE = "okx"
"""The venue whose candles bots' charts, signal accuracy and the Redis views follow (its trades
move ``candle_version``); the market mode can chart any venue's (``venue_candles``)."""

VenueKey = tuple[str, str]  # (symbol, venue)
SeriesKey = tuple[str, str, str]  # (symbol, timeframe, venue)


class MarketState:
    """Latest trades, tickers, closed candles and book versions per symbol and venue, plus
    system events.

    ``trades[symbol]`` is every venue's tape together, ``venue_trades[(symbol, venue)]`` one
    venue's; ``tickers[(symbol, venue)]`` the latest ticker of each venue. Versions move per
    (symbol, venue) (``venue_book_version``, ``venue_trade_version``) and per symbol. Closed
    candles: ``candles[(symbol, timeframe)]`` the chart venue's, ``venue_candles[(symbol,
    timeframe, venue)]`` every venue's (the chart venue's are the same deques).
    """

    def __init__(self, bus: Bus, symbols: tuple[str, ...], timeframes: tuple[str, ...]) -> None:
        self.trades: dict[str, deque[Trade]] = {s: deque(maxlen=TAPE_LENGTH) for s in symbols}
        self.venue_trades: dict[VenueKey, deque[Trade]] = {}
        self.tickers: dict[VenueKey, Ticker] = {}
        self.candles: dict[tuple[str, str], deque[Candle]] = {
            (s, tf): deque(maxlen=CANDLE_HISTORY) for s in symbols for tf in timeframes
        }
        self.book_version: dict[str, int] = dict.fromkeys(symbols, 0)
        self.trade_version: dict[str, int] = dict.fromkeys(symbols, 0)
        self.venue_book_version: dict[VenueKey, int] = {}
        self.venue_trade_version: dict[VenueKey, int] = {}
        self.candle_version: dict[tuple[str, str], int] = dict.fromkeys(self.candles, 0)
        # Every venue's closed candles; the chart venue's series are the deques above.
        self.venue_candles: dict[SeriesKey, deque[Candle]] = {
            (s, tf, CHART_VENUE): history for (s, tf), history in self.candles.items()
        }
        self.venue_candle_version: dict[SeriesKey, int] = dict.fromkeys(self.venue_candles, 0)
        self.ticker_version = 0
        self.events: deque[EventView] = deque(maxlen=EVENT_HISTORY)
        self._event_seq = count(1)
        bus.subscribe("market_data:*", self.on_market_data)
        bus.subscribe(topics.SYSTEM_EVENTS, self.on_system_event)

    def on_market_data(self, event: Any) -> None:
        kind = type(event)
        symbol = getattr(event, "symbol", None)
        if symbol not in self.book_version:
            return  # another venue's symbol that this desk does not trade (Coinbase BTC-USD)
        if kind is BookChanged:
            self.book_version[symbol] += 1
            key = (symbol, event.venue)
            self.venue_book_version[key] = self.venue_book_version.get(key, 0) + 1
        elif kind is Trade:
            self.trades[symbol].appendleft(event)
            self.trade_version[symbol] += 1
            key = (symbol, event.venue)
            tape = self.venue_trades.get(key)
            if tape is None:
                tape = self.venue_trades[key] = deque(maxlen=TAPE_LENGTH)
            tape.appendleft(event)
            self.venue_trade_version[key] = self.venue_trade_version.get(key, 0) + 1
        elif kind is Ticker:
            self.tickers[(symbol, event.venue)] = event
            self.ticker_version += 1
        elif kind is Candle and event.closed:
            self._on_closed_candle(symbol, event)

    def _on_closed_candle(self, symbol: str, candle: Candle) -> None:
        key = (symbol, candle.timeframe, candle.venue)
        history = self.venue_candles.get(key)
        if history is None:
            if (symbol, candle.timeframe) not in self.candles:
                return  # a timeframe the desk does not chart
            history = self.venue_candles[key] = deque(maxlen=CANDLE_HISTORY)
        history.append(candle)
        self.venue_candle_version[key] = self.venue_candle_version.get(key, 0) + 1
        if candle.venue == CHART_VENUE:
            self.candle_version[(symbol, candle.timeframe)] += 1

    def chart_trade_version(self, symbol: str) -> int:
        """How many trades moved ``symbol``'s forming chart bar (the chart venue's)."""
        return self.venue_trade_version.get((symbol, CHART_VENUE), 0)

    def on_system_event(self, event: Any) -> None:
        if isinstance(event, SystemEvent):
            self.events.append(
                EventView(
                    seq=next(self._event_seq),
                    ts=event.ts_recv,
                    source=event.source,
                    kind=event.kind,
                    severity=event.severity,
                    message=event.message,
                    symbol=event.symbol,
                )
            )
