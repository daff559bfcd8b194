"""The per-bar equity statistics behind the metrics, one bar at a time.

The kernel accumulates them as it walks the bars (a sweep then never stores a curve), and
:func:`desk.backtest.metrics.equity_stats` runs the same steps over a stored curve: both call
:func:`step` and :func:`finish`, so the two agree to the last bit.

Accumulators: ``prev`` (last equity; the starting cash before the first bar), ``peak``, ``k``
(the first bar's return: the shift of the shifted-data variance), ``s1``/``s2`` (sums of the
shifted returns and of their squares), ``down`` (sum of squared negative returns), ``low``
(lowest equity since the peak), ``max_dd``, ``under``/``longest`` (bars under a previous peak:
now, and the longest run), ``exposed`` (bars closing with a position).

The drawdown is divided out once per peak, not per bar: ``1 - low / peak`` is the largest
``1 - e / peak`` of that peak's bars exactly, since rounded division and subtraction are
monotone.

The output vector (:data:`N_STATS`): mean return, stdev (ddof 1), downside deviation, max
drawdown, longest drawdown in bars, bars exposed, final equity, bars.
"""

from __future__ import annotations

import math

import numba
import numpy as np

N_STATS = 8
ST_MEAN, ST_STD, ST_DOWN, ST_MAX_DD, ST_LONGEST, ST_EXPOSED, ST_FINAL, ST_BARS = range(N_STATS)

_INLINE = {"inline": "always", "cache": True, "nogil": True}


@numba.njit(**_INLINE)
def first_return(e: float, cash: float) -> float:
    """``k``: the first bar's return (0 without starting cash)."""
    return e / cash - 1.0 if cash > 0.0 else 0.0


@numba.njit(**_INLINE)
def drawdown(max_dd: float, low: float, peak: float) -> float:
    """``max_dd`` with the drawdown from ``peak`` down to ``low``."""
    if low < peak and peak > 0.0:
        return max(max_dd, 1.0 - low / peak)
    return max_dd


@numba.njit(**_INLINE)
def step(
    e: float,
    position: float,
    prev: float,
    peak: float,
    k: float,
    s1: float,
    s2: float,
    down: float,
    low: float,
    max_dd: float,
    under: int,
    longest: int,
    exposed: int,
) -> tuple[float, float, float, float, float, float, float, int, int, int]:
    """One bar of equity ``e`` closing with ``position``; the accumulators after it."""
    r = e / prev - 1.0 if prev > 0.0 else 0.0
    d = r - k
    s1 += d
    s2 += d * d
    neg = min(r, 0.0)
    down += neg * neg
    if e > peak:
        max_dd = drawdown(max_dd, low, peak)
        peak = e
        low = e
    elif e < low:
        low = e
    if e < peak:
        under += 1
        longest = max(longest, under)
    else:
        under = 0
    exposed += 1 if position != 0.0 else 0
    return e, peak, s1, s2, down, low, max_dd, under, longest, exposed


@numba.njit(**_INLINE)
def finish(
    out: np.ndarray,
    n: int,
    final: float,
    peak: float,
    k: float,
    s1: float,
    s2: float,
    down: float,
    low: float,
    max_dd: float,
    longest: int,
    exposed: int,
) -> None:
    """The output vector (module docstring) of ``n`` bars into ``out``."""
    out[:] = math.nan
    out[ST_BARS] = n
    if n == 0:
        return
    out[ST_MEAN] = k + s1 / n
    if n > 1:
        out[ST_STD] = math.sqrt(max(s2 - s1 * s1 / n, 0.0) / (n - 1))
    out[ST_DOWN] = math.sqrt(down / n)
    out[ST_MAX_DD] = drawdown(max_dd, low, peak)
    out[ST_LONGEST] = longest
    out[ST_EXPOSED] = exposed
    out[ST_FINAL] = final
