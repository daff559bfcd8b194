"""Parameter sweeps: many backtests of one strategy over one data set, in parallel.

Work is cut into chunks of combination numbers (:mod:`desk.backtest.grid`). A chunk runs its
combinations together through the lockstep kernel (:func:`desk.backtest.batch.evaluate_many`:
candidate codes from the strategy's batch path, or made in the kernel from the shared
indicator arrays where the strategy is a crossing of two of them; each combination to the
bit what :func:`~desk.backtest.run.evaluate` gives alone) and returns one row of metrics per
combination, plus, when asked, the equity curves of its best ``curves``
combinations (run again alone, keeping their curve): never every curve, so memory stays
bounded however large the grid.

Indicators are computed once per worker, not once per combination: chunks run inside
:func:`desk.signals.indicators.reuse` blocks named by a token of the sweep, so a worker's
later chunks reuse the moving averages (say) its earlier ones computed, within
:data:`~desk.signals.indicators.REUSE_BYTES` per worker (least recently used dropped first).

Backends:

* ``loky`` (default): joblib's process pool on this machine. The candle arrays are handed to
  joblib once per sweep; arrays over 1 MB are written to a memory-mapped file once and every
  task maps it copy-on-write (joblib's memmapping; nothing writes to it, so no page is ever
  copied), so they are not copied per task. Each worker
  runs with one thread for numba and the BLAS libraries (``inner_max_num_threads=1``, and
  :func:`pin_threads` in the task), so N workers use N cores, not N x cores.
  ``workers=1`` runs in this process.
* ``dask``: the same chunks on a Dask cluster through ``distributed.Client(scheduler)`` (an
  address such as ``tcp://host:8786``, or a ``Client``/``LocalCluster`` given directly). The
  arrays are scattered to every worker once (``broadcast=True``) and tasks refer to them.

Results do not depend on the backend or on the number of workers: every combination is
computed by deterministic code that does not depend on the others in its group or chunk,
rows are stored by combination number, and the ranking sorts by the metric with the
combination number breaking ties.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from desk.backtest.batch import LANES, evaluate_many, release
from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.data import Candles
from desk.backtest.grid import Grid
from desk.backtest.metrics import METRIC_NAMES, sort_key
from desk.backtest.run import atr_series, evaluate, make_strategy, with_rules
from desk.signals import indicators as ind

Progress = Callable[[int, int], None]
Curve = tuple[float, int, np.ndarray]  # (sort key, combination number, equity)


def pin_threads() -> None:
    """One numba thread in this worker (the kernels are serial; this keeps it so)."""
    import numba

    numba.set_num_threads(1)


def run_chunk(
    arrays: Mapping[str, np.ndarray],
    strategy: str,
    base: Mapping[str, Any],
    grid: Grid,
    indices: Sequence[int],
    config: BacktestConfig,
    bar_ns: int,
    start: int,
    metric: str,
    curves: int,
    token: str = "",
) -> tuple[list[int], np.ndarray, list[Curve]]:
    """Run combinations ``indices``: (their numbers, a metrics row each, top ``curves``).

    ``token`` names the sweep's data: indicators computed from it are kept for the worker's
    next chunk of the same sweep (see the module docstring).
    """
    pin_threads()
    with ind.reuse(arrays, token=token or None):
        return _chunk(arrays, strategy, base, grid, indices, config, bar_ns, start, metric, curves)


def _chunk(
    arrays: Mapping[str, np.ndarray],
    strategy: str,
    base: Mapping[str, Any],
    grid: Grid,
    indices: Sequence[int],
    config: BacktestConfig,
    bar_ns: int,
    start: int,
    metric: str,
    curves: int,
) -> tuple[list[int], np.ndarray, list[Curve]]:
    strategies = [make_strategy(strategy, {**base, **grid.params(int(i))}) for i in indices]
    found = evaluate_many(arrays, strategies, config, bar_ns=bar_ns, start=start)
    rows = np.array([[m[name] for name in METRIC_NAMES] for m in found]).reshape(
        len(indices), len(METRIC_NAMES)
    )
    best: list[Curve] = []
    if curves:
        keys = [(sort_key(metric, m[metric]), int(i)) for m, i in zip(found, indices, strict=True)]
        # The chunk's best, run again alone for their curves (their metrics are the same).
        n = len(arrays["close"])
        buffers = (np.empty(0), np.empty(n), np.empty(n))  # reused: no fresh pages per run
        for key, index in sorted(keys)[:curves]:
            _, curve = evaluate(
                arrays, strategy, {**base, **grid.params(index)}, config, bar_ns=bar_ns,
                start=start, atr=arrays.get("atr"), curve=True, buffers=buffers,
            )  # fmt: skip
            assert curve is not None
            best.append((key, index, curve))
    return [int(i) for i in indices], rows, best


def _keep_best(best: list[Curve], more: list[Curve], k: int) -> list[Curve]:
    return sorted(best + more, key=lambda c: (c[0], c[1]))[:k]


@dataclass
class SweepResult:
    """Every combination's metrics (rows in combination order) and the ranking by ``metric``."""

    strategy: str
    base: dict[str, Any]
    grid: Grid
    metric: str
    config: BacktestConfig
    candles: Candles
    indices: np.ndarray
    table: np.ndarray  # (len(indices), len(METRIC_NAMES))
    curves: dict[int, np.ndarray] = field(default_factory=dict)
    backend: str = "loky"
    workers: int = 1

    def order(self) -> np.ndarray:
        """Row positions, best first (ties: lower combination number first)."""
        col = self.table[:, METRIC_NAMES.index(self.metric)]
        keys = np.array([sort_key(self.metric, float(v)) for v in col])
        return np.lexsort((self.indices, keys))

    def rows(self, top: int | None = None) -> list[dict[str, Any]]:
        """Ranked rows: rank, combination number, parameters and metrics."""
        out = []
        for rank, pos in enumerate(self.order()[:top], start=1):
            index = int(self.indices[pos])
            out.append(
                {
                    "rank": rank,
                    "combo": index,
                    "params": {**self.base, **self.grid.params(index)},
                    "metrics": dict(zip(METRIC_NAMES, map(float, self.table[pos]), strict=True)),
                }
            )
        return out

    def best(self) -> dict[str, Any]:
        return self.rows(1)[0]


