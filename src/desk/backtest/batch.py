"""Many parameter sets of one strategy over one data set: a sweep's fast path.

The sets run through the lockstep kernel of :mod:`desk.backtest.lockstep` together, each to
the bit what the single-run kernel (:func:`desk.backtest.kernel.simulate` with
``codes=True, curves=False``) gives for it alone: statistics, trades, fees, fills, refusals;
no per-bar curve (a sweep needs only the statistics, and keeps the curves of its best sets
by running those alone: :mod:`desk.backtest.sweep`).

What this saves over a run per set: the statistics' per-bar cost (the bulk of a run) spread
over SIMD lanes, fills at tens of nanoseconds instead of hundreds, candidate codes made
straight from the shared indicator arrays where the strategy allows it
(:mod:`desk.backtest.crossings`: no code array per set, each array read once for all the
sets), and the per-run overhead (buffers are reused: :class:`Workspace`).
"""

from __future__ import annotations

import mmap
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from desk.backtest import stats as bar_stats
from desk.backtest.account import N_ACCOUNT
from desk.backtest.book import N_TRADE_COLS, S_FEES, S_FILLS, S_NTR, S_POS, S_SKIPPED
from desk.backtest.config import BacktestConfig
from desk.backtest.crossings import crossing_series
from desk.backtest.filters import has_filters, strategy_codes
from desk.backtest.kernel import config_vector
from desk.backtest.lockstep import BLOCK, KIND_CODES, KIND_CROSS, KIND_NONE, LANES, simulate_sets
from desk.backtest.marks import N_ROWS
from desk.backtest.metrics import metrics_from_pnl

if TYPE_CHECKING:
    from desk.signals.strategy import BaseStrategy

__all__ = ["LANES", "GroupOutput", "Workspace", "evaluate_many", "release", "simulate_codes"]


class GroupOutput(NamedTuple):
    """Per set: its trades (rows ``[: n_trades[g]]`` of ``trades[g]``), fees, fills, refused
    signals and statistics (``stats[g]``, :mod:`desk.backtest.stats`)."""

    trades: np.ndarray  # (G, rows, N_TRADE_COLS)
    n_trades: np.ndarray  # (G,) int
    fees: np.ndarray  # (G,)
    fills: np.ndarray  # (G,) int
    skipped: np.ndarray  # (G,) int
    stats: np.ndarray  # (G, N_STATS)

    def set_trades(self, g: int) -> np.ndarray:
        return self.trades[g, : int(self.n_trades[g])]


_NO_ATR = np.empty(0)
_NO_CODES = np.zeros((1, 0), dtype=np.int8)

TRADE_EVERY = 8
"""A sweep's room for its sets' round trips: one every this many bars (a fast MA crossover
on minute bars trades about every 30). A set that needs more gets it (:meth:`Workspace.run`,
a copy); room never written is never faulted in (:func:`lazy_floats`)."""


def lazy_floats(size: int) -> np.ndarray:
    """``size`` float64 whose pages are made on first write, in small pages.

    For tables written sparsely: each set's round trips fill the start of its own long row.
    numpy would ask for huge pages for an array this large, and the first write into each
    row would then clear 2 MB; small pages clear what is written (rounded to 4 kB). Falls
    back to numpy where anonymous memory maps are not available.
    """
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if not flags or size == 0:
        return np.empty(size)
    buf = mmap.mmap(-1, size * 8, flags=flags | _NO_RESERVE)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buf.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buf, dtype=np.float64)


_NO_RESERVE = 0x4000 if sys.platform.startswith("linux") else 0
"""MAP_NORESERVE (not in Python's mmap before 3.12): room reserved, not promised."""


