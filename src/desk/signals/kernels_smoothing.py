"""Numba kernels of the recursive indicators: EMA, MACD, RSI, true range and ATR.

Part of :mod:`desk.signals.kernels` (which re-exports every name here; import them from there),
split out because these share one thing: a recurrence whose chain of dependent operations from
one bar to the next sets the pace. Each step is in the form of :mod:`desk.signals.recurrences`:
an EMA's ``e * beta + x * alpha`` (a multiply and an add on the chain) and Wilder's
``fma(a, k1, x * k2)`` (one fused multiply-add, ``llvm.fma``), with the weights computed by the
very functions :mod:`desk.signals.streaming` calls, which does the same steps (its ``fma`` is
correctly rounded in Python), so the live updaters reproduce these arrays bit for bit. The other
product of a step, and everything else of a bar (the change, its gain and loss, the true range,
RSI's two divisions, the stores), is off the chain and overlaps with it. The EMA and RSI loops
prefetch their inputs and outputs a few KiB ahead (:mod:`desk.signals.kernels_ops`): a loop
waiting on a chain does not otherwise issue its loads (and its stores' reads for ownership) early
enough to hide the memory's latency, and ran at up to half the speed on 10M bars on an earlier
host. ATR's loop, with its 4-cycle chain, is bound by the instructions it issues on some CPUs and
by its loads on others: four prefetches per bar made it 15% slower on Zen 4 (26.2 against 22.8 ms
on 10M bars), none left it at TA-Lib's speed on an Intel Xeon (family 6 model 167: 27.4 ms,
1.01x), so it prefetches its three inputs once per 8 bars (a cache line of each): 23.7 ms there
(0.87x). Prefetching its output as well gained nothing there; once per 16 bars lost it all.

The seeds are the simple means of the first n values, accumulated as in ``kernels.welford``.
The conventions of :mod:`desk.signals.kernels` hold here too (outputs passed in, every element
written once, IEEE division without checks, no fastmath: no contraction into fused
multiply-adds, whose rounding would differ between CPUs and from the live side; the Wilder
step's one fused multiply-add is explicit).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from desk.signals import recurrences
from desk.signals.kernels_ops import AHEAD, JIT_OPTIONS, fma, prefetch, prefetch_write

ema_weights = njit(**JIT_OPTIONS)(recurrences.ema_weights)
wilder_weights = njit(**JIT_OPTIONS)(recurrences.wilder_weights)


@njit(**JIT_OPTIONS)
def ema_from(x, start, n, out):
    """EMA of x[start:] into out[start:]: NaN, then at start+n-1 the mean of n values (the
    seed), then e = e * beta + v * alpha."""
    size = x.shape[0]
    seed_end = min(size, start + n)
    mean = 0.0
    for j in range(start, seed_end):
        d = x[j] - mean
        mean += d / (j - start + 1)
        out[j] = np.nan
    if seed_end - start < n:
        return
    e = mean
    out[seed_end - 1] = e
    alpha, beta = ema_weights(n)
    values = x[seed_end:]
    emas = out[seed_end:]
    for j in range(values.shape[0]):
        prefetch(values, j + AHEAD)
        prefetch_write(emas, j + AHEAD)
        e = e * beta + values[j] * alpha
        emas[j] = e


@njit(**JIT_OPTIONS)
def macd_into(x, fast, slow, signal, line, sig, hist):
    """line = EMA(fast) - EMA(slow); sig = EMA(signal) of the line from slow-1; hist = line -
    sig: the three EMAs of :func:`ema_from` in one pass (three independent chains overlap)."""
    size = x.shape[0]
    af, bf = ema_weights(fast)
    a_s, b_s = ema_weights(slow)
    ag, bg = ema_weights(signal)
    mf = 0.0
    ms = 0.0
    mg = 0.0
    ef = np.nan
    es = np.nan
    eg = np.nan
    warm = min(size, slow + signal - 1)  # every seed is complete from here on
    for i in range(warm):
        v = x[i]
        if i < fast:
            d = v - mf
            mf += d / (i + 1)
            if i == fast - 1:
                ef = mf
        else:
            ef = ef * bf + v * af
        if i < slow:
            d = v - ms
            ms += d / (i + 1)
            if i == slow - 1:
                es = ms
        else:
            es = es * b_s + v * a_s
        ln = ef - es
        line[i] = ln
        s = np.nan
        k = i - slow + 2
        if k >= 1:
            d = ln - mg
            mg += d / k
            if k == signal:
                eg = mg
                s = eg
        sig[i] = s
        hist[i] = ln - s
    values = x[warm:]
    lines = line[warm:]
    sigs = sig[warm:]
    hists = hist[warm:]
    for j in range(values.shape[0]):
        prefetch(values, j + AHEAD)
        prefetch_write(lines, j + AHEAD)
        prefetch_write(sigs, j + AHEAD)
        prefetch_write(hists, j + AHEAD)
        v = values[j]
        ef = ef * bf + v * af
        es = es * b_s + v * a_s
        ln = ef - es
        eg = eg * bg + ln * ag
        lines[j] = ln
        sigs[j] = eg
        hists[j] = ln - eg


@njit(**JIT_OPTIONS)
def gain_loss(d):
    """Split a close-to-close change into (gain, loss), both >= 0; NaN stays NaN. Selects, not
    branches: the sign of a change is a coin toss the branch predictor loses half the time."""
    g = d if not d <= 0.0 else 0.0  # one unordered compare each: NaN passes
    loss = -d if not d >= 0.0 else 0.0
    return g, loss


@njit(**JIT_OPTIONS)
def rsi_value(avg_gain, avg_loss):
    """100 - 100/(1 + RS); no losses reads 100, no movement at all reads 50. Both sides are
    computed and one selected: no branch for the predictor to miss."""
    value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    flat = 50.0 if avg_gain == 0.0 else 100.0
    return flat if avg_loss == 0.0 else value


@njit(**JIT_OPTIONS)
def rsi_into(c, n, out):
    """Wilder's averages: two chains (a fused multiply-add per bar each), which set the pace.
    The RSI's own two divisions per value are off the chains and overlap with them (the
    divider keeps up with the chains' latency), so they cost little in the same loop."""
    size = c.shape[0]
    if size > 0:
        out[0] = np.nan
    ag = 0.0
    al = 0.0
    seed_end = min(size, n + 1)
    for i in range(1, seed_end):
        g, l_ = gain_loss(c[i] - c[i - 1])
        ag += (g - ag) / i
        al += (l_ - al) / i
        out[i] = np.nan if i < n else rsi_value(ag, al)
    k1, k2 = wilder_weights(n)
    now = c[seed_end:]
    before = c[seed_end - 1 : size - 1]
    values = out[seed_end:]
    for j in range(values.shape[0]):
        prefetch(now, j + AHEAD)
        prefetch_write(values, j + AHEAD)
        g, l_ = gain_loss(now[j] - before[j])
        ag = fma(ag, k1, g * k2)
        al = fma(al, k1, l_ * k2)
        values[j] = rsi_value(ag, al)


