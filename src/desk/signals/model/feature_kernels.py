"""The numba kernel behind :func:`desk.signals.model.features.compute_features`.

Imported on the first batch call only (it imports numba). The per-value helpers are the
functions of :mod:`.featuremath`, compiled here, so the batch rows and the streaming rows come
from the same arithmetic. ``error_model="numpy"`` gives IEEE division (x/0 is inf or NaN).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from desk.signals.model import featuremath

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}

log_return = njit(**_JIT)(featuremath.log_return)
pctb = njit(**_JIT)(featuremath.pctb)
imbalance = njit(**_JIT)(featuremath.imbalance)
spread_bps = njit(**_JIT)(featuremath.spread_bps)
book_sums = njit(**_JIT)(featuremath.book_sums)


@njit(**_JIT)
def assemble(c, v, rsi, hist, upper, lower, atr, close_z, volume_z,
             bids, asks, levels, bid_px, ask_px, buy, sell, lags):  # fmt: skip
    """The (bars, features) matrix from the indicator arrays (columns as feature_names)."""
    size = c.shape[0]
    n_lags = lags.shape[0]
    out = np.empty((size, n_lags + 10))
    for t in range(size):
        ct = c[t]
        for j in range(n_lags):
            k = lags[j]
            out[t, j] = log_return(ct, c[t - k]) if t >= k else np.nan
        col = n_lags
        out[t, col] = rsi[t] / 100.0
        out[t, col + 1] = hist[t] / ct
        out[t, col + 2] = pctb(ct, upper[t], lower[t])
        out[t, col + 3] = atr[t] / ct
        out[t, col + 4] = close_z[t]
        out[t, col + 5] = math.log1p(v[t])
        out[t, col + 6] = volume_z[t]
        out[t, col + 7] = 0.0
        if levels > 0:
            b, a = book_sums(bids[t], asks[t], levels)
            out[t, col + 7] = imbalance(b, a)
        out[t, col + 8] = spread_bps(bid_px[t], ask_px[t]) if bid_px.shape[0] > 0 else 0.0
        out[t, col + 9] = imbalance(buy[t], sell[t]) if buy.shape[0] > 0 else 0.0
    return out
