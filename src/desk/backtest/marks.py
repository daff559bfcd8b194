"""Marks and statistics of a lockstep group, bar by bar for all its sets at once.

Pass 3 of :mod:`desk.backtest.lockstep`: the changes of cash and position its pass 2 noted
come in on their bars, then equity = cash + position x close and the steps of
:func:`desk.backtest.stats.step` that every bar needs (the return, its sums, the downside,
the low since the peak), written without branches over rows of an array indexed by the set,
so the compiler runs them on SIMD lanes, several sets per instruction, and :data:`RUN` bars
at a time, the accumulators kept in registers over the run (the division of each bar's
return is then most of the cost). The rest waits for the bars that need it:

* a bar at or above the peak (rare while a set holds a position) settles the run of bars
  under water, and above the peak the old peak's drawdown, in :func:`_tops`, after the loop
  of its bar;
* a set that is flat at its peak stays there until its next change (its equity is its cash),
  so its bars are not sent to :func:`_tops` one by one: the change settles them at once
  (:func:`_settle`);
* the bars exposed are counted from one change of position to the next.

The values are those of ``step`` to the bit: each select picks what its branch computes,
the counts are whole numbers (floats, exact far beyond any bar count), and the longest run
under water is the longest of the runs, each counted when it ends.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from desk.backtest import stats as bar_stats

_LOCKSTEP = {"cache": True, "nogil": True, "error_model": "numpy"}

LANES = 16
"""Parameter sets per group: enough for the compiler's SIMD loops over them to pay (at most
63: a bar's changes are the bits of an int64)."""

# Rows of the group's accumulator array (one column per set): the set's cash and position,
# the accumulators of desk.backtest.stats (prev, peak, low since the peak, k, s1, s2, down,
# max_dd), then the longest run under water so far, the last bar not under water, the bars
# exposed so far, and the bar the cash and position hold since.
R_CASH, R_POS, R_PREV, R_PEAK, R_LOW, R_K, R_S1, R_S2, R_DOWN = 0, 1, 2, 3, 4, 5, 6, 7, 8
R_MAX_DD, R_LONGEST, R_TOP, R_EXPOSED, R_SINCE = 9, 10, 11, 12, 13
# Scratch of a run: the bar of the run where the set's change comes in (RUN: none), the
# cash and position it brings, the low before the run.
R_AT, R_NEW_CASH, R_NEW_POS, R_KEPT_LOW = 14, 15, 16, 17
N_ROWS = 18

RUN = 4
"""Bars marked in one go (:func:`marks`): of 2, 4 and 8, 4 measured fastest."""


@numba.njit(inline="always", **_LOCKSTEP)
def marks(
    acc: np.ndarray,
    taken: np.ndarray,
    close: np.ndarray,
    cash_at: np.ndarray,
    pos_at: np.ndarray,
    changes: np.ndarray,
    lo: int,
    hi: int,
    start: int,
    cash0: float,
) -> None:
    """Bars ``[lo, hi)``: ``changes[i - lo]`` has bit g set when set g's cash and position
    change on bar i, to its next entry of ``cash_at[g]`` / ``pos_at[g]`` (``taken[g]``
    counts those read).

    :data:`RUN` bars at a time where no set changes twice in them and none that changes
    after the first is flat (nearly everywhere): each set's accumulators then stay in
    registers over the run, and its change, if any, comes in by a select at its bar
    (:func:`_run`); otherwise one bar at a time (:func:`_bar`). (A flat set's change may
    settle a stretch at its peak, :func:`_settle`, which needs the bars before it marked.)
    """
    i = lo
    while i < hi:
        _change(acc, taken, cash_at, pos_at, changes[i - lo], i, start)
        if start < i and i + RUN <= hi:
            b1, b2, b3 = changes[i + 1 - lo], changes[i + 2 - lo], changes[i + 3 - lo]
            later = b1 | b2 | b3
            if (b1 & b2) | ((b1 | b2) & b3) == 0 and not _any_flat(acc, later):
                if later == 0:
                    tops = _run(acc, close, i, False)
                else:
                    for t in range(1, RUN):
                        _later_change(acc, taken, cash_at, pos_at, changes[i + t - lo], i, t, start)
                    tops = _run(acc, close, i, True)
                if tops:
                    _run_tops(acc, close, i)
                while later != 0:  # the cash and position the run ends with
                    g = trailing_zeros(later)
                    acc[R_CASH, g] = acc[R_NEW_CASH, g]
                    acc[R_POS, g] = acc[R_NEW_POS, g]
                    acc[R_AT, g] = RUN
                    later &= later - 1
                i += RUN
                continue
        if i >= start:
            c = close[i]
            if i == start:
                for g in range(LANES):
                    e = acc[R_CASH, g] + acc[R_POS, g] * c
                    acc[R_K, g] = bar_stats.first_return(e, cash0)
            _bar(acc, c, i)
        i += 1


