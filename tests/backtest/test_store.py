"""Saved runs: SQLite rows and parquet files, listed and read back."""

from __future__ import annotations

import numpy as np
import pytest

from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.grid import Grid
from desk.backtest.run import backtest
from desk.backtest.store import RunStore
from desk.backtest.sweep import sweep
from desk.backtest.walkforward import walk_forward
from tests.backtest.conftest import walk

CONFIG = BacktestConfig(stop_loss=0.01, lot=0.001)


def test_a_backtest_is_saved_and_read_back(tmp_path) -> None:
    data = walk(1_500, seed=2, vol=0.003)
    result = backtest(data, "ma_crossover", {"fast": 5, "slow": 20}, CONFIG, start=100)
    store = RunStore(tmp_path / "runs")
    run_id = store.save_backtest(result)
    record = store.get(run_id)
    assert (record.kind, record.strategy, record.symbol, record.timeframe) == (
        "backtest", "ma_crossover", "TEST-USDT", "1m",
    )  # fmt: skip
    assert record.params == {"fast": 5, "slow": 20}
    assert record.bars == 1_400 and record.start_ns == data.end[100] - data.bar_ns
    assert record.end_ns == data.end_ns
    assert BacktestConfig.from_dict(record.config) == result.config
    assert record.metrics == pytest.approx(result.metrics, nan_ok=True)
    equity = store.equity(run_id)
    np.testing.assert_array_equal(equity["equity"].to_numpy(), result.equity)
    np.testing.assert_array_equal(equity["end"].to_numpy(), data.end[100:])
    trades = store.trades(run_id)
    assert len(trades) == len(result.trades) > 0
    assert set(trades["reason"]) <= {"signal", "stop_loss", "take_profit", "end"}
    assert (trades["exit_time"] >= trades["entry_time"]).all()
    np.testing.assert_allclose(trades["pnl"].sum(), result.equity[-1] - CONFIG.cash)


def test_sweeps_and_walk_forwards_are_saved_and_listed(tmp_path) -> None:
    data = walk(1_200, seed=4, vol=0.003)
    grid = Grid.parse(["fast=3:9:3 slow=12,24"])
    store = RunStore(tmp_path)
    first = store.save_sweep(sweep(data, "ma_crossover", grid, CONFIG, workers=1, curves=2))
    wf = walk_forward(data, "ma_crossover", grid, CONFIG, windows=2, workers=1)
    second = store.save_walk_forward(wf)
    assert [r.id for r in store.list()] == [second, first]
    assert [r.kind for r in store.list(1)] == ["walkforward"]
    results = store.frame(first, "results")
    assert len(results) == 6 and results["rank"].tolist() == list(range(1, 7))
    curves = store.frame(first, "curves")
    assert sorted(set(curves["combo"])) == sorted(results["combo"][:2])
    assert store.get(first).extra["grid"]["axes"] == {"fast": [3, 6, 9], "slow": [12, 24]}
    assert len(store.frame(second, "windows")) == 2


def test_missing_runs_are_clear(tmp_path) -> None:
    store = RunStore(tmp_path / "none")
    assert store.list() == []
    with pytest.raises(BacktestError, match="no saved runs"):
        store.get(1)
    data = walk(300, seed=1)
    run_id = store.save_backtest(backtest(data, "ma_crossover", {}, CONFIG))
    with pytest.raises(BacktestError, match="no saved run 99"):
        store.get(99)
    with pytest.raises(BacktestError, match="has no results"):
        store.frame(run_id, "results")
