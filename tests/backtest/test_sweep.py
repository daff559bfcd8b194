"""Sweeps: the same results whatever the backend and worker count; curves; walk-forward."""

from __future__ import annotations

import numpy as np
import pytest

from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.grid import Grid
from desk.backtest.metrics import METRIC_NAMES
from desk.backtest.run import backtest, evaluate
from desk.backtest.sweep import sweep
from desk.backtest.walkforward import walk_forward
from tests.backtest.conftest import walk

GRID = Grid.parse(["fast=4:20:4 slow=10:40:10 fast<slow"])
CONFIG = BacktestConfig(taker_bps=4.0, slippage_bps=1.0, lot=0.001, min_size=0.01)


@pytest.fixture(scope="module")
def data():
    return walk(4_000, seed=5, vol=0.003)


@pytest.fixture(scope="module")
def serial(data):
    return sweep(data, "ma_crossover", GRID, CONFIG, workers=1, curves=3)


def same(a, b) -> None:
    assert a.indices.tolist() == b.indices.tolist()
    np.testing.assert_array_equal(a.table, b.table)  # bit for bit, NaN in the same places
    assert [r["combo"] for r in a.rows()] == [r["combo"] for r in b.rows()]


def test_serial_rows_are_the_single_backtests(data, serial) -> None:
    assert len(serial.indices) == len(GRID.indices("ma_crossover"))
    for row in serial.rows(3):
        single = backtest(data, "ma_crossover", row["params"], CONFIG)
        assert row["metrics"] == single.metrics
    ranked = [r["metrics"]["sharpe"] for r in serial.rows()]
    assert ranked == sorted(ranked, reverse=True)


def test_top_curves_are_the_best_combinations(data, serial) -> None:
    best = [r["combo"] for r in serial.rows(3)]
    assert sorted(serial.curves) == sorted(best)
    for combo in best:
        _, curve = evaluate(
            data.arrays(), "ma_crossover", GRID.params(combo), CONFIG, bar_ns=data.bar_ns,
            curve=True,
        )  # fmt: skip
        np.testing.assert_array_equal(serial.curves[combo], curve)


def test_loky_two_workers_with_memmapped_arrays_match_one() -> None:
    big = walk(140_000, seed=8, vol=0.002)  # > 1 MB per array: handed over by memmap
    grid = Grid.parse(["fast=10,20 slow=50,80"])
    one = sweep(big, "ma_crossover", grid, CONFIG, workers=1, chunk_size=1)
    two = sweep(big, "ma_crossover", grid, CONFIG, workers=2, chunk_size=1, curves=1)
    same(one, two)
    assert two.workers == 2 and len(two.curves) == 1


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_dask_local_cluster_matches_loky(data, serial, processes) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
    ) as cluster:
        target = cluster if not processes else cluster.scheduler_address
        found = sweep(
            data, "ma_crossover", GRID, CONFIG, backend="dask", scheduler=target, workers=2,
            curves=3, chunk_size=2,
        )  # fmt: skip
    same(serial, found)
    assert sorted(found.curves) == sorted(serial.curves)


def test_random_search_atr_sizing_and_progress(data) -> None:
    cfg = BacktestConfig(sizing="atr", risk_budget=50.0, size=500.0, leverage=2.0)
    seen = []
    a = sweep(
        data, "ma_crossover", GRID, cfg, sample=5, seed=1, progress=lambda d, t: seen.append((d, t))
    )
    b = sweep(data, "ma_crossover", GRID, cfg, sample=5, seed=1, workers=2, chunk_size=2)
    same(a, b)
    assert len(a.indices) == 5 and seen[-1] == (5, 5)
    assert a.table[:, METRIC_NAMES.index("trades")].max() > 0


def test_sweep_refusals(data) -> None:
    with pytest.raises(BacktestError, match="unknown metric"):
        sweep(data, "ma_crossover", GRID, CONFIG, metric="luck")
    with pytest.raises(BacktestError, match="needs a scheduler"):
        sweep(data, "ma_crossover", GRID, CONFIG, backend="dask")
    with pytest.raises(BacktestError, match="unknown backend"):
        sweep(data, "ma_crossover", GRID, CONFIG, backend="spark")


def test_walk_forward_optimises_in_sample_and_tests_the_next_window(data) -> None:
    wf = walk_forward(data, "ma_crossover", GRID, CONFIG, windows=3, metric="total_return",
                      workers=1)  # fmt: skip
    assert [w.k for w in wf.windows] == [0, 1, 2]
    quarter = len(data) // 4
    for w in wf.windows:
        # the in-sample winner is the best of a sweep over window k alone (with warm-up)
        lo, mid = w.k * quarter, (w.k + 1) * quarter
        alone = sweep(data.window(0, mid), "ma_crossover", GRID, CONFIG, metric="total_return",
                      start=lo, workers=1)  # fmt: skip
        assert alone.best()["params"] == w.params
        assert w.train[1] < w.test[0] + data.bar_ns
        # out-of-sample: that combination on window k+1 only
        tested = backtest(data.window(0, mid + quarter), "ma_crossover", w.params, CONFIG,
                          start=mid)  # fmt: skip
        assert w.out_of_sample == tested.metrics
        assert w.out_of_sample["bars"] == quarter
    summary = wf.summary()
    assert set(summary) == {"in_sample_total_return", "out_of_sample_total_return",
                            "out_of_sample_return"}  # fmt: skip
    with pytest.raises(BacktestError, match="too few"):
        walk_forward(data.window(0, 5), "ma_crossover", GRID, CONFIG, windows=4)
