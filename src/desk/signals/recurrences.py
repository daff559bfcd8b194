"""The weights of desk's two recurrences, and their steps in the one arithmetic form batch and live
both use.

* EMA step: ``e = e * beta + x * alpha``, alpha = 2/(n+1), beta = 1 - alpha.
* Wilder step (RSI's average gain and loss, ATR): ``a = fma(a, k1, x * k2)``, k1 = (n-1)/n,
  k2 = 1/n: ``a * k1 + x * k2`` with the multiply-add on the chain fused (:func:`fma`, rounded
  once).

Each pair of weights sums to exactly 1 in floating point (the smaller weight is the exact
complement of the larger, rounded one). With weights whose sum is off by an ulp, a constant
input settles a few ulps away from the constant (up to about 40 for EMA(200)); with these it
settles within one ulp, usually on it. (The textbook EMA step below holds a constant exactly;
this one does not always: the MACD line of a flat market can read one ulp of the price, not 0.)

Mathematically these are the textbook ``e + alpha*(x - e)`` and ``(a*(n-1) + x)/n``; only the
rounding differs (by a few ulps). The form is chosen for the chain of dependent operations from
one bar's value to the next, which sets the batch kernels' pace: the other product is off the
chain, where the textbook forms wait for a subtract, multiply and add (EMA) or a multiply, add and
correctly rounded division (Wilder: about three times as long). The Wilder step is TA-Lib's
``ATR`` exactly as its wheel runs it on CPUs with FMA (a clone compiled for FMA: ``vmulsd`` of
x and k2, then one ``vfmadd``): desk's ATR equals TA-Lib's there bit for bit, and its chain is one
fused multiply-add (4 cycles on Zen 4) instead of a multiply and an add (6). The fusion is
explicit, never a compiler's contraction (``fastmath`` stays off): the batch kernels call
``llvm.fma``, always fused on every CPU (in software where a CPU has no FMA unit), and the live
updaters call :func:`fma` here, correctly rounded in pure Python; so the numbers are the same on
every CPU and build. The EMA step stays unfused: its chain (a multiply and an add) is already
shorter than TA-Lib's fused ``e + k*(x - e)`` (a subtract, then a multiply-add), and a fused
step would cost the live side a :func:`fma` per EMA, of which MACD has three.

The weights are computed once per indicator, here, by both :mod:`desk.signals.kernels_smoothing`
(which compiles these very functions with numba) and :mod:`desk.signals.streaming` (which calls
them as they are), and both do each step with the same operations in the same order: the live
updaters and the batch arrays are equal bit for bit. Pure Python, so the live side needs no
numba.
"""

from __future__ import annotations

import math


def ema_weights(n: int) -> tuple[float, float]:
    """(alpha, beta) of EMA(n): alpha = 2/(n+1), beta = 1 - alpha, summing to exactly 1.

    beta is 1 - alpha rounded once; alpha is then taken back as 1 - beta. That is exact (either
    beta >= 1/2, or alpha >= 1/2 and beta = 1 - alpha exactly), and it differs from 2/(n+1)
    rounded by at most 2**-54, only where 1 - alpha had to be rounded (alpha < 1/2).
    """
    alpha = 2.0 / (n + 1)
    beta = 1.0 - alpha
    return 1.0 - beta, beta


def wilder_weights(n: int) -> tuple[float, float]:
    """(k1, k2) of Wilder's smoothing over n: k1 = (n-1)/n rounded once, k2 = 1 - k1 (exact)
    = 1/n, summing to exactly 1 (TA-Lib's weights, as its ``ATR`` computes them)."""
    k1 = (n - 1.0) / n
    return k1, 1.0 - k1


_SPLIT = 134217729.0
"""2**27 + 1: Veltkamp's constant, splitting a double into two halves of 26 bits."""
_LOW, _HIGH = 2.0**-450, 2.0**450
"""Factors in this range have a product whose rounding error :func:`_python_fma` gets exactly."""


def _python_fma(a: float, b: float, c: float) -> float:
    """a * b + c rounded once. For factors of ordinary magnitude, the product's exact rounding
    error (Dekker's product of the factors' halves) and ``math.fsum`` (correctly rounded) of the
    product, its error and c: about 0.3 us. Otherwise, or if that sum overflows,
    :func:`_exact_fma`."""
    if _LOW < abs(a) < _HIGH and _LOW < abs(b) < _HIGH:
        p = a * b
        t = _SPLIT * a
        ah = t - (t - a)
        al = a - ah
        t = _SPLIT * b
        bh = t - (t - b)
        bl = b - bh
        error = ((ah * bh - p) + ah * bl + al * bh) + al * bl
        try:
            return math.fsum((p, error, c))
        except OverflowError:
            pass
    return _exact_fma(a, b, c)


def _exact_fma(a: float, b: float, c: float) -> float:
    """a * b + c rounded once, from the exact rational value (Python's int / int division is
    correctly rounded, subnormals and overflow included). About 1 us."""
    try:
        an, ad = a.as_integer_ratio()
        bn, bd = b.as_integer_ratio()
    except (OverflowError, ValueError):  # a or b infinite or NaN: the product is exact
        return a * b + c
    try:
        cn, cd = c.as_integer_ratio()
    except (OverflowError, ValueError):  # a finite product plus an infinity or NaN
        return c
    pd = ad * bd  # denominators are powers of two: one divides the other
    if cd >= pd:
        num, den = an * bn * (cd // pd) + cn, cd
    else:
        num, den = an * bn + cn * (pd // cd), pd
    if num == 0:  # an exact zero: its sign follows IEEE's rule, as the float sum does
        return a * b + c
    try:
        return num / den
    except OverflowError:
        return math.inf if num > 0 else -math.inf


fma = getattr(math, "fma", _python_fma)
"""fma(a, b, c): a * b + c with one rounding, the very double ``llvm.fma`` gives (Python 3.13's
``math.fma`` where there is one)."""
