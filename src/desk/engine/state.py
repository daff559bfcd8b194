"""Folds the bus's events into the plain latest state a UI samples.

Subscribed synchronously to every ``market_data:*`` event, so it must stay cheap: it keeps the
event objects themselves (no conversion per tick) and bumps integer versions; views are built
only when a UI asks, at its own rate.
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


class MarketState:
    """Latest trades, tickers, closed candles and book versions per symbol, plus system events."""

    def __init__(self, bus: Bus, symbols: tuple[str, ...], timeframes: tuple[str, ...]) -> None:
        self.trades: dict[str, deque[Trade]] = {s: deque(maxlen=TAPE_LENGTH) for s in symbols}
        self.tickers: dict[str, Ticker] = {}
        self.candles: dict[tuple[str, str], deque[Candle]] = {
            (s, tf): deque(maxlen=CANDLE_HISTORY) for s in symbols for tf in timeframes
        }
        self.book_version: dict[str, int] = dict.fromkeys(symbols, 0)
        self.trade_version: dict[str, int] = dict.fromkeys(symbols, 0)
        self.candle_version: dict[tuple[str, str], int] = dict.fromkeys(self.candles, 0)
        self.ticker_version = 0
        self.events: deque[EventView] = deque(maxlen=EVENT_HISTORY)
        self._event_seq = count(1)
        bus.subscribe("market_data:*", self.on_market_data)
        bus.subscribe(topics.SYSTEM_EVENTS, self.on_system_event)

    def on_market_data(self, event: Any) -> None:
        kind = type(event)
        if kind is BookChanged:
            self.book_version[event.symbol] += 1
        elif kind is Trade:
            self.trades[event.symbol].appendleft(event)
            self.trade_version[event.symbol] += 1
        elif kind is Ticker:
            self.tickers[event.symbol] = event
            self.ticker_version += 1
        elif kind is Candle and event.closed:
            key = (event.symbol, event.timeframe)
            history = self.candles.get(key)
            if history is not None:
                history.append(event)
                self.candle_version[key] += 1

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