@numba.njit(inline="always", **_LOCKSTEP)
def _change(
    acc: np.ndarray,
    taken: np.ndarray,
    cash_at: np.ndarray,
    pos_at: np.ndarray,
    bits: int,
    i: int,
    start: int,
) -> None:
    """The changes of bar i (``bits``: the sets that change on it)."""
    while bits != 0:
        g = trailing_zeros(bits)
        _book_change(acc, g, i, start)
        acc[R_CASH, g] = cash_at[g, taken[g]]
        acc[R_POS, g] = pos_at[g, taken[g]]
        taken[g] += 1
        bits &= bits - 1


@numba.njit(inline="always", **_LOCKSTEP)
def _later_change(
    acc: np.ndarray,
    taken: np.ndarray,
    cash_at: np.ndarray,
    pos_at: np.ndarray,
    bits: int,
    i: int,
    t: int,
    start: int,
) -> None:
    """The changes of bar i + t of a run (``bits``), kept for :func:`_run` to bring in."""
    while bits != 0:
        g = trailing_zeros(bits)
        _book_change(acc, g, i + t, start)
        acc[R_AT, g] = t
        acc[R_NEW_CASH, g] = cash_at[g, taken[g]]
        acc[R_NEW_POS, g] = pos_at[g, taken[g]]
        taken[g] += 1
        bits &= bits - 1


@numba.njit(inline="always", **_LOCKSTEP)
def _any_flat(acc: np.ndarray, bits: int) -> bool:
    """Whether a set among ``bits`` is flat."""
    while bits != 0:
        if acc[R_POS, trailing_zeros(bits)] == 0.0:
            return True
        bits &= bits - 1
    return False


@numba.njit(inline="always", **_LOCKSTEP)
def _book_change(acc: np.ndarray, g: int, i: int, start: int) -> None:
    """What set g's change on bar i closes: a stretch flat at the peak (:func:`_settle`) and
    the bars exposed since the last change."""
    _settle(acc, g, i, start)
    if acc[R_POS, g] != 0.0:
        acc[R_EXPOSED, g] += max(0.0, i - max(acc[R_SINCE, g], start))
    acc[R_SINCE, g] = i


@numba.njit(inline="always", **_LOCKSTEP)
def _bar(acc: np.ndarray, c: float, i: int) -> None:
    """Bar i, closing at ``c``, for every set."""
    tops = 0
    for g in range(LANES):
        cash = acc[R_CASH, g]
        pos = acc[R_POS, g]
        e = cash + pos * c
        prev = acc[R_PREV, g]
        r = e / prev - 1.0 if prev > 0.0 else 0.0
        d = r - acc[R_K, g]
        acc[R_S1, g] += d
        acc[R_S2, g] += d * d
        neg = min(r, 0.0)
        acc[R_DOWN, g] += neg * neg
        low = acc[R_LOW, g]
        acc[R_LOW, g] = e if e < low else low
        peak = acc[R_PEAK, g]
        tops += 0 if e < peak or (pos == 0.0 and cash == peak) else 1
        acc[R_PREV, g] = e
    if tops:
        _tops(acc, i)


@numba.njit(inline="always", **_LOCKSTEP)
def _run(acc: np.ndarray, close: np.ndarray, i: int, changed: bool) -> int:
    """Bars i..i + RUN - 1 for every set, with (``changed``) its change if any from its bar
    ``acc[R_AT]`` of the run on; how many bars of sets were at or above the peak (their
    peak, low and runs under water then wait for :func:`_run_tops`, from the low kept)."""
    tops = 0
    for g in range(LANES):
        cash, pos = acc[R_CASH, g], acc[R_POS, g]
        prev, k, peak = acc[R_PREV, g], acc[R_K, g], acc[R_PEAK, g]
        s1, s2, down, low = acc[R_S1, g], acc[R_S2, g], acc[R_DOWN, g], acc[R_LOW, g]
        acc[R_KEPT_LOW, g] = low
        for t in range(RUN):
            if changed and t >= acc[R_AT, g]:
                cash, pos = acc[R_NEW_CASH, g], acc[R_NEW_POS, g]
            e = cash + pos * close[i + t]
            r = e / prev - 1.0 if prev > 0.0 else 0.0
            d = r - k
            s1 += d
            s2 += d * d
            neg = min(r, 0.0)
            down += neg * neg
            low = e if e < low else low
            tops += 0 if e < peak or (pos == 0.0 and cash == peak) else 1
            prev = e
        acc[R_PREV, g], acc[R_S1, g], acc[R_S2, g] = prev, s1, s2
        acc[R_DOWN, g], acc[R_LOW, g] = down, low
    return tops


