"""Candidate codes of a group of parameter sets at once, from the indicator arrays they share.

A sweep's sets differ only in their parameters, so their indicators repeat: a grid of ten
fast and ten slow moving averages needs twenty series, not two hundred, and
:func:`desk.signals.indicators.reuse` keeps them. What is left per set is its event test,
which the strategy's :meth:`~desk.signals.strategy.BaseStrategy.batch_codes` runs through
:func:`desk.signals.strategy.codes_from` into a fresh array. For a strategy whose codes are
one series crossing another (:func:`crossing_series` names them: the MA crossover),
the lockstep kernel (:mod:`desk.backtest.lockstep`) runs the same test (:func:`cross_code`)
from the shared series straight into its block's buffer, without branches (several bars per
instruction); every other strategy runs its own ``batch_codes``. Tests hold the two paths to
the same codes (:func:`group_codes` is the first, outside the kernel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numba
import numpy as np

from desk.signals import indicators as ind
from desk.signals.strategies.ma_crossover import MaCrossover
from desk.signals.strategy import LONG, SHORT

if TYPE_CHECKING:
    from desk.signals.strategy import BaseStrategy


def crossing_series(
    strategy: BaseStrategy, arrays: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, level) when ``strategy``'s candidate codes are exactly LONG where x crosses above
    level and SHORT where it crosses below (``codes_from(cross_up(x, level, LONG),
    cross_down(x, level, SHORT))``); None for any other strategy.

    The series are the strategy's own (the same indicator calls, so inside a reuse block
    the same arrays); a subclass is not assumed to keep its parent's rule.
    """
    if type(strategy) is MaCrossover:
        p = strategy.params
        average = ind.sma if p.kind == "sma" else ind.ema
        close = arrays["close"]
        return average(close, p.fast), average(close, p.slow)
    return None


@numba.njit(inline="always", cache=True, nogil=True)
def cross_code(x0: float, level0: float, x1: float, level1: float) -> np.int8:
    """LONG where x went from at/below the level (x0, level0: the bar before) to above it
    (x1, level1), SHORT where from at/above to below, else 0; NaN never crosses:
    :func:`desk.signals.kernels.mark_crossings`' test for the pair, as arithmetic on the two
    comparisons (they cannot both hold) instead of branches, so that a loop of it runs
    several bars per instruction."""
    up = (x0 <= level0) & (x1 > level1)
    down = (x0 >= level0) & (x1 < level1)
    return np.int8(up) * np.int8(LONG) + np.int8(down) * np.int8(SHORT)


@numba.njit(cache=True, nogil=True)
def crossing_codes(x: np.ndarray, level: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = :func:`cross_code` of bars i - 1 and i (0 on bar 0: no bar before)."""
    n = x.shape[0]
    if n:
        out[0] = 0
    for i in range(1, n):
        out[i] = cross_code(x[i - 1], level[i - 1], x[i], level[i])


def group_codes(
    arrays: Mapping[str, np.ndarray], strategies: Sequence[BaseStrategy], out: np.ndarray
) -> None:
    """Row g of ``out`` (int8, one column per bar) = ``strategies[g].batch_codes(arrays)``,
    made by :func:`crossing_codes` where :func:`crossing_series` allows."""
    for g, strategy in enumerate(strategies):
        pair = crossing_series(strategy, arrays)
        if pair is None:
            out[g] = strategy.batch_codes(arrays)
        else:
            x, level = (np.ascontiguousarray(a, dtype=np.float64) for a in pair)
            crossing_codes(x, level, out[g])
