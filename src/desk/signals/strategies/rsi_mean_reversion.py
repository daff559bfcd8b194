"""RSI mean reversion: buy the bounce out of oversold, sell the drop out of overbought.

* LONG when RSI crosses up through ``oversold`` (from <= oversold to > oversold);
* SHORT when RSI crosses down through ``overbought`` (from >= overbought to < overbought);
* FLAT when, while long, RSI crosses up through ``exit`` (50), or, while short, crosses down
  through it: the reversion to the mean is done.

A bar that crosses an entry level and the exit level at once (RSI jumping from 25 to 55) takes
no new position: the reversion happened within the bar, and entering after it would trade a
move that is over. It still closes a position the exit applies to. Entry strength is how close
to the extreme level the entry happened: 1 right at ``oversold``/``overbought``, falling
linearly to 0 at ``exit``; FLAT has strength 1.
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

Level = Annotated[float, msgspec.Meta(gt=0, lt=100)]


class RsiMeanReversionParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """n >= 1 bars; levels in (0, 100) with oversold < exit < overbought."""

    n: Annotated[int, msgspec.Meta(ge=1)] = 14
    oversold: Level = 30.0
    overbought: Level = 70.0
    exit: Level = 50.0

    def check(self) -> str | None:
        if not self.oversold < self.exit < self.overbought:
            return (
                "levels must satisfy `oversold` < `exit` < `overbought`, got "
                f"{self.oversold}, {self.exit}, {self.overbought}"
            )
        return None


class RsiMeanReversion(BaseStrategy):
    """Wilder RSI(n) mean reversion between oversold/overbought and the exit level."""

    name = "rsi_mean_reversion"
    Params = RsiMeanReversionParams

    def _reset_stream(self) -> None:
        self._rsi = live.Rsi(self.params.n)

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        return {"rsi": ind.rsi(arrays["close"], self.params.n)}

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        r, p = series["rsi"], self.params
        return codes_from(
            cross_up(r, p.exit, EXIT_LONG),
            cross_down(r, p.exit, EXIT_SHORT),
            cross_up(r, p.oversold, LONG),
            cross_down(r, p.overbought, SHORT),
        )

    def _step(self, candle: Candle) -> Values:
        return {"rsi": self._rsi.update(candle.close)}

    def _code(self, prev: Values, cur: Values) -> int:
        a, b, p = prev["rsi"], cur["rsi"], self.params
        for level, up, code in (
            (p.exit, True, EXIT_LONG),
            (p.exit, False, EXIT_SHORT),
            (p.oversold, True, LONG),
            (p.overbought, False, SHORT),
        ):
            crossed = crossed_above if up else crossed_below
            if crossed(a, b, level, level):
                return code
        return NONE

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        r, p = values["rsi"], self.params
        if direction is Direction.LONG:
            strength = clamp01((p.exit - r) / (p.exit - p.oversold))
            return strength, f"RSI {r:.4g} crossed up through oversold {p.oversold:g}"
        if direction is Direction.SHORT:
            strength = clamp01((r - p.exit) / (p.overbought - p.exit))
            return strength, f"RSI {r:.4g} crossed down through overbought {p.overbought:g}"
        return 1.0, f"RSI {r:.4g} crossed back through {p.exit:g}"
