"""Combination: act only when several strategies confirm each other.

Each child strategy keeps its own latest direction (FLAT until its first signal). On every bar
the combination counts the children currently LONG and SHORT: it is LONG when at least
``min_agree`` children are long and more are long than short, SHORT the same way round, FLAT
otherwise (agreement lost). It emits when that combined direction changes. Strength is the mean
of the agreeing children's latest strengths; FLAT has strength 1.

Parameters: ``{"min_agree": 2, "children": [{"name": "ma_crossover", "params": {...}}, ...]}``,
children by registry name (see :data:`desk.signals.strategies.registry.STRATEGIES`).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import numpy as np

from desk.core.events import Candle
from desk.signals.signal import Direction
from desk.signals.strategies.registry import create_strategy
from desk.signals.strategy import (
    EXIT_ANY,
    LONG,
    SHORT,
    STATE_OF_DIRECTION,
    BaseStrategy,
    FloatArray,
    Values,
    codes_from,
    shifted,
)


class ChildSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One child: a registry name and its parameters."""

    name: str
    params: dict[str, Any] = {}


class CombinationParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """1 <= min_agree <= number of children; at least one child."""

    children: Annotated[list[ChildSpec], msgspec.Meta(min_length=1)]
    min_agree: Annotated[int, msgspec.Meta(ge=1)] = 2

    def check(self) -> str | None:
        if self.min_agree > len(self.children):
            return (
                f"`min_agree` ({self.min_agree}) exceeds the number of children "
                f"({len(self.children)})"
            )
        return None


def _combined(directions: list[FloatArray], min_agree: int) -> FloatArray:
    """Per bar: 1 when min_agree+ children are long and outnumber the short, -1 mirrored, else 0."""
    stack = np.vstack(directions)
    n_long, n_short = (stack == 1.0).sum(axis=0), (stack == -1.0).sum(axis=0)
    out = np.zeros(stack.shape[1])
    out[(n_long >= min_agree) & (n_long > n_short)] = 1.0
    out[(n_short >= min_agree) & (n_short > n_long)] = -1.0
    return out


def _held(n: int, rows: list[int], values: list[float]) -> FloatArray:
    """A value per bar: the value at the latest row at or before it, 0 before the first."""
    vals = np.zeros(n)
    mark = np.full(n, -1, dtype=np.int64)
    vals[rows] = values
    mark[rows] = rows
    last = np.maximum.accumulate(mark)
    return np.where(last >= 0, vals[np.maximum(last, 0)], 0.0)


class Combination(BaseStrategy):
    """Confirmation across child strategies."""

    name = "combination"
    Params = CombinationParams

    def _build(self) -> None:
        self.children: list[BaseStrategy] = []
        for j, spec in enumerate(self.params.children):
            try:
                self.children.append(create_strategy(spec.name, spec.params))
            except ValueError as exc:
                raise ValueError(f"{self.name}: children[{j}]: {exc}") from None
        self._keys = [f"{j}.{c.name}" for j, c in enumerate(self.children)]

    def _reset_stream(self) -> None:
        for child in self.children:
            child.reset()

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        n, series = len(arrays["close"]), {}
        for key, child in zip(self._keys, self.children, strict=True):
            found = child.array_signals(arrays)
            rows = [i for i, _ in found]
            dirs = [float(STATE_OF_DIRECTION[s.direction]) for _, s in found]
            series[f"{key}.direction"] = _held(n, rows, dirs)
            series[f"{key}.strength"] = _held(n, rows, [s.strength for _, s in found])
        return series

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        dirs = [series[f"{k}.direction"] for k in self._keys]
        comb = _combined(dirs, self.params.min_agree)
        before = shifted(comb)
        before[:1] = 0.0
        change = comb != before
        return codes_from(
            (change & (comb == 1.0), LONG),
            (change & (comb == -1.0), SHORT),
            (change & (comb == 0.0), EXIT_ANY),
        )

    def get_indicators(self) -> dict[str, FloatArray]:
        """The children's direction/strength series and each child's own indicators."""
        out = super().get_indicators()
        for key, child in zip(self._keys, self.children, strict=True):
            out.update({f"{key}.{k}": v for k, v in child.get_indicators().items()})
        return out

    def _step(self, candle: Candle) -> Values:
        values = {}
        for key, child in zip(self._keys, self.children, strict=True):
            child.on_candle(candle)
            values[f"{key}.direction"] = float(child.state)
            values[f"{key}.strength"] = child.strength
        return values

    def _code(self, prev: Values, cur: Values) -> int:
        dirs = [cur[f"{k}.direction"] for k in self._keys]
        n_long, n_short, k = dirs.count(1.0), dirs.count(-1.0), self.params.min_agree
        if n_long >= k and n_long > n_short:
            return LONG
        if n_short >= k and n_short > n_long:
            return SHORT
        return EXIT_ANY

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        if direction is Direction.FLAT:
            return 1.0, "children no longer agree on a direction"
        want = float(STATE_OF_DIRECTION[direction])
        agree = [k for k in self._keys if values[f"{k}.direction"] == want]
        strength = sum(values[f"{k}.strength"] for k in agree) / len(agree)
        names = ", ".join(k.split(".", 1)[1] for k in agree)
        return strength, f"{len(agree)} of {len(self._keys)} agree {direction.value}: {names}"