def lanes_for(count: int) -> int:
    """Lanes for ``count`` sets: whole groups of LANES (the spare lanes never signal)."""
    return max(1, -(-count // LANES)) * LANES


class Workspace:
    """The kernel's buffers (codes, state, trades, scratch), kept from call to call and from
    one sweep chunk to the next in a worker.

    Fresh pages cost a page fault on their first write, and in a virtual machine that costs
    more than the fills written into them (tens of MB of trade rows on a million bars);
    reused buffers are faulted in once.
    """

    def __init__(self, block: int = BLOCK) -> None:
        if block <= 0 or block % 8:
            raise ValueError(f"a block is a positive multiple of 8 bars, got {block}")
        self.block = block
        self._codes = np.empty(0, dtype=np.int8)
        self._trades = np.empty(0)
        self._state = np.empty(0)
        self.st = np.zeros((0, N_ACCOUNT))
        self.stats = np.empty((0, bar_stats.N_STATS))
        self._acc = np.empty(0)
        self._words = np.zeros((LANES, block // 8), dtype=np.uint64)
        self._at = np.empty((LANES, block), dtype=np.int64)
        self._cash = np.empty((LANES, block))
        self._pos = np.empty((LANES, block))
        self._changes = np.empty(block, dtype=np.int64)
        self._sink = np.zeros(1)

    def codes(self, sets: int, n: int) -> np.ndarray:
        """A (sets, n) int8 table for candidate codes."""
        if self._codes.size < sets * n:
            self._codes = np.empty(sets * n, dtype=np.int8)
        return self._codes[: sets * n].reshape(sets, n)

    def _trades_block(
        self, sets: int, rows: int, columns: int, keep: np.ndarray | None = None
    ) -> np.ndarray:
        """A (sets, rows, columns) block for the round trips, holding ``keep``'s rows."""
        size = sets * rows * columns
        kept = None if keep is None else keep.copy()  # the block may lie over it
        if self._trades.size < size:
            self._trades = lazy_floats(size)
        block = self._trades[:size].reshape(sets, rows, columns)
        if kept is not None:
            block[:, : kept.shape[1]] = kept
        return block

    def _state_for(self, sets: int) -> np.ndarray:
        """The sets' state rows and statistics (``st``, ``stats``) and the groups' marks."""
        if self.st.shape[0] != sets:
            self.st = np.zeros((sets, N_ACCOUNT))
            self.stats = np.empty((sets, bar_stats.N_STATS))
            self._acc = np.zeros((sets // LANES, N_ROWS, LANES))
        return self._acc

    def run(
        self,
        arrays: Mapping[str, np.ndarray],
        kinds: np.ndarray,
        codes: np.ndarray,
        cfg: np.ndarray,
        atr: np.ndarray,
        *,
        series: np.ndarray | None = None,
        rows: int = 0,
        columns: int = N_TRADE_COLS,
    ) -> np.ndarray:
        """Run the sets of ``kinds`` (a multiple of LANES; see
        :func:`~desk.backtest.lockstep.simulate_sets` for ``kinds``, ``codes`` and
        ``series``, whose arrays the caller keeps alive); their trades block.

        ``rows``: room for each set's round trips to start with (more is made when a set
        needs it); ``columns``: N_TRADE_COLS, or 1 for the PnL alone (what the metrics need:
        a tenth of the memory to fault in).
        """
        sets = kinds.shape[0]
        if sets % LANES:
            raise ValueError(f"sets come in groups of {LANES}, got {sets}")
        n = arrays["close"].shape[0]
        series = np.zeros((sets, 2), dtype=np.int64) if series is None else series
        acc = self._state_for(sets)
        trades = self._trades_block(sets, max(rows, 3 * self.block + 2), columns)
        lo = 0
        while True:
            lo = simulate_sets(
                arrays["open"], arrays["high"], arrays["low"], arrays["close"], atr, kinds,
                codes, series, cfg, self.st, acc, trades, self.stats,
                self._words.view(np.int8), self._words, self._at, self._cash, self._pos,
                self._changes, self._sink, lo,
            )  # fmt: skip
            if lo == n:
                return trades
            trades = self._trades_block(sets, 2 * trades.shape[1], columns, keep=trades)


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


PRICES = ("open", "high", "low", "close")


def _float_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(arrays[k], dtype=np.float64) for k in PRICES}


def _atr_for(atr: np.ndarray | None, config: BacktestConfig) -> np.ndarray:
    if atr is None:
        if config.sizing == "atr":
            raise ValueError("atr sizing needs the ATR series")
        return _NO_ATR
    return np.ascontiguousarray(atr, dtype=np.float64)


def simulate_codes(
    arrays: Mapping[str, np.ndarray],
    codes: Sequence[np.ndarray] | np.ndarray,
    config: BacktestConfig,
    *,
    atr: np.ndarray | None = None,
    start: int = 0,
    block: int = BLOCK,
) -> GroupOutput:
    """Run every row of ``codes`` (candidate codes of one parameter set each, one per bar)
    as :func:`~desk.backtest.kernel.simulate` with ``codes=True, curves=False`` would, in
    lockstep (module docstring); the outputs are copies. ``block``: bars per block of the
    kernel (tests make it small, so that runs cross many blocks)."""
    prices = _float_arrays(arrays)
    n = prices["close"].shape[0]
    table = np.ascontiguousarray(codes, dtype=np.int8)
    if table.ndim != 2 or table.shape[1] != n:
        raise ValueError(f"codes must be (sets, {n}) for {n} bars, got shape {table.shape}")
    count = table.shape[0]
    sets = lanes_for(count)
    ws = Workspace(block)
    padded = ws.codes(sets, n)
    padded[:count] = table
    padded[count:] = 0
    kinds = np.full(sets, KIND_NONE, dtype=np.int64)
    kinds[:count] = KIND_CODES
    rows = int(np.count_nonzero(table, axis=1).max(initial=0)) + 1
    trades = ws.run(prices, kinds, padded, config_vector(config, start), _atr_for(atr, config),
                    rows=rows)  # fmt: skip
    st = ws.st[:count]
    return GroupOutput(
        trades[:count].copy(),
        st[:, S_NTR].astype(np.int64),
        st[:, S_FEES].copy(),
        st[:, S_FILLS].astype(np.int64),
        st[:, S_SKIPPED].astype(np.int64),
        ws.stats[:count].copy(),
    )


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
    lockstep in this thread's :class:`Workspace`."""
    prices = _float_arrays(arrays)
    n = prices["close"].shape[0]
    atr = _atr_for(atr if atr is not None else arrays.get("atr"), config)
    ws = workspace()
    kinds, codes, series, alive = _inputs(arrays, strategies, config, start, ws, n)
    pnl = ws.run(prices, kinds, codes, config_vector(config, start), atr, series=series,
                 rows=n // TRADE_EVERY, columns=1)  # fmt: skip
    del alive  # the series the kernel read
    out: list[dict[str, float]] = []
    for s in range(len(strategies)):
        st = ws.st[s]
        closed = int(st[S_NTR]) - (st[S_POS] != 0.0)  # one still open is the last
        out.append(
            metrics_from_pnl(ws.stats[s], np.ascontiguousarray(pnl[s, :closed, 0]),
                             cash=config.cash, bar_ns=bar_ns, fees=float(st[S_FEES]))
        )  # fmt: skip
    return out


def _inputs(
    arrays: Mapping[str, np.ndarray],
    strategies: Sequence[BaseStrategy],
    config: BacktestConfig,
    start: int,
    ws: Workspace,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """(kinds, codes, series) of :func:`~desk.backtest.lockstep.simulate_sets` for
    ``strategies``, and the arrays ``series`` points into: the crossing of a strategy's
    series where it allows it (:func:`~desk.backtest.crossings.crossing_series`), else its
    ``batch_codes``, or with a bot's signal filters the codes of the signals it would send
    (:func:`~desk.backtest.filters.strategy_codes`)."""
    sets = lanes_for(len(strategies))
    kinds = np.full(sets, KIND_NONE, dtype=np.int64)
    series = np.zeros((sets, 2), dtype=np.int64)
    alive: list[np.ndarray] = []
    codes = _NO_CODES
    filtered = has_filters(config)
    for s, strategy in enumerate(strategies):
        pair = None if filtered else crossing_series(strategy, arrays)
        if pair is not None:
            for k, a in enumerate(pair):
                a = np.ascontiguousarray(a, dtype=np.float64)
                if a.shape != (n,):
                    raise ValueError(f"a series of {a.shape} for {n} bars")
                alive.append(a)
                series[s, k] = a.ctypes.data
            kinds[s] = KIND_CROSS
            continue
        if codes is _NO_CODES:
            codes = ws.codes(sets, n)
        codes[s] = strategy_codes(strategy, arrays, config, start)
        kinds[s] = KIND_CODES
    return kinds, codes, series, alive
