"""Training bars from a recording directory (``desk train --data PATH``).

OHLCV of any timeframe rebuilt from the recorded trades (or the recorder's own candles of that
timeframe), plus each bar's taker buy and sell volume when trades were the source, so the
order-flow features have their inputs (:mod:`desk.sim.replay.bars` has the rules).
"""

from __future__ import annotations

from pathlib import Path

from desk.signals.model.data import DataError, MarketSeries
from desk.sim.replay.bars import load_bars
from desk.sim.replay.files import RecordingError


def load_recording(
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> MarketSeries:
    """``symbol``'s bars of ``timeframe`` from the recording at ``path``; ``DataError`` when
    there are none."""
    try:
        bars = load_bars(path, symbol, timeframe, start_ns=start_ns, end_ns=end_ns)
    except RecordingError as exc:
        raise DataError(str(exc)) from None
    return MarketSeries(
        symbol=symbol,
        timeframe=timeframe,
        source=bars.source,
        end_ns=bars.end,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        buy_volume=bars.buy_volume,
        sell_volume=bars.sell_volume,
    )
