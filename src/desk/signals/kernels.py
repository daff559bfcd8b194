"""Numba kernels behind :mod:`desk.signals.indicators`.

This is the only module of desk that imports numba at import time; ``indicators`` imports it on
the first call, so importing the indicator API (or anything that imports it) stays cheap. The
kernels trust their input: the public wrappers in ``indicators`` have already checked shapes and
converted to C-contiguous float64, so each kernel compiles exactly one specialisation, which
``cache=True`` keeps on disk between runs.

``error_model="numpy"`` gives IEEE division (x/0 is inf or NaN instead of an exception) and
drops the zero checks from the loops; the divisions that can meet a zero are guarded anyway.
``nogil=True`` releases the GIL inside the kernels, so :mod:`desk.signals.batch` can run many
series on several cores with plain threads.

:mod:`desk.signals.streaming` mirrors every loop here operation for operation, in the same
order, so the live updaters reproduce these arrays; a change here needs the same change there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_JIT)
def welford(x, lo, hi, with_m2):
    """Mean and sum of squared deviations of x[lo:hi] by Welford's one-pass update.

    Welford rather than sum/n: a constant window gives exactly that constant and exactly zero
    spread (every deviation is 0), so flat markets give flat bands, not rounding noise.
    """
    mean = 0.0
    m2 = 0.0
    for j in range(lo, hi):
        k = j - lo + 1
        d = x[j] - mean
        mean += d / k
        if with_m2:
            m2 += d * (x[j] - mean)
    return mean, m2


@njit(**_JIT)
def rolling_moments(x, n, with_m2):
    """Rolling mean and sum of squared deviations over the last n values (NaN until full).

    O(1) per step: the window is slid by replacing the leaving value y with the new one v
    (mean += (v - y)/n; m2 += (v - y)((v - new_mean) + (y - old_mean))). Sliding accumulates
    rounding error, so a second, fresh Welford accumulator runs over each block of n values,
    and when a block completes (i + 1 a multiple of n) it *is* the window and replaces the slid
    state: error never builds up for more than n steps, and a series that goes flat reads as
    exactly flat within n steps. A window holding a non-finite value gives NaN; when it is
    clean again mid-block the window is recomputed once from scratch.
    """
    size = x.shape[0]
    mean_out = np.full(size, np.nan)
    m2_out = np.full(size if with_m2 else 0, np.nan)
    bad = 0
    dirty = True
    mean = 0.0
    m2 = 0.0
    s_mean = 0.0
    s_m2 = 0.0
    s_k = 0
    b_mean = 0.0
    b_m2 = 0.0
    for i in range(size):
        v = x[i]
        if not math.isfinite(v):
            bad += 1
        if i >= n and not math.isfinite(x[i - n]):
            bad -= 1
        s_k += 1
        d = v - s_mean
        s_mean += d / s_k
        if with_m2:
            s_m2 += d * (v - s_mean)
        boundary = s_k == n
        if boundary:
            b_mean = s_mean
            b_m2 = s_m2
            s_k = 0
            s_mean = 0.0
            s_m2 = 0.0
        if i < n - 1:
            continue
        if bad > 0:
            dirty = True
            continue
        if boundary:
            mean = b_mean
            m2 = b_m2
        elif dirty:
            mean, m2 = welford(x, i - n + 1, i + 1, with_m2)
        else:
            y = x[i - n]
            old = mean
            mean = old + (v - y) / n
            if with_m2:
                m2 += (v - y) * ((v - mean) + (y - old))
        dirty = False
        mean_out[i] = mean
        if with_m2:
            m2_out[i] = m2
    return mean_out, m2_out


@njit(**_JIT)
def pop_std(m2, n):
    """Population standard deviation from a window's m2; tiny negative rounding clamps to 0."""
    if m2 < 0.0:
        m2 = 0.0
    return math.sqrt(m2 / n)


@njit(**_JIT)
def ema_into(x, start, n, out):
    """EMA of x[start:] into out[start:]: seeded at start+n-1 with the mean of n values."""
    alpha = 2.0 / (n + 1)
    mean = 0.0
    e = np.nan
    for j in range(start, x.shape[0]):
        k = j - start + 1
        v = x[j]
        if k <= n:
            d = v - mean
            mean += d / k
            if k == n:
                e = mean
                out[j] = e
        else:
            e = (v - e) * alpha + e
            out[j] = e


@njit(**_JIT)
def ema(x, n):
    out = np.full(x.shape[0], np.nan)
    ema_into(x, 0, n, out)
    return out


@njit(**_JIT)
def macd(x, fast, slow, signal):
    line = ema(x, fast) - ema(x, slow)
    sig = np.full(x.shape[0], np.nan)
    ema_into(line, slow - 1, signal, sig)
    return line, sig, line - sig


@njit(**_JIT)
def gain_loss(d):
    """Split a close-to-close change into (gain, loss), both >= 0; NaN stays NaN."""
    if d > 0.0:
        return d, 0.0
    if d < 0.0:
        return 0.0, -d
    if d == 0.0:
        return 0.0, 0.0
    return np.nan, np.nan


@njit(**_JIT)
def rsi_value(avg_gain, avg_loss):
    """100 - 100/(1 + RS); no losses reads 100, no movement at all reads 50."""
    if avg_loss == 0.0:
        return 50.0 if avg_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


@njit(**_JIT)
def rsi(c, n):
    size = c.shape[0]
    out = np.full(size, np.nan)
    ag = 0.0
    al = 0.0
    for i in range(1, size):
        g, l_ = gain_loss(c[i] - c[i - 1])
        if i <= n:
            ag += (g - ag) / i
            al += (l_ - al) / i
            if i < n:
                continue
        else:
            ag = (ag * (n - 1) + g) / n
            al = (al * (n - 1) + l_) / n
        out[i] = rsi_value(ag, al)
    return out


