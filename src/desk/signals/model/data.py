"""Where training data comes from: a CSV of OHLCV, the SQLite ``candles`` table, or the simulator.

Each source gives one :class:`MarketSeries` per symbol: candles as parallel arrays, and where the
source has them, the per-bar book and trade-flow inputs of the features (top-of-book sizes, best
bid and ask at the close, taker buy and sell volume).

* **CSV** (:func:`load_csv`): a header row naming at least a time column (``end_ns``, ``ts``,
  ``timestamp``, ``time``, ``date`` or ``end``) and ``open``, ``high``, ``low``, ``close``,
  ``volume`` (any case). Numeric times are read as seconds, milliseconds, microseconds or
  nanoseconds since the epoch by their size; other times as ISO 8601 (UTC when no offset is
  given). Optional columns: ``buy_volume`` and ``sell_volume``; ``bid`` and ``ask``;
  ``bid_size_1`` .. ``bid_size_N`` with ``ask_size_1`` .. ``ask_size_N``. Rows must be in time
  order without repeats.
* **SQLite** (:func:`load_sqlite`): desk's own database (``desk.storage.schema``), table
  ``candles`` (closed candles by venue, symbol, timeframe), opened read-only. It stores no book
  or trade-flow inputs, so those features read their neutral defaults.
* **Simulator** (:func:`generate_sim`): the simulator's synthetic market (:mod:`desk.sim.market`,
  the order flow ``desk --sim`` trades against) stepped offline at full speed, ``steps_per_second``
  steps per simulated second (the simulator's default is 200), with trades folded into candles
  and the book's top levels sampled at each bar's close. Same seed, same data.

No torch here (a test holds it).
"""

from __future__ import annotations

import csv
import math
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from desk.core.enums import Side
from desk.market.timeframes import parse_timeframe
from desk.signals.model.features import FeatureConfig, compute_features

FloatArray = npt.NDArray[np.float64]
NS_PER_S = 1_000_000_000
SIM_START_NS = 1_704_067_200 * NS_PER_S  # 2024-01-01T00:00:00Z: generated data starts here
TIME_COLUMNS = ("end_ns", "ts", "timestamp", "time", "date", "end")
OHLCV = ("open", "high", "low", "close", "volume")
OPTIONAL = ("bid_sizes", "ask_sizes", "bid", "ask", "buy_volume", "sell_volume")
ARRAY_FIELDS = ("end_ns", *OHLCV, *OPTIONAL)


class DataError(ValueError):
    """Training data could not be read; the message says which file, row or query, and why."""


@dataclass(frozen=True, eq=False)
class MarketSeries:
    """One symbol's bars, oldest first; the optional inputs are None when the source lacks them."""

    symbol: str
    timeframe: str
    source: str
    end_ns: npt.NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    bid_sizes: FloatArray | None = None  # (bars, levels), best first
    ask_sizes: FloatArray | None = None
    bid: FloatArray | None = None
    ask: FloatArray | None = None
    buy_volume: FloatArray | None = None
    sell_volume: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.end_ns.shape[0])

    def features(self, config: FeatureConfig | None = None) -> FloatArray:
        """The feature matrix of these bars (:func:`~.features.compute_features`)."""
        return compute_features(
            self.high, self.low, self.close, self.volume,
            bid_sizes=self.bid_sizes, ask_sizes=self.ask_sizes, bid=self.bid, ask=self.ask,
            buy_volume=self.buy_volume, sell_volume=self.sell_volume, config=config,
        )  # fmt: skip

    def spread_bps(self) -> FloatArray | None:
        """The spread at each bar's close in bps, or None when the source has no quotes."""
        if self.bid is None or self.ask is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.ask - self.bid) / ((self.ask + self.bid) * 0.5) * 1e4

    def between(self, start_ns: int | None, end_ns: int | None) -> MarketSeries:
        """The bars whose end lies in [start_ns, end_ns] (either bound may be None)."""
        keep = np.ones(len(self), dtype=bool)
        if start_ns is not None:
            keep &= self.end_ns >= start_ns
        if end_ns is not None:
            keep &= self.end_ns <= end_ns
        cut = {f: getattr(self, f) for f in ARRAY_FIELDS}
        return replace(self, **{f: None if a is None else a[keep] for f, a in cut.items()})


