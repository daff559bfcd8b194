"""The rolling 24 h statistics of ``<s>@miniTicker``, from the venue's bar history.

Binance's figures are a rolling window, not the UTC day: ``o`` the first price of the window,
``h``/``l`` its extremes, ``v``/``q`` the base and quote volume of every trade in it, ``c`` the
last price. The simulator's ``BarHistory`` (``desk.sim.history``) holds one-second bars of the
simulated past (``history_hours``) and of every trade published since, so the window is the bars
of the seconds from 24 h before the push up to the one in progress: one numpy pass over at most
86,400 bars a column, done only for a symbol someone subscribed to, once a push. With less than a
day of bars (``history_hours`` under 24, or none) the window starts at the first bar kept, as on
a symbol listed for less than a day.

Without a history (a ``SymbolStreams`` built on its own) the market's ``TickerStats`` stand in:
the statistics since start, the figures the OKX simulator's ``tickers`` channel sends.
"""

from __future__ import annotations

from desk.sim.binance.listings import Listing
from desk.sim.binance.wire import MiniTicker
from desk.sim.history import BarHistory
from desk.sim.market import TickerStats

DAY_MS = 86_400_000
MINI_TICKER_EVENT = "24hrMiniTicker"

Window = tuple[int, int, int, int, int, int]
"""(open, high, low, close) in ticks, volume in lots, quote volume in ticks * lots."""


def day_window(history: BarHistory, now_ms: int) -> Window:
    """The bars of the 24 h up to ``now_ms``, folded into one (``history`` brought up to now)."""
    history.sync(now_ms)
    window = history.bar(now_ms - DAY_MS, now_ms + 1)
    if window is None:  # no bar at all: flat at the last price
        last = history.last_close
        return last, last, last, last, 0, 0
    return window


def since_start(stats: TickerStats) -> Window:
    """The market's own statistics since start, as a window."""
    return stats.open, stats.high, stats.low, stats.last, stats.volume, stats.quote_volume


def mini_ticker(listing: Listing, window: Window, event_ms: int) -> MiniTicker:
    """The ``24hrMiniTicker`` payload of ``window`` at ``event_ms``."""
    open_, high, low, close, volume, quote = window
    px = listing.price
    return MiniTicker(
        MINI_TICKER_EVENT,
        event_ms,
        listing.native,
        px(close),
        px(open_),
        px(high),
        px(low),
        listing.qty(volume),
        listing.quote(quote),
    )
