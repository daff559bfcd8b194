"""Candles for backtests: from desk's SQLite, from a CSV of OHLCV, or simulated offline.

Every source gives :class:`Candles`: parallel arrays with desk's stamps (the candle stamped
``end`` holds ``(end - tf, end]``, :mod:`desk.market.candles`), consecutive (one row per
interval), sorted, and the instrument's rules when they are known.

**CSV convention.** A header row, column names case-insensitive: ``open``, ``high``, ``low``,
``close``, ``volume`` and one time column: ``time``, ``timestamp``, ``ts``, ``date``,
``datetime`` or ``open_time``, holding each candle's **open time** (the start of its interval,
as exchanges' kline downloads write it: OKX, Binance), or ``end``, holding desk's right-aligned
end stamp. The open time is converted to desk's stamp by adding one timeframe
(``stamp="start"``; ``stamp="end"`` overrides the column's name). Times are ISO 8601 (no zone
means UTC) or integers in seconds, milliseconds, microseconds or nanoseconds since the epoch,
told apart by size. Rows must be sorted, unique and on the timeframe's grid; intervals missing
from the file become flat candles (open = high = low = close = the previous close, volume 0),
as the live aggregator makes them, and are counted in ``filled``.

Bad input raises :class:`~desk.backtest.config.BacktestError` with what is wrong.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from desk.backtest.config import BacktestError
from desk.market.candles import aggregate_trades
from desk.market.instruments import Instrument
from desk.market.timeframes import parse_timeframe
from desk.sim.instruments import DEFAULT_INSTRUMENTS
from desk.sim.market import FlowParams, InstrumentMarket

TIME_COLUMNS = ("time", "timestamp", "ts", "date", "datetime", "open_time", "end")
OHLCV = ("open", "high", "low", "close", "volume")
SIM_EPOCH_NS = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z: simulated runs start here


@dataclass(frozen=True)
class Candles:
    """One symbol's candles of one timeframe, oldest first, plus where they came from."""

    symbol: str
    timeframe: str
    venue: str
    source: str
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    instrument: Instrument | None = None
    filled: int = 0

    @property
    def bar_ns(self) -> int:
        return parse_timeframe(self.timeframe)

    def __len__(self) -> int:
        return int(self.end.shape[0])

    @property
    def start_ns(self) -> int:
        """Start of the first interval (its end minus one timeframe)."""
        return int(self.end[0]) - self.bar_ns

    @property
    def end_ns(self) -> int:
        return int(self.end[-1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The OHLCV arrays as :func:`desk.signals.strategy.frame_arrays` lays them out."""
        return {
            "end": self.end,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }

    def window(self, lo: int, hi: int) -> Candles:
        """Rows ``lo:hi`` as their own Candles."""
        return replace(
            self,
            end=self.end[lo:hi],
            open=self.open[lo:hi],
            high=self.high[lo:hi],
            low=self.low[lo:hi],
            close=self.close[lo:hi],
            volume=self.volume[lo:hi],
        )

    def between(self, start_ns: int | None, end_ns: int | None) -> Candles:
        """Candles whose interval lies in [start_ns, end_ns]; BacktestError when none do."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.end, start_ns + self.bar_ns))
        hi = len(self) if end_ns is None else int(np.searchsorted(self.end, end_ns, "right"))
        if hi <= lo:
            raise BacktestError(
                f"no {self.symbol} {self.timeframe} candles between {fmt_ns(start_ns)} and "
                f"{fmt_ns(end_ns)} (the data covers {fmt_ns(self.start_ns)} to "
                f"{fmt_ns(self.end_ns)})"
            )
        return self.window(lo, hi)


def fmt_ns(ns: int | None) -> str:
    """An ns stamp as ISO 8601 UTC ('...' for None)."""
    if ns is None:
        return "..."
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> int:
    """``--from``/``--to``: ISO 8601 (UTC unless a zone is given) or epoch s/ms/us/ns."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return _epoch_to_ns(np.array([int(text)], dtype=np.int64))[0].item()
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise BacktestError(f"cannot read the time {text!r}: use ISO 8601 or epoch") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value)


def _epoch_to_ns(values: np.ndarray) -> np.ndarray:
    """Integers since the epoch in s, ms, us or ns (told apart by the largest) as ns."""
    top = int(np.abs(values).max()) if len(values) else 0
    for limit, scale in ((10**11, 10**9), (10**14, 10**6), (10**17, 10**3)):
        if top < limit:
            return values.astype(np.int64) * scale
    return values.astype(np.int64)


def default_instrument(symbol: str, venue: str = "sim") -> Instrument | None:
    """The simulator's rules for ``symbol`` (BTC/ETH/SOL-USDT), or None."""
    for spec in DEFAULT_INSTRUMENTS:
        if spec.inst_id == symbol:
            return Instrument(
                venue=venue,
                symbol=symbol,
                base=spec.base_ccy,
                quote=spec.quote_ccy,
                tick_size=spec.tick_sz,
                lot_size=spec.lot_sz,
                min_size=spec.min_sz,
            )
    return None


def _check_timeframe(timeframe: str) -> int:
    try:
        return parse_timeframe(timeframe)
    except ValueError as exc:
        raise BacktestError(str(exc)) from None


# ---- SQLite ------------------------------------------------------------------------------


def load_sqlite(
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    venue: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Candles:
    """Closed candles the engine stored in its SQLite ``candles`` table."""
    tf = _check_timeframe(timeframe)
    path = Path(path)
    if not path.is_file():
        raise BacktestError(f"no database at {path}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "candles" not in tables:
            raise BacktestError(f"{path} has no candles table (is it desk's database?)")
        venues = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT venue FROM candles WHERE symbol = ? AND timeframe = ?",
                (symbol, timeframe),
            )
        ]
        if not venues:
            have = con.execute(
                "SELECT symbol, timeframe, COUNT(*) FROM candles GROUP BY symbol, timeframe"
            ).fetchall()
            listed = ", ".join(f"{s} {t} ({c})" for s, t, c in have) or "none"
            raise BacktestError(f"no {symbol} {timeframe} candles in {path}; it has: {listed}")
        if venue is None:
            if len(venues) > 1:
                raise BacktestError(
                    f"{symbol} {timeframe} candles from several venues ({', '.join(venues)}): "
                    "name one with --venue"
                )
            venue = venues[0]
        sql = (
            "SELECT end_ns, open, high, low, close, volume FROM candles "
            "WHERE venue = ? AND symbol = ? AND timeframe = ?"
        )
        params: list[object] = [venue, symbol, timeframe]
        if start_ns is not None:
            sql += " AND end_ns >= ?"
            params.append(start_ns + tf)
        if end_ns is not None:
            sql += " AND end_ns <= ?"
            params.append(end_ns)
        rows = con.execute(sql + " ORDER BY end_ns", params).fetchall()
        instrument = None
        if "instruments" in tables:
            row = con.execute(
                "SELECT venue, symbol, base, quote, tick_size, lot_size, min_size, state "
                "FROM instruments WHERE venue = ? AND symbol = ?",
                (venue, symbol),
            ).fetchone()
            if row is not None:
                keys = ("venue", "symbol", "base", "quote", "tick_size", "lot_size")
                instrument = Instrument(
                    **dict(zip(keys, row[:6], strict=True)), min_size=row[6], state=row[7]
                )
    finally:
        con.close()
    if not rows:
        raise BacktestError(
            f"no {symbol} {timeframe} candles from {venue} between {fmt_ns(start_ns)} and "
            f"{fmt_ns(end_ns)} in {path}"
        )
    table = np.array(rows, dtype=np.float64)
    end = np.array([r[0] for r in rows], dtype=np.int64)
    return _consecutive(symbol, timeframe, venue, f"sqlite:{path}", end, table[:, 1:], instrument)


# ---- CSV ---------------------------------------------------------------------------------


def load_csv(
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    stamp: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Candles:
    """OHLCV candles from a CSV file (module docstring: columns and time convention)."""
    tf = _check_timeframe(timeframe)
    path = Path(path)
    if not path.is_file():
        raise BacktestError(f"no CSV file at {path}")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise BacktestError(f"cannot read {path} as CSV: {exc}") from None
    columns = {str(c).strip().lower(): c for c in frame.columns}
    time_col = next((c for c in TIME_COLUMNS if c in columns), None)
    missing = [c for c in OHLCV if c not in columns]
    if time_col is None:
        missing.insert(0, "a time column (" + ", ".join(TIME_COLUMNS) + ")")
    if missing:
        raise BacktestError(f"{path} lacks columns: {', '.join(missing)}")
    if frame.empty:
        raise BacktestError(f"{path} has no rows")
    assert time_col is not None
    raw = frame[columns[time_col]]
    if pd.api.types.is_integer_dtype(raw):
        times = _epoch_to_ns(raw.to_numpy(dtype=np.int64))
    else:
        try:
            parsed = pd.to_datetime(raw, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise BacktestError(
                f"{path}: cannot read column {time_col!r} as times: {exc}"
            ) from None
        times = parsed.astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]")
        times = times.astype(np.int64)
    which = stamp or ("end" if time_col == "end" else "start")
    if which not in ("start", "end"):
        raise BacktestError(f"stamp must be 'start' or 'end', got {which!r}")
    end = times + (tf if which == "start" else 0)
    values = np.empty((len(frame), 5), dtype=np.float64)
    for k, name in enumerate(OHLCV):
        col = pd.to_numeric(frame[columns[name]], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(col))
        if len(bad):
            raise BacktestError(f"{path}: row {bad[0] + 2}: {name} is not a number")
        values[:, k] = col
    step = np.diff(end)
    if len(step) and (step <= 0).any():
        row = int(np.flatnonzero(step <= 0)[0]) + 3  # 1-based, after the header
        what = "repeats the time of the row before" if step[row - 3] == 0 else "goes back in time"
        raise BacktestError(f"{path}: times must be sorted and unique: row {row} {what}")
    off = np.flatnonzero(end % tf)
    if len(off):
        raise BacktestError(
            f"{path}: row {off[0] + 2} ({fmt_ns(int(end[off[0]]))}) is not on the {timeframe} "
            "grid (is the timeframe right?)"
        )
    bad = np.flatnonzero(values[:, 1] < values[:, 2])
    if len(bad):
        raise BacktestError(f"{path}: row {bad[0] + 2}: high is below low")
    candles = _consecutive(
        symbol, timeframe, "csv", f"csv:{path}", end, values, default_instrument(symbol, "csv")
    )
    if start_ns is not None or end_ns is not None:
        candles = candles.between(start_ns, end_ns)
    return candles


def _consecutive(
    symbol: str,
    timeframe: str,
    venue: str,
    source: str,
    end: np.ndarray,
    values: np.ndarray,
    instrument: Instrument | None,
) -> Candles:
    """Candles with flat rows for the intervals missing between ``end`` stamps."""
    tf = parse_timeframe(timeframe)
    slot = (end - end[0]) // tf
    n = int(slot[-1]) + 1
    full = np.empty((n, 5))
    have = np.zeros(n, dtype=bool)
    have[slot] = True
    full[slot] = values
    filled = int(n - len(end))
    if filled > 10 * len(end):
        raise BacktestError(
            f"{source}: {len(end)} rows span {n} {timeframe} intervals: the data is far "
            "sparser than the timeframe (is the timeframe right?)"
        )
    if filled:
        last = np.maximum.accumulate(np.where(have, np.arange(n), 0))
        prev_close = full[last, 3]
        gaps = ~have
        for k in range(4):
            full[gaps, k] = prev_close[gaps]
        full[gaps, 4] = 0.0
    return Candles(
        symbol=symbol,
        timeframe=timeframe,
        venue=venue,
        source=source,
        end=end[0] + np.arange(n, dtype=np.int64) * tf,
        open=np.ascontiguousarray(full[:, 0]),
        high=np.ascontiguousarray(full[:, 1]),
        low=np.ascontiguousarray(full[:, 2]),
        close=np.ascontiguousarray(full[:, 3]),
        volume=np.ascontiguousarray(full[:, 4]),
        instrument=instrument,
        filled=filled,
    )


# ---- the simulator -----------------------------------------------------------------------


def simulate_candles(
    hours: float,
    symbol: str,
    timeframe: str,
    *,
    seed: int = 7,
    steps_per_second: float = 200.0,
    start_ns: int = SIM_EPOCH_NS,
    progress: Callable[[int, int], None] | None = None,
) -> Candles:
    """``hours`` of the simulator's synthetic market for ``symbol``, as candles.

    The market is the one ``desk sim-server`` runs (:mod:`desk.sim.market`, same seed, same
    flow), stepped ``steps_per_second`` times per simulated second (the server's default
    200; about 25 s of CPU per simulated hour) without a clock or a socket; its trades are
    aggregated as the live aggregator does. ``progress(steps_done, steps_total)`` is called
    now and then. The last, incomplete interval is dropped.
    """
    tf = _check_timeframe(timeframe)
    if not hours > 0 or not math.isfinite(hours):
        raise BacktestError(f"--sim needs a number of hours > 0, got {hours!r}")
    if not steps_per_second > 0:
        raise BacktestError(f"steps per second must be > 0, got {steps_per_second!r}")
    spec = next((s for s in DEFAULT_INSTRUMENTS if s.inst_id == symbol), None)
    if spec is None:
        known = ", ".join(s.inst_id for s in DEFAULT_INSTRUMENTS)
        raise BacktestError(f"the simulator has no {symbol}; it trades {known}")
    market = InstrumentMarket(spec, seed, FlowParams())
    total = int(hours * 3600 * steps_per_second)
    start_ms = start_ns // 1_000_000
    ts: list[int] = []
    px: list[int] = []
    sz: list[int] = []
    every = max(1, total // 200)
    for k in range(total):
        market.step(start_ms + int(k * 1000 / steps_per_second))
        market.drain_changes()
        for agg in market.drain_trades():
            ts.append(agg.ts_ms)
            px.append(agg.price)
            sz.append(agg.size)
        if progress is not None and (k + 1) % every == 0:
            progress(k + 1, total)
    if progress is not None:
        progress(total, total)
    if not ts:
        raise BacktestError(f"the simulated {hours} h of {symbol} produced no trades")
    # As Step.to_float does: units x mantissa / 10**decimals.
    price = np.array(px, dtype=np.float64) * spec.tick.mantissa / 10**spec.tick.decimals
    size = np.array(sz, dtype=np.float64) * spec.lot.mantissa / 10**spec.lot.decimals
    arrays = aggregate_trades(np.array(ts, dtype=np.int64) * 1_000_000, price, size, tf)
    stop_ns = start_ns + int(hours * 3600 * 1e9)
    keep = arrays.end <= stop_ns
    if not keep.any():
        raise BacktestError(f"{hours} h is shorter than one {timeframe} candle")
    return Candles(
        symbol=symbol,
        timeframe=timeframe,
        venue="sim",
        source=f"sim:{hours}h seed={seed}",
        end=arrays.end[keep],
        open=arrays.open[keep],
        high=arrays.high[keep],
        low=arrays.low[keep],
        close=arrays.close[keep],
        volume=arrays.volume[keep],
        instrument=default_instrument(symbol),
    )
