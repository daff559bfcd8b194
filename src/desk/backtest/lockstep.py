"""The compiled lockstep kernel: many parameter sets over the bars at once.

:func:`simulate_sets` gives, for each parameter set, what
:func:`desk.backtest.kernel.simulate_arrays` gives for it alone with candidate codes
(statistics, trades, fees, fills, refusals; no per-bar curve). The sets go in groups of
:data:`LANES`, and the kernel walks the bars in blocks of :data:`BLOCK`; in each block, group
after group:

1. **Codes**, set by set, into a small buffer that stays in cache: copied from the set's row
   of a codes table, or (:data:`KIND_CROSS`) made from the two series the set's strategy
   crosses (:mod:`desk.backtest.crossings`), read straight from the shared indicator arrays.
   A block of each series is read from memory once for all the sets and groups that use it.
2. **Orders**, set by set (:func:`desk.backtest.account.account`): the single-run kernel's
   steps and rules over the bars where something can happen. It notes each bar where the
   set's cash and position change. The block's prices are read once as a stream first, so
   the fills, scattered over the block, find them in cache.
3. **Marks and statistics** (:mod:`desk.backtest.marks`), bar by bar for the group's sets in
   lockstep, on SIMD lanes.

Every step does the same float operations in the same order per set as the single-run
kernel (numba compiles without fastmath: no fused multiply-add, no reassociation), so every
set's numbers are bit-identical to running it alone (tests hold this).

The kernel keeps each set's state between blocks in arrays the caller owns, so it can stop
before a block whose round trips might not fit the trades table, and go on from there once
the caller has made it larger (:meth:`desk.backtest.batch.Workspace.run`).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from desk.backtest.account import A_CHANGES, account
from desk.backtest.book import S_CASH, S_NTR
from desk.backtest.crossings import cross_code
from desk.backtest.kernel import C_CASH, C_START
from desk.backtest.marks import (
    LANES,
    N_ROWS,
    R_AT,
    R_CASH,
    R_LOW,
    R_PEAK,
    R_PREV,
    R_TOP,
    RUN,
    finish_marks,
    marks,
)

_LOCKSTEP = {"cache": True, "nogil": True, "error_model": "numpy"}
"""No ZeroDivisionError checks (their branches stop the SIMD loops); the statistics never
divide by zero that they keep (the single-run kernel's guards, as selects), and IEEE
division is the same either way."""

BLOCK = 4096
"""Bars per block (a multiple of 8): the block's prices, series, codes and changes stay in
the core's cache between the passes."""

KIND_NONE, KIND_CODES, KIND_CROSS = 0, 1, 2
"""Where a set's candidate codes come from: none (a spare lane), its row of the codes table,
or the crossing of its two series."""


@intrinsic
def _float_pointer(typingctx, address):  # type: ignore[no-untyped-def]
    """The address of float64 data (an int, from ``ndarray.ctypes.data``) as a pointer."""
    if not isinstance(address, types.Integer):
        return None
    sig = types.CPointer(types.float64)(address)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(**_LOCKSTEP)
def simulate_sets(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    kinds: np.ndarray,
    codes: np.ndarray,
    series: np.ndarray,
    cfg: np.ndarray,
    st: np.ndarray,
    acc: np.ndarray,
    trades: np.ndarray,
    stats_out: np.ndarray,
    local: np.ndarray,
    words: np.ndarray,
    at: np.ndarray,
    cash_at: np.ndarray,
    pos_at: np.ndarray,
    changes: np.ndarray,
    sink: np.ndarray,
    lo0: int,
) -> int:
    """Run the sets from bar ``lo0`` (where a block starts; 0 to begin) on; the bar count
    when done, else the block where it stopped for lack of room in ``trades``.

    Set s (of a multiple of LANES; group s // LANES): its codes come from ``kinds[s]``
    (KIND_*): row s of ``codes`` (int8, a column per bar; any shape when no set reads it),
    or the crossing of the float64 series at address ``series[s, 0]`` over the one at
    ``series[s, 1]`` (``ndarray.ctypes.data`` of C-contiguous arrays of at least the bars'
    length, which the caller keeps alive).

    State the caller keeps from call to call: ``st`` (sets, N_ACCOUNT) and ``acc`` (groups,
    N_ROWS, LANES), whatever they hold before the first; ``trades`` (sets, rows, columns),
    the round trips so far (see :func:`~desk.backtest.account.account`). ``stats_out``
    (sets, N_STATS) gets the statistics at the end. Scratch, for blocks of B bars (a
    multiple of 8; BLOCK but in tests): ``local`` (LANES, B) int8 and ``words`` the same
    memory as uint64, which sets B; ``at`` (int64), ``cash_at``, ``pos_at`` (LANES, B);
    ``changes`` (int64, B); ``sink`` (1 float).
    """
    n = close.shape[0]
    start = int(cfg[C_START])
    cash0 = cfg[C_CASH]
    sets = kinds.shape[0]
    groups = sets // LANES
    if lo0 == 0:
        st[:] = 0.0
        acc[:] = 0.0
        for s in range(sets):
            st[s, S_CASH] = cash0
        for grp in range(groups):
            for g in range(LANES):
                acc[grp, R_CASH, g] = cash0
                acc[grp, R_PREV, g] = cash0
                acc[grp, R_PEAK, g] = cash0
                acc[grp, R_LOW, g] = cash0
                acc[grp, R_TOP, g] = start - 1
                acc[grp, R_AT, g] = RUN
    # The marks work on a copy of known shape: the compiler then knows the rows' strides,
    # and that they do not overlap (no check of that per bar).
    marked = np.empty((N_ROWS, LANES))
    taken = np.zeros(LANES, dtype=np.int64)
    room = trades.shape[1]
    block = words.shape[1] * 8
    for lo in range(lo0, n, block):
        hi = min(n, lo + block)
        for s in range(sets):
            if room - st[s, S_NTR] < 3 * (hi - lo) + 1:  # at most 3 fills a bar
                return lo
        sink[0] = _stream(open_, high, low, close, atr, lo, hi)
        for grp in range(groups):
            for g in range(LANES):
                s = grp * LANES + g
                _block_codes(kinds[s], codes, series, s, n, lo, hi, local[g])
                st[s, A_CHANGES] = 0
                account(
                    open_, high, low, close, atr, local[g], words[g], cfg, st[s], trades[s],
                    at[g], cash_at[g], pos_at[g], lo, hi,
                )  # fmt: skip
            changes[: hi - lo] = 0
            for g in range(LANES):
                for j in range(int(st[grp * LANES + g, A_CHANGES])):
                    changes[at[g, j] - lo] |= np.int64(1) << g
                taken[g] = 0
            marked[:] = acc[grp]
            marks(marked, taken, close, cash_at, pos_at, changes, lo, hi, start, cash0)
            acc[grp] = marked
    for grp in range(groups):
        marked[:] = acc[grp]
        finish_marks(marked, stats_out[grp * LANES : (grp + 1) * LANES], n, start)
        acc[grp] = marked
    return n


@numba.njit(**_LOCKSTEP)
def _block_codes(
    kind: int,
    codes: np.ndarray,
    series: np.ndarray,
    s: int,
    n: int,
    lo: int,
    hi: int,
    out: np.ndarray,
) -> None:
    """Set s's codes of bars ``[lo, hi)`` into ``out[: hi - lo]``.

    The loop indexes slices from 0, so the compiler sees no negative index (which numba
    would wrap around: a select per load, which stops the SIMD loop).
    """
    if kind == KIND_CROSS:
        x = numba.carray(_float_pointer(series[s, 0]), n)
        level = numba.carray(_float_pointer(series[s, 1]), n)
        skip = 1 if lo == 0 else 0  # no bar before the first: no crossing
        if skip:
            out[0] = 0
        xs = x[lo - 1 + skip : hi]
        levels = level[lo - 1 + skip : hi]
        dest = out[skip:]
        for j in range(hi - lo - skip):
            dest[j] = cross_code(xs[j], levels[j], xs[j + 1], levels[j + 1])
    elif kind == KIND_CODES:
        out[: hi - lo] = codes[s, lo:hi]
    else:
        out[: hi - lo] = 0


@numba.njit(inline="always", **_LOCKSTEP)
def _stream(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    lo: int,
    hi: int,
) -> float:
    """Read the block's prices once, in order (a sum nobody needs, kept so the loop stays).

    The sets' fills fall on scattered bars, cache lines apart: each would wait for memory on
    its own. Read as a stream, which the hardware prefetches, the block is in cache for all
    the sets after.
    """
    total = 0.0
    for i in range(lo, hi):
        total += open_[i] + high[i] + low[i] + close[i]
    for i in range(lo, min(hi, atr.shape[0])):
        total += atr[i]
    return total


__all__ = ["BLOCK", "KIND_CODES", "KIND_CROSS", "KIND_NONE", "LANES", "simulate_sets"]
