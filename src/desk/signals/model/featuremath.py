"""Per-value arithmetic of the feature rows, shared by the batch kernel and the streaming path.

Plain Python on floats: :mod:`.feature_kernels` compiles these same functions with numba for
the batch path, and :class:`~desk.signals.model.features.FeatureStream` calls them as they are,
so the two paths run the same operations in the same order.
"""

from __future__ import annotations

import math

NAN = math.nan


def log_return(c: float, cp: float) -> float:
    """ln(c/cp), NaN unless both prices are positive (kernels.log_return's definition)."""
    if c > 0.0 and cp > 0.0:
        ratio = c / cp
        if ratio > 0.0:
            return math.log(ratio)
    return NAN


def pctb(c: float, upper: float, lower: float) -> float:
    """Bollinger %B; 0.5 when the band has no width (a flat window); NaN in the warm-up."""
    width = upper - lower
    if width == 0.0:
        return 0.5
    return (c - lower) / width


def imbalance(b: float, a: float) -> float:
    """(b - a)/(b + a); 0.0 when there is nothing on either side or an input is not finite."""
    total = b + a
    if total > 0.0 and math.isfinite(total):
        return (b - a) / total
    return 0.0


def spread_bps(bid: float, ask: float) -> float:
    """(ask - bid) / mid in basis points; 0.0 unless both prices are positive and finite."""
    if bid > 0.0 and ask > 0.0 and math.isfinite(bid) and math.isfinite(ask):
        return (ask - bid) / ((ask + bid) * 0.5) * 1e4
    return 0.0


def book_sums(bids, asks, levels: int) -> tuple[float, float]:
    """Bid and ask size summed over the first ``levels`` levels of one snapshot (best first).

    Calls nothing, so numba can compile it without the other helpers in scope.
    """
    b = 0.0
    a = 0.0
    for j in range(levels):
        b += bids[j]
        a += asks[j]
    return b, a
