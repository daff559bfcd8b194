"""`desk backtest` and `desk sweep` as a user runs them: real processes, simulated market data,
runs saved to SQLite + parquet and read back, bad input refused with status 2 and a reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DESK = str(Path(sys.executable).parent / "desk")
# One simulated hour of BTC-USDT (seeded), stepped 20 times a second to keep the test quick.
SIM = ("--sim", "1", "--steps-per-second", "20", "--seed", "3", "--timeframe", "10s")


def desk(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DESK, *argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def ok_json(*argv: str, cwd: Path) -> Any:
    done = desk(*argv, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("desk-backtest")


@pytest.fixture(scope="module")
def first_run(workdir: Path) -> dict[str, Any]:
    return ok_json(
        "backtest", "--strategy", "ma_crossover", "--params", "fast=5,slow=20", *SIM, cwd=workdir
    )


def test_backtest_prints_metrics_as_json_and_saves_the_run(
    first_run: dict[str, Any], workdir: Path
) -> None:
    run = first_run
    assert run["id"] == 1
    assert (run["strategy"], run["params"]) == ("ma_crossover", {"fast": 5, "slow": 20})
    assert run["source"].startswith("sim:") and run["bars"] == 360
    assert run["config"]["fill"] == "open" and run["config"]["taker_bps"] == 5.0
    assert run["metrics"]["trades"] > 0 and run["metrics"]["bars"] == 360
    # saved where desk saves runs by default, relative to where it runs
    assert (workdir / "data" / "backtests" / "runs.sqlite").is_file()
    assert (workdir / "data" / "backtests" / "1" / "trades.parquet").is_file()


def test_list_and_show_read_the_run_back(first_run: dict[str, Any], workdir: Path) -> None:
    listed = ok_json("backtest", "--list", cwd=workdir)
    assert [(r["id"], r["kind"], r["strategy"]) for r in listed][-1:] == [
        (1, "backtest", "ma_crossover")
    ]
    shown = ok_json("backtest", "--show", "1", cwd=workdir)
    assert shown["params"] == {"fast": 5, "slow": 20}
    assert shown["metrics"] == first_run["metrics"]
    text = desk("backtest", "--show", "1", cwd=workdir)
    assert text.returncode == 0, text.stderr
    assert "Total return" in text.stdout and "Trades" in text.stdout


def test_sweep_ranks_the_grid_on_two_workers(workdir: Path) -> None:
    out = ok_json(
        "sweep",
        "--strategy",
        "ma_crossover",
        "--grid",
        "fast=3:6",
        "slow=10:20:5",
        "fast<slow",
        "--workers",
        "2",
        "--metric",
        "total_return",
        "--top",
        "5",
        *SIM,
        cwd=workdir,
    )
    assert out["combinations"] == 12 and out["backend"] == "loky" and out["workers"] == 2
    rows = out["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    returns = [r["metrics"]["total_return"] for r in rows]
    assert returns == sorted(returns, reverse=True)
    assert all(r["params"]["fast"] < r["params"]["slow"] for r in rows)
    listed = ok_json("backtest", "--list", cwd=workdir)
    assert any(r["id"] == out["id"] and r["kind"] == "sweep" for r in listed)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--grid", "fast=50:10"), "is empty"),
        (("--grid", "fast=30:40", "slow=10:20", "fast<slow"), "no combination"),
        (("--grid", "speed=1:3"), "has no parameter 'speed'"),
    ],
)
def test_a_bad_grid_is_refused_with_status_2_and_a_reason(
    argv: tuple[str, ...], message: str, workdir: Path
) -> None:
    done = desk("sweep", "--strategy", "ma_crossover", *argv, *SIM, cwd=workdir)
    assert done.returncode == 2
    assert done.stderr.startswith("desk sweep: ") and message in done.stderr
    assert done.stdout == ""


def test_an_unknown_strategy_is_refused_before_any_data_is_made(workdir: Path) -> None:
    done = desk("backtest", "--strategy", "nope", "--sim", "1000", cwd=workdir)
    assert done.returncode == 2 and "unknown strategy 'nope'" in done.stderr
