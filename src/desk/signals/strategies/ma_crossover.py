"""Moving-average crossover: follow the trend when a fast average crosses a slow one.

LONG on the bar where fast goes from at/below slow to above it, SHORT where it goes from
at/above to below. Strength is the gap |fast - slow| / slow as a fraction of ``full_gap``
(0.5 % by default), capped at 1: a cross that opens a wide gap at once is a stronger move.
"""

from __future__ import annotations

from typing import Annotated, Literal

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
)

_LONG = Direction.LONG  # a global: ``Direction.LONG`` costs ~140 ns a lookup on CPython 3.11


class MaCrossoverParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """fast < slow bars; kind "sma" or "ema"; full_gap > 0 (relative gap read as strength 1)."""

    fast: Period = 10
    slow: Period = 30
    kind: Literal["sma", "ema"] = "sma"
    full_gap: Annotated[float, msgspec.Meta(gt=0)] = 0.005

    def check(self) -> str | None:
        if self.fast >= self.slow:
            return f"`fast` must be shorter than `slow`, got fast={self.fast}, slow={self.slow}"
        return None


class MaCrossover(BaseStrategy):
    """Fast/slow SMA or EMA crossover."""

    name = "ma_crossover"
    Params = MaCrossoverParams

    def _build(self) -> None:
        # The reason's template per side, built once: a signal then costs one ``%`` with two
        # ``%.6g`` (the same text as ``format(x, ".6g")``, a little cheaper than an f-string)
        kind = self.params.kind.upper()
        self._above = f"fast {kind} %.6g crossed above slow {kind} %.6g"
        self._below = f"fast {kind} %.6g crossed below slow {kind} %.6g"
        self._full_gap = self.params.full_gap

    def _reset_stream(self) -> None:
        make = live.Sma if self.params.kind == "sma" else live.Ema
        self._fast, self._slow = make(self.params.fast), make(self.params.slow)

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        f = ind.sma if self.params.kind == "sma" else ind.ema
        close = arrays["close"]
        return {"fast": f(close, self.params.fast), "slow": f(close, self.params.slow)}

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        fast, slow = series["fast"], series["slow"]
        return codes_from(cross_up(fast, slow, LONG), cross_down(fast, slow, SHORT))

    def _step(self, candle: Candle) -> Values:
        close = candle.close
        return {"fast": self._fast.update(close), "slow": self._slow.update(close)}

    def _code(self, prev: Values, cur: Values) -> int:
        # crossed_above / crossed_below (fast over slow), written out: every bar takes this
        prev_fast, fast, prev_slow, slow = prev["fast"], cur["fast"], prev["slow"], cur["slow"]
        if prev_fast <= prev_slow and fast > slow:
            return LONG
        if prev_fast >= prev_slow and fast < slow:
            return SHORT
        return NONE

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        fast, slow = values["fast"], values["slow"]
        strength = clamp01(abs(fast - slow) / abs(slow) / self._full_gap)
        template = self._above if direction is _LONG else self._below
        return strength, template % (fast, slow)
