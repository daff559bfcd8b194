"""Candles from trades: streaming (live) and vectorised (research), with one contract.

The contract
------------
* **Right-aligned stamps.** A candle of timeframe ``tf`` stamped ``end`` holds the trades with
  exchange time ``ts`` in ``(end - tf, end]``: ``end = ceil(ts / tf) * tf``. So the 5m candle
  stamped 09:05:00 holds trades after 09:00:00 up to and including 09:05:00.000000000, and a
  trade at 09:05:00.000000001 belongs to the 09:10 candle. All times are int ns since the Unix
  epoch (UTC) and buckets are aligned to the epoch.
* **Every interval gets a candle** once a symbol has traded: an interval without trades yields
  a flat candle (open = high = low = close = the previous close, volume 0, quote volume 0,
  trades 0). Nothing is emitted before the first trade.
* **Bounded filling.** A gap of more than ``max_fill_bars`` empty intervals (a process that
  slept for hours, a timestamp from another year) is not filled bar by bar: it is counted
  (``gaps``), reported through ``on_gap``, and the series restarts after it.
* **Closing.** A candle is emitted once, closed, in order: when a trade lands in a later bucket
  (first the forming candle, then one flat candle per skipped interval), or when the clock
  passes ``end + grace_ns`` (``on_clock``), trade or no trade.
* **Late trades** (bucket end <= the last closed end of that timeframe) are not applied; they
  are counted per timeframe (``late_trades`` sums them, so a trade late for two timeframes
  counts twice).
* **Numbers.** ``volume`` = sum of sizes, ``quote_volume`` = sum of price * size, ``trades`` =
  number of trades, all accumulated in trade order from 0.0, so the streaming aggregator and
  ``aggregate_trades`` produce identical floats for the same trades.
* An emitted ``Candle`` has ``ts_exchange = end`` and ``ts_recv`` = the clock at emission.
* **Whose clock.** Live, ``clock`` is the wall clock. For historical data (a replay, a backtest)
  pass ``clock=None``: the aggregator then keeps the data's own time (the latest trade's exchange
  time) and never consults the wall clock, so 2022 data is not filled up to today.

``CandleAggregator`` is the live path (O(1) per trade and timeframe); ``aggregate_trades`` the
batch path for backtests, a numba kernel compiled on first use so that importing this module
does not import numba.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from desk.core.clock import Clock
from desk.core.events import Candle
from desk.market.timeframes import parse_timeframe

DEFAULT_MAX_FILL_BARS = 1000
"""Empty intervals filled with flat candles in one go at most (16 min of 1s bars, 41 days of 1h)."""


def _stamp(ns: int) -> str:
    try:
        return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{ns} ns"


def bucket_end(ts_ns: int, timeframe_ns: int) -> int:
    """End stamp of the candle holding a trade at ``ts_ns``: ``ceil(ts / tf) * tf``."""
    return -(-ts_ns // timeframe_ns) * timeframe_ns


class _Forming:
    """The mutable state of one candle while its interval is open."""

    __slots__ = ("close", "end", "high", "low", "open", "quote_volume", "trades", "volume")

    def __init__(self, end: int, price: float, size: float) -> None:
        self.end = end
        self.open = self.high = self.low = self.close = price
        self.volume = 0.0 + size
        self.quote_volume = 0.0 + price * size
        self.trades = 1


class _Series:
    """One timeframe of one symbol: the forming candle and where the closed ones stop."""

    __slots__ = ("forming", "gaps", "last_close", "last_end", "late", "name", "tf")

    def __init__(self, name: str) -> None:
        self.name = name
        self.tf = parse_timeframe(name)
        self.forming: _Forming | None = None
        self.last_end: int | None = None  # end of the last closed interval; None before trades
        self.last_close = math.nan
        self.late = 0
        self.gaps = 0  # gaps too long to fill, skipped


class CandleAggregator:
    """Streams one symbol's trades into candles of several timeframes (see the module doc).

    ``clock=None`` runs on the data's own time (historical data); ``on_gap`` gets a sentence for
    every gap longer than ``max_fill_bars`` intervals that was skipped instead of filled.
    """

    def __init__(
        self,
        venue: str,
        symbol: str,
        timeframes: Sequence[str],
        clock: Clock | None,
        on_candle: Callable[[Candle], None],
        grace_ns: int = 0,
        *,
        max_fill_bars: int = DEFAULT_MAX_FILL_BARS,
        on_gap: Callable[[str], None] | None = None,
    ) -> None:
        if max_fill_bars < 0:
            raise ValueError("max_fill_bars must not be negative")
        self.venue = venue
        self.symbol = symbol
        self.clock = clock
        self.on_candle = on_candle
        self.grace_ns = grace_ns
        self.max_fill_bars = max_fill_bars
        self.on_gap = on_gap
        self.data_now_ns = 0  # the latest exchange time seen: "now" when clock is None
        self._series = [_Series(name) for name in dict.fromkeys(timeframes)]
        self._by_name = {s.name: s for s in self._series}

    def now_ns(self) -> int:
        """The aggregator's clock: the wall clock live, the data's own time without a clock."""
        return self.data_now_ns if self.clock is None else self.clock.now_ns()

    @property
    def timeframes(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._series)

    @property
    def late_trades(self) -> int:
        """Trades rejected as late, summed over timeframes."""
        return sum(s.late for s in self._series)

    def late_trades_by_timeframe(self) -> dict[str, int]:
        return {s.name: s.late for s in self._series}

    @property
    def gaps(self) -> int:
        """Gaps longer than ``max_fill_bars`` that were skipped, summed over timeframes."""
        return sum(s.gaps for s in self._series)

    def on_trade(self, ts_exchange_ns: int, price: float, size: float) -> None:
        """Fold one trade into the forming candle of every timeframe (closing earlier ones)."""
        if ts_exchange_ns > self.data_now_ns:
            self.data_now_ns = ts_exchange_ns
        for s in self._series:
            end = -(-ts_exchange_ns // s.tf) * s.tf
            f = s.forming
            if f is not None and end == f.end:  # the common case: same interval
                if price > f.high:
                    f.high = price
                if price < f.low:
                    f.low = price
                f.close = price
                f.volume += size
                f.quote_volume += price * size
                f.trades += 1
            elif s.last_end is None:  # the symbol's first trade
                s.last_end = end - s.tf
                s.forming = _Forming(end, price, size)
            elif end <= s.last_end:
                s.late += 1
            else:  # a later interval: close what is open, fill the gap (if any), start anew
                self._close_forming(s)
                if end - s.tf > s.last_end:
                    self._emit_flats(s, until=end - s.tf)
                s.forming = _Forming(end, price, size)

    def seed(self, timeframe: str, last: Candle | None, forming: Candle | None = None) -> None:
        """Continue ``timeframe`` after history fetched from the venue (a backfill).

        ``last`` is the newest closed bar of that history, ``forming`` the venue's bar still in
        progress (the trades it already holds); live trades then extend ``forming`` and the
        series goes on from there, flat-filling as usual. Ignored once the series has live data.
        """
        s = self._by_name[timeframe]
        if s.last_end is not None or (last is None and forming is None):
            return
        if last is not None:
            s.last_end, s.last_close = last.end, last.close
        if forming is None or (last is not None and forming.end != last.end + s.tf):
            return
        if last is None:
            s.last_end, s.last_close = forming.end - s.tf, forming.open
        f = _Forming(forming.end, forming.open, 0.0)
        f.high, f.low, f.close = forming.high, forming.low, forming.close
        f.volume, f.quote_volume, f.trades = forming.volume, forming.quote_volume, forming.trades
        s.forming = f

    def on_clock(self) -> None:
        """Close every candle whose ``end + grace_ns`` the clock has passed (cheap when none)."""
        now = self.now_ns()
        deadline = now - self.grace_ns  # a candle is due when its end < deadline
        for s in self._series:
            if s.last_end is None or s.last_end + s.tf >= deadline:
                continue
            if s.forming is not None:
                self._close_forming(s)
            last_due = bucket_end(deadline, s.tf) - s.tf  # highest end with end < deadline
            self._emit_flats(s, until=last_due)

    def forming(self, timeframe: str) -> Candle | None:
        """The candle still forming for ``timeframe`` (closed=False), or None if none is open.

        None also between a close by the clock and the next trade: the interval in progress has
        no trade yet (it will be emitted flat if none comes). KeyError for a timeframe this
        aggregator does not keep.
        """
        s = self._by_name[timeframe]
        f = s.forming
        if f is None:
            return None
        return self._candle(s, f.end, f.open, f.high, f.low, f.close, f, closed=False)

    # -- emission ------------------------------------------------------------------------------

    def _close_forming(self, s: _Series) -> None:
        f = s.forming
        if f is None:
            return
        s.forming = None
        s.last_end = end = f.end
        s.last_close = close = f.close
        self.on_candle(self._candle(s, end, f.open, f.high, f.low, close, f, closed=True))

    def _emit_flats(self, s: _Series, until: int) -> None:
        """Flat candles for every interval after the last closed one, up to end ``until``;
        more than ``max_fill_bars`` of them are a gap: skipped, counted and reported."""
        assert s.last_end is not None
        missing = (until - s.last_end) // s.tf
        if missing > self.max_fill_bars:
            s.gaps += 1
            if self.on_gap is not None:
                self.on_gap(
                    f"{self.symbol} {s.name}: {missing:,} empty intervals after "
                    f"{_stamp(s.last_end)} up to {_stamp(until)} not filled (more than "
                    f"{self.max_fill_bars:,}); the series restarts"
                )
            s.last_end = until
            return
        close = s.last_close
        for end in range(s.last_end + s.tf, until + 1, s.tf):
            s.last_end = end
            self.on_candle(self._candle(s, end, close, close, close, close, None, closed=True))

    def _candle(
        self,
        s: _Series,
        end: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        f: _Forming | None,
        closed: bool,
    ) -> Candle:
        return Candle(
            ts_exchange=end,
            ts_recv=self.now_ns(),
            venue=self.venue,
            symbol=self.symbol,
            timeframe=s.name,
            end=end,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=0.0 if f is None else f.volume,
            quote_volume=0.0 if f is None else f.quote_volume,
            trades=0 if f is None else f.trades,
            closed=closed,
        )


# -- vectorised ------------------------------------------------------------------------------


class CandleArrays(NamedTuple):
    """Candles as parallel arrays, one row per interval (flat rows for empty intervals)."""

    end: np.ndarray  # int64 ns, right-aligned stamps, consecutive
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trades: np.ndarray  # int64


def aggregate_trades(
    ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray, timeframe_ns: int
) -> CandleArrays:
    """Candles of ``timeframe_ns`` from trades sorted by time, by the module's contract.

    Rows run from the first trade's bucket to the last trade's bucket inclusive.
    """
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    px = np.ascontiguousarray(price, dtype=np.float64)
    sz = np.ascontiguousarray(size, dtype=np.float64)
    if not ts.shape == px.shape == sz.shape or ts.ndim != 1:
        raise ValueError("ts_ns, price and size must be 1-d arrays of the same length")
    if timeframe_ns <= 0:
        raise ValueError(f"timeframe_ns must be positive, not {timeframe_ns}")
    if ts.shape[0] > 1 and bool(np.any(ts[1:] < ts[:-1])):
        raise ValueError("trades must be sorted by ts_ns")
    return CandleArrays(*_kernel()(ts, px, sz, np.int64(timeframe_ns)))


@cache
def _kernel() -> Callable[..., Any]:
    """The numba-compiled kernel; compiled (or loaded from the cache) on first use."""
    import numba  # deliberately lazy: keeps numba out of importers' start-up

    return numba.njit(cache=True, nogil=True)(_aggregate_kernel)


def _aggregate_kernel(
    ts: np.ndarray, price: np.ndarray, size: np.ndarray, tf: np.int64
) -> tuple[np.ndarray, ...]:
    """Plain-Python body of the kernel (numba compiles it; it also runs uncompiled)."""
    m = ts.shape[0]
    n = 0
    first = np.int64(0)
    if m > 0:
        first = -(-ts[0] // tf) * tf
        n = (-(-ts[m - 1] // tf) * tf - first) // tf + 1
    end = np.empty(n, np.int64)
    open_ = np.empty(n, np.float64)
    high = np.empty(n, np.float64)
    low = np.empty(n, np.float64)
    close = np.empty(n, np.float64)
    volume = np.empty(n, np.float64)
    quote = np.empty(n, np.float64)
    trades = np.empty(n, np.int64)
    b = -1  # row of the last trade
    for k in range(m):
        p = price[k]
        s = size[k]
        j = (-(-ts[k] // tf) * tf - first) // tf
        if j == b:
            if p > high[j]:
                high[j] = p
            if p < low[j]:
                low[j] = p
            close[j] = p
            volume[j] += s
            quote[j] += p * s
            trades[j] += 1
            continue
        for g in range(b + 1, j):  # empty intervals since the last trade: flat rows
            end[g] = first + g * tf
            open_[g] = high[g] = low[g] = close[g] = close[b]
            volume[g] = 0.0
            quote[g] = 0.0
            trades[g] = 0
        end[j] = first + j * tf
        open_[j] = high[j] = low[j] = close[j] = p
        volume[j] = 0.0 + s
        quote[j] = 0.0 + p * s
        trades[j] = 1
        b = j
    return end, open_, high, low, close, volume, quote, trades
