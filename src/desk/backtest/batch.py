"""The backtest kernel for a group of parameter sets at once: a sweep's fast path.

:func:`simulate_group` gives, for each of :data:`LANES` parameter sets (their candidate
codes, one row each), what :func:`desk.backtest.kernel.simulate_arrays` gives for it alone
(statistics, trades, fees, fills, refusals; no per-bar curve), in two passes:

1. **Orders**, set by set (:func:`desk.backtest.account.account`): the single-run kernel's
   steps and rules over the bars where something can happen (a candidate code, a pending
   fill, an open position with exits), on local variables. It notes each bar where the set's
   cash and position change.
2. **Marks and statistics**, bar by bar for all sets in lockstep: the changes noted in pass
   1 come in on their bars, then equity = cash + position x close and the steps of
   :func:`desk.backtest.stats.step`, written without branches over arrays indexed by the
   set, so the compiler runs them on SIMD lanes, several sets per instruction (a new peak,
   rare, is settled after the loop of its bar).

Both passes do the same float operations in the same order per set as the single-run kernel
(no fused multiply-add, no reassociation: numba compiles without fastmath), so every set's
numbers are bit-identical to running it alone (tests hold this). What this saves over a run
per set: the statistics' per-bar cost (the bulk of a run) spread over SIMD lanes, fills at
tens of nanoseconds instead of hundreds, and the per-run overhead (buffers are reused:
:class:`Workspace`).

No per-bar curve is kept: a sweep needs only the statistics, and keeps the curves of its best
sets by running those alone (:mod:`desk.backtest.sweep`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numba
import numpy as np

from desk.backtest import stats as bar_stats
from desk.backtest.account import account
from desk.backtest.book import (
    N_STATE,
    N_TRADE_COLS,
    S_FEES,
    S_FILLS,
    S_NTR,
    S_SKIPPED,
)
from desk.backtest.config import BacktestConfig
from desk.backtest.kernel import (
    C_CASH,
    C_START,
    config_vector,
)
from desk.backtest.metrics import closed_pnl, metrics_from_pnl

if TYPE_CHECKING:
    from desk.signals.strategy import BaseStrategy

_JIT = {"cache": True, "nogil": True}
_LOCKSTEP = {**_JIT, "error_model": "numpy"}
"""No ZeroDivisionError checks (their branches stop the SIMD loop); the statistics never
divide by zero that they keep (the single-run kernel's guards, as selects), and IEEE
division is the same either way."""

LANES = 16
"""Parameter sets per group: enough for the compiler's SIMD loop over them to pay (at most
31: a bar's changes are the bits of an int32)."""

_BIT_INDEX = np.array(
    [0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8, 31, 27, 13, 23, 21, 19, 16, 7, 26,
     12, 18, 6, 11, 5, 10, 9],
    dtype=np.int64,
)  # fmt: skip
"""The index of a 32-bit power of two from its de Bruijn product (see simulate_group)."""

# Rows of the group's accumulator array (one column per set).
A_CASH, A_POS, A_PREV, A_PEAK, A_LOW, A_K, A_S1, A_S2 = 0, 1, 2, 3, 4, 5, 6, 7
A_DOWN, A_MAX_DD, A_UNDER, A_LONGEST, A_EXPOSED = 8, 9, 10, 11, 12
N_ACC = 13


class GroupOutput(NamedTuple):
    """Per set of a group: its trades (rows ``[: n_trades[g]]`` of ``trades[g]``), fees,
    fills, refused signals and statistics (``stats[g]``, :mod:`desk.backtest.stats`)."""

    trades: np.ndarray  # (G, rows, N_TRADE_COLS)
    n_trades: np.ndarray  # (G,) int
    fees: np.ndarray  # (G,)
    fills: np.ndarray  # (G,) int
    skipped: np.ndarray  # (G,) int
    stats: np.ndarray  # (G, N_STATS)

    def set_trades(self, g: int) -> np.ndarray:
        return self.trades[g, : int(self.n_trades[g])]


@numba.njit(**_LOCKSTEP)
def simulate_group(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    codes: np.ndarray,
    cfg: np.ndarray,
    st: np.ndarray,
    trades: np.ndarray,
    stats_out: np.ndarray,
    at: np.ndarray,
    cash: np.ndarray,
    pos: np.ndarray,
    bits_at: np.ndarray,
) -> None:
    """The two passes (module docstring) over ``codes`` (LANES, bars) int8.

    ``st`` (LANES, N_STATE) must be zeros; ``trades`` (LANES, rows, N_TRADE_COLS) has room
    for each set's round trips (its non-zero codes + 1 suffice); ``stats_out`` (LANES,
    N_STATS); ``at`` (int64), ``cash`` and ``pos`` (LANES, 2 x rows + 1) and ``bits_at``
    (int32, at least one per bar) are scratch.
    """
    n = close.shape[0]
    start = int(cfg[C_START])
    cash0 = cfg[C_CASH]
    for g in range(LANES):
        account(
            open_, high, low, close, atr, codes[g], cfg, st[g], trades[g], at[g], cash[g],
            pos[g],
        )  # fmt: skip
    # Which sets change on each bar, as bits: one test per bar in the loop below.
    changes = bits_at[:n]
    changes[:] = 0
    for g in range(LANES):
        j = 0
        while at[g, j] < n:
            changes[at[g, j]] |= 1 << g
            j += 1
    acc = np.zeros((N_ACC, LANES))
    k = np.zeros(LANES, dtype=np.int64)
    for g in range(LANES):
        acc[A_CASH, g] = cash0
        acc[A_PREV, g] = cash0
        acc[A_PEAK, g] = cash0
        acc[A_LOW, g] = cash0
    for i in range(n):
        bits = np.int64(changes[i])
        while bits != 0:
            lowest = bits & -bits
            g = _BIT_INDEX[((lowest * 0x077CB531) & 0xFFFFFFFF) >> 27]  # de Bruijn
            j = k[g]
            acc[A_CASH, g] = cash[g, j]
            acc[A_POS, g] = pos[g, j]
            k[g] = j + 1
            bits ^= lowest
        if i < start:
            continue
        c = close[i]
        if i == start:
            for g in range(LANES):
                acc[A_K, g] = bar_stats.first_return(acc[A_CASH, g] + acc[A_POS, g] * c, cash0)
        _marks(acc, c)
    for g in range(LANES):
        bar_stats.finish(
            stats_out[g], max(n - start, 0), acc[A_PREV, g], acc[A_PEAK, g], acc[A_K, g],
            acc[A_S1, g], acc[A_S2, g], acc[A_DOWN, g], acc[A_LOW, g], acc[A_MAX_DD, g],
            int(acc[A_LONGEST, g]), int(acc[A_EXPOSED, g]),
        )  # fmt: skip


@numba.njit(inline="always", **_LOCKSTEP)
def _marks(acc: np.ndarray, c: float) -> None:
    """One bar of :func:`desk.backtest.stats.step` for every set, without branches.

    Each select below picks what the branch of ``step`` would compute, so the values are
    the same to the bit; counts are whole floats (exact far beyond any bar count). A new
    peak (rare: equity at a record) is left to :func:`_new_peaks`, which this bar's loop
    tells by its count: the peak and its low stay as they were for it (the low because the
    equity is above it; the bars under water are 0 either way).
    """
    peaks = 0
    for g in range(LANES):
        pos = acc[A_POS, g]
        e = acc[A_CASH, g] + pos * c
        prev = acc[A_PREV, g]
        r = e / prev - 1.0 if prev > 0.0 else 0.0
        d = r - acc[A_K, g]
        acc[A_S1, g] += d
        acc[A_S2, g] += d * d
        neg = min(r, 0.0)
        acc[A_DOWN, g] += neg * neg
        peak = acc[A_PEAK, g]
        lo = acc[A_LOW, g]
        peaks += 1 if e > peak else 0
        acc[A_LOW, g] = e if e < lo else lo
        under = acc[A_UNDER, g] + 1.0 if e < peak else 0.0
        acc[A_UNDER, g] = under
        acc[A_LONGEST, g] = max(acc[A_LONGEST, g], under)
        acc[A_EXPOSED, g] += 1.0 if pos != 0.0 else 0.0
        acc[A_PREV, g] = e
    if peaks:
        _new_peaks(acc)


@numba.njit(inline="always", **_LOCKSTEP)
def _new_peaks(acc: np.ndarray) -> None:
    """The sets whose equity (just marked) tops their peak: the drawdown of the old peak is
    final, and the new peak starts with itself as its low (``step``'s first branch)."""
    for g in range(LANES):
        e = acc[A_PREV, g]
        if e > acc[A_PEAK, g]:
            acc[A_MAX_DD, g] = bar_stats.drawdown(acc[A_MAX_DD, g], acc[A_LOW, g], acc[A_PEAK, g])
            acc[A_PEAK, g] = e
            acc[A_LOW, g] = e


_NO_ATR = np.empty(0)


class Workspace:
    """A group's buffers (codes, state rows, trades), kept from group to group and from one
    sweep chunk to the next in a worker.

    Fresh pages cost a page fault on their first write, and in a virtual machine that costs
    more than the fills written into them (tens of MB of trade rows per group on a million
    bars); reused buffers are faulted in once.
    """

    def __init__(self) -> None:
        self._codes = np.empty(0, dtype=np.int8)
        self._trades = np.empty(0)
        self.st = np.zeros((LANES, N_STATE))
        self.stats = np.empty((LANES, bar_stats.N_STATS))
        self._at = np.empty((LANES, 0), dtype=np.int64)
        self._bits = np.empty(0, dtype=np.int32)
        self._cash = np.empty((LANES, 0))
        self._pos = np.empty((LANES, 0))

    def codes(self, n: int) -> np.ndarray:
        """A (LANES, n) int8 block for the group's candidate codes."""
        if self._codes.size < LANES * n:
            self._codes = np.empty(LANES * n, dtype=np.int8)
        return self._codes[: LANES * n].reshape(LANES, n)

    def trades(self, rows: int) -> np.ndarray:
        """A (LANES, rows, N_TRADE_COLS) block for the group's round trips."""
        size = LANES * rows * N_TRADE_COLS
        if self._trades.size < size:
            self._trades = np.empty(size)
        return self._trades[:size].reshape(LANES, rows, N_TRADE_COLS)

    def bits(self, n: int) -> np.ndarray:
        """An int32 per bar for which sets change on it."""
        if self._bits.shape[0] < n:
            self._bits = np.empty(n, dtype=np.int32)
        return self._bits

    def changes(self, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(LANES, rows) blocks for the bars with fills and what they close with."""
        if self._at.shape[1] < rows:
            self._at = np.empty((LANES, rows), dtype=np.int64)
            self._cash = np.empty((LANES, rows))
            self._pos = np.empty((LANES, rows))
        return self._at, self._cash, self._pos

    def run(
        self,
        arrays: Mapping[str, np.ndarray],
        codes: np.ndarray,
        cfg: np.ndarray,
        atr: np.ndarray,
    ) -> np.ndarray:
        """Run the group of ``codes`` (a :meth:`codes` block, filled); the trades block."""
        rows = max(int(np.count_nonzero(row)) for row in codes) + 1
        trades = self.trades(rows)
        self.st[:] = 0.0
        simulate_group(
            arrays["open"], arrays["high"], arrays["low"], arrays["close"], atr, codes, cfg,
            self.st, trades, self.stats, *self.changes(2 * rows + 1), self.bits(codes.shape[1]),
        )  # fmt: skip
        return trades

    def set_output(self, trades: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Set ``g`` of the last :meth:`run`: (its statistics, its trade rows, its fees);
        views into the workspace, valid until the next run."""
        st = self.st[g]
        return self.stats[g], trades[g, : int(st[S_NTR])], float(st[S_FEES])


_local = threading.local()


def workspace() -> Workspace:
    """This thread's :class:`Workspace` (made on first use)."""
    ws = getattr(_local, "ws", None)
    if ws is None:
        ws = _local.ws = Workspace()
    return ws


def release() -> None:
    """Drop this thread's workspace (its buffers go back to the allocator)."""
    _local.ws = None


def _float_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(arrays[k], dtype=np.float64) for k in PRICES}


PRICES = ("open", "high", "low", "close")


def simulate_codes(
    arrays: Mapping[str, np.ndarray],
    codes: Sequence[np.ndarray] | np.ndarray,
    config: BacktestConfig,
    *,
    atr: np.ndarray | None = None,
    start: int = 0,
) -> GroupOutput:
    """Run every row of ``codes`` (candidate codes of one parameter set each, one per bar)
    as :func:`~desk.backtest.kernel.simulate` with ``codes=True, curves=False`` would, in
    lockstep groups (module docstring); the outputs are copies."""
    prices = _float_arrays(arrays)
    n = prices["close"].shape[0]
    block = np.ascontiguousarray(codes, dtype=np.int8)
    if block.ndim != 2 or block.shape[1] != n:
        raise ValueError(f"codes must be (sets, {n}) for {n} bars, got shape {block.shape}")
    atr = _atr_for(atr, config)
    count = block.shape[0]
    cfg = config_vector(config, start)
    ws = Workspace()
    parts = []
    for lo in range(0, count, LANES):
        part = block[lo : lo + LANES]
        group = ws.codes(n)
        group[: len(part)] = part
        group[len(part) :] = 0  # spare lanes: sets that never signal
        trades = ws.run(prices, group, cfg, atr)
        parts.append((trades.copy(), ws.st[: len(part)].copy(), ws.stats[: len(part)].copy()))
    rows = max(t.shape[1] for t, _, _ in parts)
    trades = np.zeros((count, rows, N_TRADE_COLS))
    for k, (t, _, _) in enumerate(parts):
        trades[k * LANES : k * LANES + LANES, : t.shape[1]] = t[: min(LANES, count - k * LANES)]
    st = np.concatenate([s for _, s, _ in parts])
    return GroupOutput(
        trades,
        st[:, S_NTR].astype(np.int64),
        st[:, S_FEES].copy(),
        st[:, S_FILLS].astype(np.int64),
        st[:, S_SKIPPED].astype(np.int64),
        np.concatenate([x for _, _, x in parts]),
    )


def _atr_for(atr: np.ndarray | None, config: BacktestConfig) -> np.ndarray:
    if atr is None:
        if config.sizing == "atr":
            raise ValueError("atr sizing needs the ATR series")
        return _NO_ATR
    return np.ascontiguousarray(atr, dtype=np.float64)


def evaluate_many(
    arrays: Mapping[str, np.ndarray],
    strategies: Sequence[BaseStrategy],
    config: BacktestConfig,
    *,
    bar_ns: int,
    start: int = 0,
    atr: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """The metrics of each of ``strategies`` over ``arrays``, as
    :func:`~desk.backtest.run.evaluate` gives them one at a time (to the bit), run in
    lockstep groups of :data:`LANES` in this thread's :class:`Workspace`."""
    prices = _float_arrays(arrays)
    n = prices["close"].shape[0]
    atr = _atr_for(atr if atr is not None else arrays.get("atr"), config)
    cfg = config_vector(config, start)
    ws = workspace()
    out: list[dict[str, float]] = []
    for lo in range(0, len(strategies), LANES):
        group = strategies[lo : lo + LANES]
        codes = ws.codes(n)
        for g, strategy in enumerate(group):
            codes[g] = strategy.batch_codes(arrays)
        codes[len(group) :] = 0  # spare lanes: sets that never signal
        trades = ws.run(prices, codes, cfg, atr)
        for g in range(len(group)):
            stats, rows, fees = ws.set_output(trades, g)
            pnl = closed_pnl(rows)
            out.append(metrics_from_pnl(stats, pnl, cash=config.cash, bar_ns=bar_ns, fees=fees))
    return out