@njit(**_JIT)
def true_range_value(h, l_, cp):
    """max(h - l, |h - cp|, |l - cp|), NaN if any input is NaN (max alone would hide it)."""
    a = h - l_
    b = abs(h - cp)
    c = abs(l_ - cp)
    if math.isnan(a) or math.isnan(b) or math.isnan(c):
        return np.nan
    m = a
    if b > m:
        m = b
    if c > m:
        m = c
    return m


@njit(**_JIT)
def true_range(h, l_, c):
    size = c.shape[0]
    out = np.empty(size)
    if size > 0:
        out[0] = h[0] - l_[0]
    for i in range(1, size):
        out[i] = true_range_value(h[i], l_[i], c[i - 1])
    return out


@njit(**_JIT)
def atr(h, l_, c, n):
    size = c.shape[0]
    out = np.full(size, np.nan)
    a = 0.0
    for i in range(1, size):
        tr = true_range_value(h[i], l_[i], c[i - 1])
        if i <= n:
            a += (tr - a) / i
            if i < n:
                continue
        else:
            a = (a * (n - 1) + tr) / n
        out[i] = a
    return out


@njit(**_JIT)
def bollinger(x, n, k):
    mean, m2 = rolling_moments(x, n, True)
    upper = np.empty_like(mean)
    lower = np.empty_like(mean)
    for i in range(x.shape[0]):
        width = k * pop_std(m2[i], n)
        upper[i] = mean[i] + width
        lower[i] = mean[i] - width
    return upper, mean, lower


@njit(**_JIT)
def zscore(x, n):
    mean, m2 = rolling_moments(x, n, True)
    out = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        if not math.isnan(mean[i]):
            std = pop_std(m2[i], n)
            out[i] = 0.0 if std == 0.0 else (x[i] - mean[i]) / std
    return out


@njit(**_JIT)
def log_return(c, cp):
    """ln(c/cp), NaN unless both prices are positive (and the ratio did not underflow)."""
    if c > 0.0 and cp > 0.0:
        ratio = c / cp
        if ratio > 0.0:
            return math.log(ratio)
    return np.nan


@njit(**_JIT)
def realized_vol(c, n, scale):
    size = c.shape[0]
    r = np.full(size, np.nan)
    for i in range(1, size):
        r[i] = log_return(c[i], c[i - 1])
    mean, m2 = rolling_moments(r, n, True)
    out = np.full(size, np.nan)
    for i in range(size):
        if not math.isnan(mean[i]):
            m = m2[i]
            if m < 0.0:
                m = 0.0
            out[i] = math.sqrt(m / (n - 1)) * scale
    return out


@njit(**_JIT)
def ratio_or_nan(num, den):
    """num/den elementwise, NaN where den is 0 (no volume: the average is undefined)."""
    out = np.empty_like(num)
    for i in range(num.shape[0]):
        out[i] = np.nan if den[i] == 0.0 else num[i] / den[i]
    return out


@njit(**_JIT)
def vwap_cumulative(p, v):
    size = p.shape[0]
    out = np.empty(size)
    pv = 0.0
    vol = 0.0
    for i in range(size):
        pv += p[i] * v[i]
        vol += v[i]
        out[i] = np.nan if vol == 0.0 else pv / vol
    return out


@njit(**_JIT)
def vwap_rolling(p, v, n):
    mean_pv, _ = rolling_moments(p * v, n, False)
    mean_v, _ = rolling_moments(v, n, False)
    return ratio_or_nan(mean_pv, mean_v)


@njit(**_JIT)
def book_imbalance(bid, ask):
    """(B - A)/(B + A) per row of (rows, levels) volume arrays; NaN for an empty book."""
    rows = bid.shape[0]
    out = np.empty(rows)
    for i in range(rows):
        b = 0.0
        for j in range(bid.shape[1]):
            b += bid[i, j]
        a = 0.0
        for j in range(ask.shape[1]):
            a += ask[i, j]
        total = b + a
        out[i] = np.nan if total == 0.0 else (b - a) / total
    return out


@njit(**_JIT)
def mark_crossings(out, x, level, up_code, down_code, up_sign, down_sign):
    """Mark where ``x`` crosses ``level``: ``up_code`` into ``out[i]`` (int8) where x went from
    at/below the level at i-1 to above it at i, ``down_code`` where it went from at/above to
    below, each only where ``out[i]`` is still 0 (an earlier rule's mark wins). A code of 0
    marks nothing. NaN never crosses.

    ``level`` has one value per bar, or one value for all. A sign of 1 (-1) also requires
    x[i] > 0 (< 0); 0 requires nothing. One pass, nothing allocated: the batch path's event
    test of :mod:`desk.signals.strategy` (both directions of one pair in one pass: a bar
    cannot cross both ways).
    """
    n = x.shape[0]
    if n == 0:
        return
    per_bar = level.shape[0] == n
    px = x[0]
    pl = level[0]
    for i in range(1, n):
        xi = x[i]
        li = level[i] if per_bar else pl
        if up_code != 0 and px <= pl and xi > li:
            sign = up_sign
            code = up_code
        elif down_code != 0 and px >= pl and xi < li:
            sign = down_sign
            code = down_code
        else:
            code = 0
            sign = 0
        signed = sign == 0 or (sign > 0 and xi > 0.0) or (sign < 0 and xi < 0.0)
        if code != 0 and signed and out[i] == 0:
            out[i] = code
        px = xi
        pl = li
