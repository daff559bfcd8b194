"""Candles for backtests and sweeps from a recording directory (``--data PATH``).

Candles of any timeframe: the recorder's own candles of that timeframe when it kept them, else
rebuilt from the recorded trades with the live aggregator's right-aligned buckets, so they
equal the candles a replay's engine closes (:mod:`desk.sim.replay.bars` has the rules). Files
that cannot be read are skipped and named in ``Candles.source``.
"""

from __future__ import annotations

from pathlib import Path

from desk.backtest.config import BacktestError
from desk.backtest.data import Candles, default_instrument
from desk.sim.replay.bars import load_bars
from desk.sim.replay.files import RecordingError


def load_recording(
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    venue: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Candles:
    """``symbol``'s candles of ``timeframe`` from the recording at ``path``."""
    try:
        bars = load_bars(path, symbol, timeframe, venue=venue, start_ns=start_ns, end_ns=end_ns)
    except RecordingError as exc:
        raise BacktestError(str(exc)) from None
    if not len(bars.end):
        raise BacktestError(f"{path}: no {symbol} {timeframe} candles in the range asked")
    return Candles(
        symbol=symbol,
        timeframe=timeframe,
        venue=bars.venue,
        source=bars.source,
        end=bars.end,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        instrument=default_instrument(symbol, bars.venue),
        filled=bars.filled,
    )