@numba.njit(**_LOCKSTEP)
def _run_tops(acc: np.ndarray, close: np.ndarray, i: int) -> None:
    """The run of bars i..i + RUN - 1 again for the peak, the low and the runs under water
    of every set, bar by bar (:func:`_bar`'s low, then :func:`_tops`), from the low before
    it: rare, as a bar at or above the peak is."""
    for g in range(LANES):
        acc[R_LOW, g] = acc[R_KEPT_LOW, g]
    for t in range(RUN):
        c = close[i + t]
        for g in range(LANES):
            at = acc[R_AT, g]
            cash = acc[R_NEW_CASH, g] if t >= at else acc[R_CASH, g]
            pos = acc[R_NEW_POS, g] if t >= at else acc[R_POS, g]
            e = cash + pos * c
            low = acc[R_LOW, g]
            acc[R_LOW, g] = e if e < low else low
            peak = acc[R_PEAK, g]
            if not (e < peak or (pos == 0.0 and cash == peak)):
                acc[R_LONGEST, g] = max(acc[R_LONGEST, g], i + t - 1 - acc[R_TOP, g])
                acc[R_TOP, g] = i + t
                if e > peak:
                    acc[R_MAX_DD, g] = bar_stats.drawdown(acc[R_MAX_DD, g], low, peak)
                    acc[R_PEAK, g] = e
                    acc[R_LOW, g] = e


@numba.njit(**_LOCKSTEP)
def _tops(acc: np.ndarray, i: int) -> None:
    """The sets whose equity on bar i (just marked) is not below their peak, flat ones at
    the peak aside (:func:`_settle`): the run of bars under water before it ends, and above
    the peak the old peak's drawdown is final and the new peak is its own low (``step``'s
    first branch; the low was left alone for it, the equity not being below it)."""
    for g in range(LANES):
        e = acc[R_PREV, g]
        peak = acc[R_PEAK, g]
        if not (e < peak or (acc[R_POS, g] == 0.0 and acc[R_CASH, g] == peak)):
            acc[R_LONGEST, g] = max(acc[R_LONGEST, g], i - 1 - acc[R_TOP, g])
            acc[R_TOP, g] = i
            if e > peak:
                acc[R_MAX_DD, g] = bar_stats.drawdown(acc[R_MAX_DD, g], acc[R_LOW, g], peak)
                acc[R_PEAK, g] = e
                acc[R_LOW, g] = e


@numba.njit(inline="always", **_LOCKSTEP)
def _settle(acc: np.ndarray, g: int, i: int, start: int) -> None:
    """Set g before its change on bar i (or the end, i = the bar count): if it has been flat
    at its peak since its last change, its marked bars since then were all at the peak
    (its equity, its cash, neither above nor below it; NaN reads as not below, as in
    ``step``): the run under water before them ended, and the last of them is the last
    bar not under water."""
    if acc[R_POS, g] == 0.0 and acc[R_CASH, g] == acc[R_PEAK, g]:
        first = max(acc[R_SINCE, g], start)
        if i > first:
            acc[R_LONGEST, g] = max(acc[R_LONGEST, g], first - 1 - acc[R_TOP, g])
            acc[R_TOP, g] = i - 1


@numba.njit(inline="always", **_LOCKSTEP)
def finish_marks(acc: np.ndarray, stats_out: np.ndarray, n: int, start: int) -> None:
    """The statistics of each set (:func:`desk.backtest.stats.finish`) after the last bar."""
    for g in range(LANES):
        _settle(acc, g, n, start)
        if acc[R_POS, g] != 0.0:
            acc[R_EXPOSED, g] += max(0.0, n - max(acc[R_SINCE, g], start))
        longest = max(acc[R_LONGEST, g], n - 1 - acc[R_TOP, g])
        bar_stats.finish(
            stats_out[g], max(n - start, 0), acc[R_PREV, g], acc[R_PEAK, g], acc[R_K, g],
            acc[R_S1, g], acc[R_S2, g], acc[R_DOWN, g], acc[R_LOW, g], acc[R_MAX_DD, g],
            int(longest), int(acc[R_EXPOSED, g]),
        )  # fmt: skip