def _chunks(indices: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for lo in range(0, len(indices), size):
        yield indices[lo : lo + size]


def chunk_size_for(count: int, workers: int) -> int:
    """One chunk per worker, 256 combinations at most, in whole lockstep groups of
    :data:`~desk.backtest.batch.LANES`. The kernel runs a chunk's combinations together,
    reading each indicator array once for all of them, and a worker computes the indicators
    its chunks need: few large chunks share the most. A grid of more than 256 per worker
    makes more chunks than workers, which the pool hands out as workers come free;
    progress is told chunk by chunk."""
    size = min(256, math.ceil(count / workers))
    return max(LANES, math.ceil(size / LANES) * LANES)


def sweep(
    candles: Candles,
    strategy: str,
    grid: Grid,
    config: BacktestConfig,
    *,
    base: Mapping[str, Any] | None = None,
    metric: str = "sharpe",
    backend: str = "loky",
    workers: int | None = None,
    scheduler: Any = None,
    curves: int = 0,
    sample: int | None = None,
    seed: int = 0,
    start: int = 0,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run ``strategy`` over ``candles`` for every combination of ``grid`` (or ``sample``
    random ones), ``base`` parameters under them; see the module docstring for backends."""
    if metric not in METRIC_NAMES:
        raise BacktestError(f"unknown metric {metric!r}; choose from {', '.join(METRIC_NAMES)}")
    if backend not in ("loky", "dask"):
        raise BacktestError(f"unknown backend {backend!r}: loky or dask")
    if backend == "dask" and scheduler is None:
        raise BacktestError("the dask backend needs a scheduler (--scheduler tcp://HOST:8786)")
    if not 0 <= start < len(candles):
        raise BacktestError(f"start bar {start} is outside the {len(candles)} candles")
    base = dict(base or {})
    indices = grid.indices(strategy, base, sample=sample, seed=seed)
    config = with_rules(config, candles)
    arrays = dict(candles.arrays())
    if config.sizing == "atr":
        arrays["atr"] = atr_series(candles)
    n_workers = max(1, workers or os.cpu_count() or 1)
    size = chunk_size or chunk_size_for(len(indices), n_workers)
    common = (strategy, base, grid)
    tail = (config, candles.bar_ns, start, metric, curves, uuid.uuid4().hex)
    chunks = list(_chunks(indices, size))
    if backend == "dask":
        results = _run_dask(scheduler, arrays, common, tail, chunks, n_workers)
    else:
        results = _run_loky(arrays, common, tail, chunks, n_workers)
    table = np.empty((len(indices), len(METRIC_NAMES)))
    where = {int(i): k for k, i in enumerate(indices)}
    best: list[Curve] = []
    done = 0
    for numbers, rows, top in results:
        for number, row in zip(numbers, rows, strict=True):
            table[where[number]] = row
        if curves:
            best = _keep_best(best, top, curves)
        done += len(numbers)
        if progress is not None:
            progress(done, len(indices))
    return SweepResult(
        strategy=strategy,
        base=base,
        grid=grid,
        metric=metric,
        config=config,
        candles=candles,
        indices=indices,
        table=table,
        curves={index: curve for _, index, curve in best},
        backend=backend,
        workers=n_workers,
    )


def _run_loky(
    arrays: dict[str, np.ndarray],
    common: tuple[Any, ...],
    tail: tuple[Any, ...],
    chunks: list[np.ndarray],
    workers: int,
) -> Iterator[tuple[list[int], np.ndarray, list[Curve]]]:
    if workers == 1:  # here: what the chunks keep is dropped once the sweep is done
        try:
            for chunk in chunks:
                yield run_chunk(arrays, *common, chunk, *tail)
        finally:
            ind.forget()
            release()
        return
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = Parallel(
            n_jobs=workers, return_as="generator_unordered", max_nbytes="1M", mmap_mode="c"
        )
        yield from parallel(delayed(run_chunk)(arrays, *common, c, *tail) for c in chunks)


def _run_dask(
    scheduler: Any,
    arrays: dict[str, np.ndarray],
    common: tuple[Any, ...],
    tail: tuple[Any, ...],
    chunks: list[np.ndarray],
    workers: int,
) -> Iterator[tuple[list[int], np.ndarray, list[Curve]]]:
    from distributed import Client, as_completed

    own = isinstance(scheduler, str)
    client = Client(scheduler) if own else scheduler
    if not isinstance(client, Client):  # a LocalCluster or similar: connect to it
        client, own = Client(client), True
    try:
        [shared] = client.scatter([arrays], broadcast=True)
        window = max(2 * workers, 2 * len(client.scheduler_info()["workers"]))
        pending = iter(chunks)
        running = as_completed()
        for chunk in _take(pending, window):
            running.add(client.submit(run_chunk, shared, *common, chunk, *tail, pure=False))
        for future in running:
            yield future.result()
            future.release()
            for chunk in _take(pending, 1):
                running.add(client.submit(run_chunk, shared, *common, chunk, *tail, pure=False))
    finally:
        if own:
            client.close()


def _take(it: Iterator[np.ndarray], k: int) -> list[np.ndarray]:
    out = []
    for _ in range(k):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out
