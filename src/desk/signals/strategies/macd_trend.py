"""MACD trend: follow momentum when the MACD line crosses its signal line.

LONG on the bar where the line goes from at/below the signal line to above it, SHORT where it
goes from at/above to below. With ``zero_filter`` a LONG also needs the line above zero and a
SHORT below zero (trade crosses only on the side of the trend). Strength is the histogram
|line - signal| plus the line's distance from zero, relative to price, as a fraction of
``full_level`` (0.2 % of price by default), capped at 1.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np

from desk.core.events import Candle
from desk.signals import indicators as ind
from desk.signals import streaming as live
from desk.signals.signal import Direction
from desk.signals.strategy import (
    LONG,
    NONE,
    SHORT,
    BaseStrategy,
    FloatArray,
    Period,
    Values,
    clamp01,
    codes_from,
    cross_down,
    cross_up,
    crossed_above,
    crossed_below,
)


class MacdTrendParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """fast < slow bars, signal >= 1; zero_filter on/off; full_level > 0 (fraction of price)."""

    fast: Period = 12
    slow: Period = 26
    signal: Period = 9
    zero_filter: bool = False
    full_level: Annotated[float, msgspec.Meta(gt=0)] = 0.002

    def check(self) -> str | None:
        if self.fast >= self.slow:
            return f"`fast` must be shorter than `slow`, got fast={self.fast}, slow={self.slow}"
        return None


class MacdTrend(BaseStrategy):
    """MACD(fast, slow, signal) line/signal crossover, optionally filtered by the zero line."""

    name = "macd_trend"
    Params = MacdTrendParams

    def _reset_stream(self) -> None:
        p = self.params
        self._macd = live.Macd(p.fast, p.slow, p.signal)

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        p = self.params
        line, signal, hist = ind.macd(arrays["close"], p.fast, p.slow, p.signal)
        return {"macd": line, "signal": signal, "hist": hist}

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        line, signal = series["macd"], series["signal"]
        zf = self.params.zero_filter  # then a LONG needs the line > 0, a SHORT < 0
        return codes_from(
            cross_up(line, signal, LONG, sign=1 if zf else 0),
            cross_down(line, signal, SHORT, sign=-1 if zf else 0),
        )

    def _step(self, candle: Candle) -> Values:
        line, signal, hist = self._macd.update(candle.close)
        return {"macd": line, "signal": signal, "hist": hist}

    def _code(self, prev: Values, cur: Values) -> int:
        line = cur["macd"]
        args = (prev["macd"], line, prev["signal"], cur["signal"])
        zf = self.params.zero_filter
        if crossed_above(*args) and (not zf or line > 0.0):
            return LONG
        if crossed_below(*args) and (not zf or line < 0.0):
            return SHORT
        return NONE

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        line, signal = values["macd"], values["signal"]
        gap = (abs(line - signal) + abs(line)) / abs(price) if price else 0.0
        side = "above" if direction is Direction.LONG else "below"
        return (
            clamp01(gap / self.params.full_level),
            f"MACD {line:.6g} crossed {side} signal {signal:.6g}",
        )
