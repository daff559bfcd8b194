"""Numba kernels behind :mod:`desk.signals.indicators`.

This module and :mod:`desk.signals.kernels_smoothing` (the recursive indicators: EMA, MACD, RSI,
true range, ATR; re-exported here, so every kernel is ``kernels.<name>``) import numba at import
time; ``indicators`` imports them on the first call, so importing the indicator API (or anything
that imports it) stays cheap. The kernels trust their
input: the public wrappers in ``indicators`` have already checked shapes and converted to
C-contiguous float64, so each kernel compiles exactly one specialisation, which ``cache=True``
keeps on disk between runs.

Outputs are passed in (``*_into``), allocated by the wrappers with ``np.empty``: numpy backs
large arrays with transparent huge pages, numba's own allocator does not, and on 10M bars the
4 KiB page faults of an array allocated inside a kernel cost more than the loop itself. Each
kernel writes every element of its outputs (NaN in the warm-up) in one pass.

``error_model="numpy"`` gives IEEE division (x/0 is inf or NaN, no exception) and drops the zero
checks from the loops. ``fastmath`` stays off: contracting (fused multiply-adds) and
reassociating change the numbers, and contraction would make them depend on the CPU. The fused
multiply-adds used are explicit (``llvm.fma``, the same on every CPU): in
:func:`desk.signals.kernels_ops.exact_div`, where they give the very quotient ``/`` gives, and in
the Wilder step of RSI and ATR (:mod:`desk.signals.recurrences`), which the live side rounds the
same way.
``nogil=True`` lets :mod:`desk.signals.batch` run many series on several cores with threads.
Loops meant to vectorise index views from 0 (a computed index costs a negative-index wrap).

:mod:`desk.signals.streaming` mirrors every loop here operation for operation, in the same
order, so the live updaters reproduce these arrays bit for bit; a change of arithmetic here needs
the same change there (reordering *independent* work, as the loop splits below do, does not).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from desk.signals.kernels_ops import count_unsafe, exact_div, prefetch, prefetch_write
from desk.signals.kernels_smoothing import JIT_OPTIONS as _JIT
from desk.signals.kernels_smoothing import (  # noqa: F401  (re-exported: kernels.<name>)
    atr_into,
    ema_from,
    gain_loss,
    macd_into,
    rsi_into,
    rsi_value,
    true_range_into,
    true_range_value,
)

CHUNK = 4096
"""About how many values :func:`rolling_moments` prepares at a time (a whole number of blocks)."""


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
def block_moments(x, n, first, count, with_m2, bm, bm2, lanes, exact):
    """:func:`welford` of the ``count`` blocks x[b*n:(b+1)*n], b = first, first+1, ..., into
    bm[0:count] (and bm2): the same operations, but the blocks side by side (copied into
    ``lanes`` value k of every block after another), so the chains of dependent divisions
    of different blocks overlap and vectorise. With ``exact`` (the caller has checked the
    values with :func:`count_unsafe`), the divisions are :func:`exact_div`'s."""
    values = x[first * n : (first + count) * n]
    for k in range(n):
        row = lanes[k * count : (k + 1) * count]
        for b in range(count):
            row[b] = values[k + b * n]
    m = bm[:count]
    m2 = bm2[:count]
    m[:] = 0.0
    m2[:] = 0.0
    for k in range(n):
        welford_step(lanes[k * count : (k + 1) * count], m, m2, k + 1, with_m2, exact)


