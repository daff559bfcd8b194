"""The weights of desk's two recurrences, in the one arithmetic form batch and live both use.

* EMA step: ``e = e * beta + x * alpha``, alpha = 2/(n+1), beta = 1 - alpha.
* Wilder step (RSI's average gain and loss, ATR): ``a = a * k1 + x * k2``, k1 = (n-1)/n,
  k2 = 1/n.

Each pair of weights sums to exactly 1 in floating point (the smaller weight is the exact
complement of the larger, rounded one). With weights whose sum is off by an ulp, a constant
input settles a few ulps away from the constant (up to about 40 for EMA(200)); with these it
settles within one ulp, usually on it. (The textbook EMA step below holds a constant exactly;
this one does not always: the MACD line of a flat market can read one ulp of the price, not 0.)

Mathematically these are the textbook ``e + alpha*(x - e)`` and ``(a*(n-1) + x)/n``; only the
rounding differs (by a few ulps). The form is chosen for the chain of dependent operations from
one bar's value to the next: here one multiply and one add, the other product being off the
chain, where the textbook forms need a subtract, multiply and add (EMA) or a multiply, add and
correctly rounded division (Wilder: about three times as long). The Wilder step is TA-Lib's (its
``ATR`` uses these very weights), but without its fused multiply-add: each product and sum is
rounded on its own, so the numbers are the same on every CPU and every build (no fastmath, no
contraction). TA-Lib's ``EMA`` fuses ``e + k*(x - e)`` instead, which rounds once per step where
this form rounds three times, so desk's EMA sits a few ulps further from TA-Lib's than the
textbook form did (about 1e-15 relative).

The weights are computed once per indicator, here, by both :mod:`desk.signals.kernels_smoothing`
(which compiles these very functions with numba) and :mod:`desk.signals.streaming` (which calls
them as they are), and both do each step with the same operations in the same order: the live
updaters and the batch arrays are equal bit for bit. Pure Python, so the live side needs no
numba.
"""

from __future__ import annotations


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