@njit(**JIT_OPTIONS)
def true_range_value(h, l_, cp):
    """max(h - l, |h - cp|, |l - cp|), NaN if any input is NaN (max alone would hide it)."""
    a = h - l_
    b = abs(h - cp)
    c = abs(l_ - cp)
    m = b if b > a else a
    m = c if c > m else m
    return np.nan if (math.isnan(a) or math.isnan(b) or math.isnan(c)) else m


@njit(**JIT_OPTIONS)
def true_range_into(h, l_, c, out):
    size = c.shape[0]
    if size > 0:
        out[0] = h[0] - l_[0]
    for i in range(1, size):
        out[i] = true_range_value(h[i], l_[i], c[i - 1])


@njit(**JIT_OPTIONS)
def true_range_selects(h, l_, cp):
    """:func:`true_range_value` without its NaN test, which a finite cp makes redundant: then a
    NaN in b or c means h or l is NaN, so a (h - l) is NaN too, and these two selects pass a NaN
    a on (each keeps its right-hand value when a compare is unordered); h = l = +-inf also makes
    a NaN. Only a NaN or infinite cp needs the test (b and c NaN, a not)."""
    a = h - l_
    b = abs(h - cp)
    c = abs(l_ - cp)
    m = b if b > a else a
    return c if c > m else m


@njit(**JIT_OPTIONS)
def wilder_tr_fast(highs, lows, closes, k1, k2, a, atrs):
    """The Wilder steps with :func:`true_range_selects`; the sum of the closes read says after the
    fact whether each was finite (their sum is then finite, barring an overflow). Blocks of 8
    bars, each prefetching the inputs' cache line :data:`AHEAD` bars on (module docstring)."""
    seen = 0.0
    size = atrs.shape[0]
    blocks_end = size - size % 8  # whole blocks: a fixed count the compiler unrolls
    for start in range(0, blocks_end, 8):
        prefetch(highs, start + AHEAD)
        prefetch(lows, start + AHEAD)
        prefetch(closes, start + AHEAD)
        for j in range(start, start + 8):
            cp = closes[j]
            a = fma(a, k1, true_range_selects(highs[j], lows[j], cp) * k2)
            seen += cp
            atrs[j] = a
    for j in range(blocks_end, size):
        cp = closes[j]
        a = fma(a, k1, true_range_selects(highs[j], lows[j], cp) * k2)
        seen += cp
        atrs[j] = a
    return math.isfinite(seen)


@njit(**JIT_OPTIONS)
def atr_into(h, l_, c, n, out):
    """TR_1..TR_n's mean at n, then Wilder's step: one chain, a fused multiply-add per bar
    (TA-Lib's own arithmetic on CPUs with FMA: the same numbers). Where every previous close is
    finite (nearly always), the steps skip the true range's NaN test (6% of the loop); else they
    are redone with it."""
    size = c.shape[0]
    if size > 0:
        out[0] = np.nan
    a = 0.0
    seed_end = min(size, n + 1)
    for i in range(1, seed_end):
        a += (true_range_value(h[i], l_[i], c[i - 1]) - a) / i
        out[i] = np.nan if i < n else a
    k1, k2 = wilder_weights(n)
    highs = h[seed_end:]
    lows = l_[seed_end:]
    closes = c[seed_end - 1 : size - 1]
    atrs = out[seed_end:]
    if wilder_tr_fast(highs, lows, closes, k1, k2, a, atrs):
        return
    for j in range(atrs.shape[0]):
        a = fma(a, k1, true_range_value(highs[j], lows[j], closes[j]) * k2)
        atrs[j] = a
