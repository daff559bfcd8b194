"""Bollinger breakout: ride a close that breaks out of the bands, exit back at the middle.

* LONG when the close crosses above the upper band (from at/below it to above it);
* SHORT when the close crosses below the lower band;
* FLAT when, while long, the close crosses below the middle band, or, while short, above it.

An entry wins over an exit on the same bar (a close jumping from above the upper band to below
the lower one goes SHORT). Entry strength is |close - middle| / (2 * (upper - middle)) capped at
1: 0.5 just at the band, 1 at twice the band's distance; a band of zero width reads 1. FLAT
has strength 1.
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
    EXIT_LONG,
    EXIT_SHORT,
    LONG,
    NONE,
    SHORT,
    BaseStrategy,
    FloatArray,
    Values,
    clamp01,
    codes_from,
    cross_down,
    cross_up,
    crossed_above,
    crossed_below,
)


class BollingerBreakoutParams(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """n >= 2 bars, k > 0 standard deviations."""

    n: Annotated[int, msgspec.Meta(ge=2)] = 20
    k: Annotated[float, msgspec.Meta(gt=0)] = 2.0


class BollingerBreakout(BaseStrategy):
    """Close crossing Bollinger(n, k) bands."""

    name = "bollinger_breakout"
    Params = BollingerBreakoutParams

    def _reset_stream(self) -> None:
        self._bands = live.Bollinger(self.params.n, self.params.k)

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        upper, middle, lower = ind.bollinger(arrays["close"], self.params.n, self.params.k)
        return {"close": arrays["close"], "upper": upper, "middle": middle, "lower": lower}

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        c = series["close"]
        return codes_from(
            cross_up(c, series["upper"], LONG),
            cross_down(c, series["lower"], SHORT),
            cross_down(c, series["middle"], EXIT_LONG),
            cross_up(c, series["middle"], EXIT_SHORT),
        )

    def _step(self, candle: Candle) -> Values:
        upper, middle, lower = self._bands.update(candle.close)
        return {"close": candle.close, "upper": upper, "middle": middle, "lower": lower}

    def _code(self, prev: Values, cur: Values) -> int:
        a, b = prev["close"], cur["close"]
        for band, up, code in (
            ("upper", True, LONG),
            ("lower", False, SHORT),
            ("middle", False, EXIT_LONG),
            ("middle", True, EXIT_SHORT),
        ):
            crossed = crossed_above if up else crossed_below
            if crossed(a, b, prev[band], cur[band]):
                return code
        return NONE

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        upper, middle, lower = values["upper"], values["middle"], values["lower"]
        if direction is Direction.FLAT:
            return 1.0, f"close {price:.6g} crossed back over the middle band {middle:.6g}"
        half = upper - middle
        strength = clamp01(abs(price - middle) / (2.0 * half)) if half > 0 else 1.0
        if direction is Direction.LONG:
            return strength, f"close {price:.6g} broke above the upper band {upper:.6g}"
        return strength, f"close {price:.6g} broke below the lower band {lower:.6g}"