def parse_time(text: str) -> int:
    """An ISO 8601 date or time (UTC unless it says otherwise), or epoch s/ms/us/ns, as ns."""
    text = text.strip()
    try:
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise DataError(f"not a time: {text!r}")
        for scale, floor in ((1, 1e17), (1_000, 1e14), (1_000_000, 1e11)):
            if abs(value) >= floor:
                return round(value * scale)
        return round(value * NS_PER_S)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"not a time: {text!r} (ISO 8601 or epoch seconds/ms/us/ns)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return round(stamp.timestamp() * 1e6) * 1_000


def _check_order(end_ns: npt.NDArray[np.int64], where: str) -> None:
    if end_ns.shape[0] > 1:
        bad = np.flatnonzero(end_ns[1:] <= end_ns[:-1])
        if bad.size:
            raise DataError(f"{where}: bar {bad[0] + 2} is not after the bar before it")


def load_csv(path: str | Path, symbol: str = "", timeframe: str = "") -> MarketSeries:
    """One series from a CSV file (columns in the module docstring)."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    if not rows:
        raise DataError(f"{path}: empty file")
    header = [h.strip().lower() for h in rows[0]]
    column = {name: i for i, name in enumerate(header)}
    time_col = next((c for c in TIME_COLUMNS if c in column), None)
    missing = [c for c in OHLCV if c not in column]
    if time_col is None or missing:
        want = missing + ([] if time_col else ["a time column (" + "/".join(TIME_COLUMNS) + ")"])
        raise DataError(f"{path}: missing column(s): {', '.join(want)}")
    levels = 0
    while f"bid_size_{levels + 1}" in column and f"ask_size_{levels + 1}" in column:
        levels += 1
    numeric = [*OHLCV, "buy_volume", "sell_volume", "bid", "ask"]
    numeric += [f"{s}_size_{k}" for k in range(1, levels + 1) for s in ("bid", "ask")]
    present = [c for c in numeric if c in column]
    values = {c: np.empty(len(rows) - 1) for c in present}
    end_ns = np.empty(len(rows) - 1, dtype=np.int64)
    for r, row in enumerate(rows[1:]):
        line = r + 2
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        try:
            end_ns[r] = parse_time(row[column[time_col]])
            for c in present:
                values[c][r] = float(row[column[c]])
        except (ValueError, DataError) as exc:
            raise DataError(f"{path}:{line}: {exc}") from None
    _check_order(end_ns, str(path))

    def pair(a: str, b: str) -> tuple[FloatArray | None, FloatArray | None]:
        return (values[a], values[b]) if a in values and b in values else (None, None)

    buy, sell = pair("buy_volume", "sell_volume")
    bid, ask = pair("bid", "ask")
    bid_sizes = ask_sizes = None
    if levels:
        bid_sizes = np.column_stack([values[f"bid_size_{k}"] for k in range(1, levels + 1)])
        ask_sizes = np.column_stack([values[f"ask_size_{k}"] for k in range(1, levels + 1)])
    return MarketSeries(
        symbol or path.stem, timeframe, f"csv:{path}", end_ns,
        *(values[c] for c in OHLCV),
        bid_sizes=bid_sizes, ask_sizes=ask_sizes, bid=bid, ask=ask,
        buy_volume=buy, sell_volume=sell,
    )  # fmt: skip


def load_sqlite(
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    venue: str = "okx",
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> MarketSeries:
    """Closed candles of one (venue, symbol, timeframe) from desk's SQLite file, oldest first."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such database")
    query = (
        "SELECT end_ns, open, high, low, close, volume FROM candles"
        " WHERE venue = ? AND symbol = ? AND timeframe = ? AND end_ns >= ? AND end_ns <= ?"
        " ORDER BY end_ns"
    )
    lo = -(1 << 63) if start_ns is None else start_ns
    hi = (1 << 63) - 1 if end_ns is None else end_ns
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute(query, (venue, symbol, timeframe, lo, hi)).fetchall()
            if not rows:
                have = db.execute(
                    "SELECT venue, symbol, timeframe, COUNT(*) FROM candles"
                    " GROUP BY venue, symbol, timeframe ORDER BY venue, symbol, timeframe"
                ).fetchall()
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot read the candles table: {exc}") from None
    if not rows:
        listing = ", ".join(f"{v}/{s}/{t} ({n} bars)" for v, s, t, n in have) or "none"
        raise DataError(
            f"{path}: no candles for {venue}/{symbol}/{timeframe} in that range; stored: {listing}"
        )
    arr = np.asarray(rows, dtype=np.float64)
    stamps = np.asarray([r[0] for r in rows], dtype=np.int64)
    return MarketSeries(
        symbol, timeframe, f"sqlite:{path}", stamps, *(arr[:, k] for k in range(1, 6))
    )


