"""The UI's backtest job, run here (the worker process runs the same function): what it sends
back of a sweep, how it thins a long curve, and how it refuses bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from msgspec.structs import replace

from desk.backtest.config import BacktestError
from desk.backtest.job import CURVE_POINTS, JobRequest, _thin, run_job
from desk.backtest.store import RunStore

SWEEP = JobRequest(
    strategy="ma_crossover",
    symbol="BTC-USDT",
    timeframe="1m",
    hours=2.0,
    grid="fast=3:5 slow=8:12:2 fast<slow",
    metric="total_return",
)


def test_a_sweep_comes_back_ranked_mapped_saved_and_its_best_in_detail(tmp_path: Path) -> None:
    phases: list[str] = []
    result = run_job(replace(SWEEP, runs=str(tmp_path)), lambda p, d, t: phases.append(p))
    assert {"simulating", "sweeping", "best in detail"} <= set(phases)
    assert (result.kind, result.run_id, result.combinations) == ("sweep", 1, 9)
    assert result.axes == ["fast", "slow"]
    best = result.ranked[0]
    assert result.params == best["params"]
    assert result.metrics["total_return"] == best["metrics"]["total_return"]
    heat = result.heatmap
    assert heat is not None and heat.y == [3, 4, 5] and heat.x == [8, 10, 12]
    for row in result.ranked:
        i, j = heat.y.index(row["params"]["fast"]), heat.x.index(row["params"]["slow"])
        assert heat.values[i][j] == row["metrics"]["total_return"]
    i, j = heat.best
    assert (heat.y[i], heat.x[j]) == (best["params"]["fast"], best["params"]["slow"])
    assert RunStore(tmp_path).get(1).kind == "sweep"
    assert len(result.equity) == len(result.end) == len(result.drawdown) == result.bars


def test_a_long_curve_is_thinned_keeping_the_last_equity_and_the_deepest_drawdown() -> None:
    n = 10 * CURVE_POINTS + 7
    end = np.arange(n, dtype=np.int64)
    equity = np.linspace(100.0, 200.0, n)
    drawdown = np.zeros(n)
    drawdown[12_345] = -0.5
    t_end, t_eq, t_dd = _thin(end, equity, drawdown)
    assert len(t_end) == len(t_eq) == len(t_dd) == CURVE_POINTS
    assert t_end[-1] == n - 1 and t_eq[-1] == 200.0
    assert min(t_dd) == -0.5 and sum(v < 0 for v in t_dd) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": "nope"}, "unknown strategy 'nope'"),
        ({"params": "fast=3,speed=1"}, "has no parameter 'speed'"),
        ({"grid": "fast=9:3"}, "is empty"),
        ({"source": "db", "path": ""}, "no database named"),
        ({"source": "csv", "path": "/nonexistent.csv"}, "no CSV file at"),
        ({"filters": {"confirm_bars": 0}}, "`confirm_bars` must be >= 1"),
    ],
)
def test_bad_input_is_refused_with_the_reason(change: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match=message):
        run_job(replace(SWEEP, runs=str(tmp_path), hours=0.1, **change))
    assert not (tmp_path / "runs.sqlite").exists()  # nothing saved


def test_a_bots_filters_change_what_is_traded_and_are_saved(tmp_path: Path) -> None:
    one = replace(SWEEP, grid="", params="fast=3,slow=8", runs=str(tmp_path))
    plain = run_job(one)
    filtered = run_job(replace(one, filters={"confirm_bars": 3, "cooldown_s": 300.0}))
    assert 0 < filtered.metrics["trades"] < plain.metrics["trades"]
    saved = RunStore(tmp_path).get(filtered.run_id)
    assert saved.config["confirm_bars"] == 3 and saved.config["cooldown_s"] == 300.0