@njit(**_JIT)
def welford_step(v, m, m2, k, with_m2, exact):
    """One Welford step (the k-th value v[j]) of every lane j, dividing by :func:`exact_div`
    if ``exact`` (the values passed :func:`count_unsafe`: then every d is 0 or of a magnitude
    in [2**-750, 2**502], see ``kernels_ops``), else by ``/``."""
    kf = float(k)
    r = 1.0 / kf
    if exact and with_m2:
        for j in range(v.shape[0]):
            d = v[j] - m[j]
            m[j] += exact_div(d, kf, r)
            m2[j] += d * (v[j] - m[j])
    elif exact:
        for j in range(v.shape[0]):
            m[j] += exact_div(v[j] - m[j], kf, r)
    elif with_m2:
        for j in range(v.shape[0]):
            d = v[j] - m[j]
            m[j] += d / k
            m2[j] += d * (v[j] - m[j])
    else:
        for j in range(v.shape[0]):
            m[j] += (v[j] - m[j]) / k


@njit(**_JIT)
def rolling_moments(x, n, with_m2, mean_out, m2_out):
    """Rolling mean and sum of squared deviations of the last n values into mean_out and
    m2_out (NaN until full; m2_out is not touched unless with_m2).

    O(1) per step: the window is slid by replacing the leaving value y with the new one v
    (mean += (v - y)/n; m2 += (v - y)((v - new_mean) + (y - old_mean))). Sliding accumulates
    rounding error, so a fresh Welford accumulator runs over each block of n values, and when
    a block completes (i + 1 a multiple of n) it *is* the window and replaces the slid state:
    error never builds up for more than n steps, and a series that goes flat reads as exactly
    flat within n steps. A window holding a non-finite value gives NaN; when it is clean again
    mid-block the window is recomputed once from scratch.

    By chunks of whole blocks: the block accumulators (:func:`block_moments`), independent of
    the running state, come first, in a loop without dependent divisions. A chunk of clean
    windows whose values :func:`count_unsafe` passes (nearly all) then goes through
    :func:`slide_chunk`, with no test per value; one with a non-finite value, or the warm-up,
    takes the general loop here, which gives the same numbers with ``/`` for each division.
    """
    size = x.shape[0]
    per_chunk = max(1, CHUNK // n)
    chunk = per_chunk * n
    bm = np.empty(per_chunk)
    bm2 = np.empty(per_chunk)
    lanes = np.empty(chunk)
    bad = 0
    dirty = True
    mean = 0.0
    m2 = 0.0
    for c0 in range(0, size, chunk):
        c1 = min(size, c0 + chunk)
        blocks = (c1 - c0) // n
        safe = c0 >= n and count_unsafe(x[c0 - n : c1]) == 0
        block_moments(x, n, c0 // n, blocks, with_m2, bm, bm2, lanes, safe)
        if safe and not dirty and bad == 0:
            mean, m2 = slide_chunk(x, n, with_m2, c0, c1, mean, m2, bm, bm2, mean_out, m2_out)
            continue
        pos = 0
        block = 0
        for i in range(c0, c1):
            v = x[i]
            if not math.isfinite(v):
                bad += 1
            if i >= n and not math.isfinite(x[i - n]):
                bad -= 1
            pos += 1
            boundary = pos == n
            if boundary:
                pos = 0
                block += 1
            if i < n - 1 or bad > 0:
                dirty = dirty or bad > 0
                mean_out[i] = np.nan
                if with_m2:
                    m2_out[i] = np.nan
                continue
            if boundary:
                mean = bm[block - 1]
                m2 = bm2[block - 1]
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


@njit(**_JIT)
def slide_chunk(x, n, with_m2, c0, c1, mean, m2, bm, bm2, mean_out, m2_out):
    """The general loop of :func:`rolling_moments` over x[c0:c1] (c0 the first value of a
    block, c0 >= n) where every window is clean, the previous one's moments given, and
    :func:`count_unsafe` passed the values: no test per value, and :func:`exact_div` for the
    division (every v - y is in its range), off the chain of additions. The next chunk is
    prefetched meanwhile. Returns the last window's (mean, m2)."""
    new = x[c0:c1]
    leaving = x[c0 - n : c1 - n]
    means = mean_out[c0:c1]
    m2s = m2_out[c0:c1] if with_m2 else m2_out
    ahead = c1 - c0
    nf = float(n)
    r = 1.0 / nf
    pos = 0
    for j in range(c1 - c0):
        prefetch(new, j + ahead)
        prefetch_write(means, j + ahead)
        if with_m2:
            prefetch_write(m2s, j + ahead)
        pos += 1
        if pos == n:
            pos = 0
            mean = bm[j // n]
            m2 = bm2[j // n]
        else:
            v = new[j]
            y = leaving[j]
            old = mean
            t = v - y
            mean = old + exact_div(t, nf, r)
            if with_m2:
                m2 += t * ((v - mean) + (y - old))
        means[j] = mean
        if with_m2:
            m2s[j] = m2
    return mean, m2


@njit(**_JIT)
def pop_std(m2, n):
    """Population standard deviation from a window's m2; tiny negative rounding clamps to 0."""
    if m2 < 0.0:
        m2 = 0.0
    return math.sqrt(m2 / n)


@njit(**_JIT)
def bollinger_into(x, n, k, upper, middle, lower):
    rolling_moments(x, n, True, middle, lower)  # lower holds m2 until overwritten below
    for i in range(x.shape[0]):
        width = k * pop_std(lower[i], n)
        upper[i] = middle[i] + width
        lower[i] = middle[i] - width


@njit(**_JIT)
def zscore_into(x, n, out, mean):
    rolling_moments(x, n, True, mean, out)  # out holds m2 until overwritten below
    for i in range(x.shape[0]):
        if math.isnan(mean[i]):
            out[i] = np.nan
        else:
            std = pop_std(out[i], n)
            out[i] = 0.0 if std == 0.0 else (x[i] - mean[i]) / std


@njit(**_JIT)
def log_return(c, cp):
    """ln(c/cp), NaN unless both prices are positive (and the ratio did not underflow)."""
    if c > 0.0 and cp > 0.0:
        ratio = c / cp
        if ratio > 0.0:
            return math.log(ratio)
    return np.nan


@njit(**_JIT)
def realized_vol_into(c, n, scale, out, r, mean):
    size = c.shape[0]
    if size > 0:
        r[0] = np.nan
    for i in range(1, size):
        r[i] = log_return(c[i], c[i - 1])
    rolling_moments(r, n, True, mean, out)  # out holds m2 until overwritten below
    for i in range(size):
        if math.isnan(mean[i]):
            out[i] = np.nan
        else:
            m = out[i]
            if m < 0.0:
                m = 0.0
            out[i] = math.sqrt(m / (n - 1)) * scale


@njit(**_JIT)
def vwap_cumulative_into(p, v, out):
    pv = 0.0
    vol = 0.0
    for i in range(p.shape[0]):
        pv += p[i] * v[i]
        vol += v[i]
        out[i] = np.nan if vol == 0.0 else pv / vol


@njit(**_JIT)
def vwap_rolling_into(p, v, n, out, pv, mean_v):
    """Rolling VWAP = mean(p*v)/mean(v) over n bars, NaN where no volume; pv, mean_v scratch."""
    for i in range(p.shape[0]):
        pv[i] = p[i] * v[i]
    none = np.empty(0)
    rolling_moments(pv, n, False, out, none)  # out holds mean(p*v) until divided below
    rolling_moments(v, n, False, mean_v, none)
    for i in range(p.shape[0]):
        out[i] = np.nan if mean_v[i] == 0.0 else out[i] / mean_v[i]


@njit(**_JIT)
def book_imbalance_into(bid, ask, out):
    """(B - A)/(B + A) per row of (rows, levels) volume arrays; NaN for an empty book."""
    for i in range(bid.shape[0]):
        b = 0.0
        for j in range(bid.shape[1]):
            b += bid[i, j]
        a = 0.0
        for j in range(ask.shape[1]):
            a += ask[i, j]
        total = b + a
        out[i] = np.nan if total == 0.0 else (b - a) / total


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