def generate_sim(
    hours: float,
    symbols: Sequence[str] = ("BTC-USDT",),
    timeframe: str = "1m",
    *,
    seed: int = 7,
    steps_per_second: float = 200.0,
    book_levels: int = 5,
    start_ns: int = SIM_START_NS,
    progress: Callable[[int, int], None] | None = None,
) -> list[MarketSeries]:
    """``hours`` of the simulator's market for ``symbols``, one series each (module docstring).

    ``progress(done, total)`` is called with bars done after each bar.
    """
    from desk.sim.instruments import DEFAULT_INSTRUMENTS
    from desk.sim.market import SyntheticMarket

    specs = {s.inst_id: s for s in DEFAULT_INSTRUMENTS}
    unknown = [s for s in symbols if s not in specs]
    if unknown or not symbols:
        raise DataError(f"the simulator has no {unknown or 'symbol'}; it has {sorted(specs)}")
    if not (hours > 0 and math.isfinite(hours)) or not steps_per_second > 0:
        raise DataError("hours and steps_per_second must be positive")
    tf_ns = parse_timeframe(timeframe)
    steps_per_bar = max(1, round(tf_ns / NS_PER_S * steps_per_second))
    bars = max(1, int(hours * 3600 * NS_PER_S // tf_ns))
    market = SyntheticMarket([specs[s] for s in symbols], seed=seed)
    first_end = (start_ns // tf_ns + 1) * tf_ns
    step_ms = tf_ns / steps_per_bar / 1e6
    out = {s: _SimBars(bars, book_levels) for s in symbols}
    for s in symbols:
        out[s].last = specs[s].tick.to_float(market.engine(s).best_bid() or 0)
    step = 0
    for b in range(bars):
        for _ in range(steps_per_bar):
            ts_ms = int((first_end - tf_ns) / 1e6 + step * step_ms)
            market.step(ts_ms)
            step += 1
            for s in symbols:
                market.drain_changes(s)
                spec = specs[s]
                for t in market.drain_trades(s):
                    size = spec.lot.to_float(t.size)
                    out[s].trade(spec.tick.to_float(t.price), size, t.side is Side.BUY)
        for s in symbols:
            out[s].close_bar(market.markets[s], b)
        if progress is not None:
            progress(b + 1, bars)
    ends = first_end + tf_ns * np.arange(bars, dtype=np.int64)
    source = f"sim:seed={seed},steps_per_second={steps_per_second:g}"
    return [out[s].series(s, timeframe, source, ends) for s in symbols]


class _SimBars:
    """Bars being built from the simulator's trades, plus the book sampled at each close."""

    def __init__(self, bars: int, levels: int) -> None:
        self.ohlcv = np.zeros((bars, 5))
        self.flow = np.zeros((bars, 2))
        self.quotes = np.zeros((bars, 2))
        self.sizes = np.zeros((2, bars, levels))
        self.levels = levels
        self.last = 0.0
        self._bar = [math.nan, -math.inf, math.inf, math.nan, 0.0, 0.0, 0.0]

    def trade(self, price: float, size: float, buy: bool) -> None:
        bar = self._bar
        if math.isnan(bar[0]):
            bar[0] = price
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += size
        bar[5 if buy else 6] += size

    def close_bar(self, market: object, b: int) -> None:
        bar = self._bar
        if math.isnan(bar[0]):  # no trade: a flat bar at the last price
            bar[:4] = [self.last] * 4
        self.ohlcv[b] = bar[:5]
        self.flow[b] = bar[5:]
        self.last = bar[3]
        self._bar = [math.nan, -math.inf, math.inf, math.nan, 0.0, 0.0, 0.0]
        engine, spec = market.engine, market.spec  # type: ignore[attr-defined]
        for k, book in enumerate((engine.bids, engine.asks)):
            prices = book.ordered()[: self.levels]
            for j, p in enumerate(prices):
                self.sizes[k, b, j] = spec.lot.to_float(book.levels[p].total)
            best = prices[0] if prices else None
            self.quotes[b, k] = math.nan if best is None else spec.tick.to_float(best)

    def series(self, symbol: str, tf: str, source: str, ends: np.ndarray) -> MarketSeries:
        o = self.ohlcv
        return MarketSeries(
            symbol, tf, source, ends, o[:, 0], o[:, 1], o[:, 2], o[:, 3], o[:, 4],
            bid_sizes=self.sizes[0], ask_sizes=self.sizes[1],
            bid=self.quotes[:, 0], ask=self.quotes[:, 1],
            buy_volume=self.flow[:, 0], sell_volume=self.flow[:, 1],
        )  # fmt: skip
