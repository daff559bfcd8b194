"""``desk backtest`` / ``desk sweep`` through their argument parsers (not yet in cli.py)."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from desk.backtest.command import (
    add_backtest_arguments,
    add_sweep_arguments,
    run_backtest,
    run_sweep,
)
from tests.backtest.conftest import walk


def backtest_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="desk backtest")
    add_backtest_arguments(parser)
    return run_backtest(parser.parse_args(list(argv)))


def sweep_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="desk sweep")
    add_sweep_arguments(parser)
    return run_sweep(parser.parse_args(list(argv)))


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    c = walk(2_000, seed=9, vol=0.003)
    path = tmp_path_factory.mktemp("data") / "btc.csv"
    frame = pd.DataFrame(
        {
            "time": (c.end - c.bar_ns) // 1_000_000_000,  # open times, in seconds
            "open": c.open,
            "high": c.high,
            "low": c.low,
            "close": c.close,
            "volume": c.volume,
        }
    )
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


def test_backtest_json_then_list_and_show(csv_path, tmp_path, capsys) -> None:
    runs = str(tmp_path / "runs")
    common = ("--data", str(csv_path), "--runs", runs)
    args = ("--strategy", "ma_crossover", "--params", "fast=10,slow=30", "--fees-bps", "4")
    assert backtest_cli(*args, *common, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == 1 and out["bars"] == 2_000 and out["params"] == {"fast": 10, "slow": 30}
    assert out["config"]["taker_bps"] == 4.0 and out["metrics"]["trades"] > 0
    assert backtest_cli("--list", "--runs", runs, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [1]
    assert backtest_cli("--show", "1", "--runs", runs, "--json") == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == out["metrics"]


def test_backtest_prints_metrics_plot_and_trades(csv_path, tmp_path, capsys) -> None:
    code = backtest_cli(
        "--strategy", "rsi_mean_reversion", "--data", str(csv_path), "--runs",
        str(tmp_path), "--stop-loss", "0.01", "--fill", "close",
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    for text in ("Metrics (saved as run 1)", "Sharpe", "Max drawdown", "Equity", "Trades"):
        assert text in out
    assert "█" in out
    assert backtest_cli("--show", "1", "--runs", str(tmp_path)) == 0
    assert "Run 1 (backtest)" in capsys.readouterr().out
    assert backtest_cli("--list", "--runs", str(tmp_path)) == 0
    assert "rsi_mean_reversion" in capsys.readouterr().out


def test_sweep_json_ranked_rows(csv_path, tmp_path, capsys) -> None:
    code = sweep_cli(
        "--strategy", "ma_crossover", "--data", str(csv_path), "--grid", "fast=5:15:5",
        "slow=20:40:10", "fast<slow", "--workers", "1", "--top", "3", "--json",
        "--runs", str(tmp_path), "--metric", "total_return",
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["combinations"] == 9 and [r["rank"] for r in out["rows"]] == [1, 2, 3]
    returns = [r["metrics"]["total_return"] for r in out["rows"]]
    assert returns == sorted(returns, reverse=True)
    assert backtest_cli("--show", str(out["id"]), "--runs", str(tmp_path)) == 0
    assert "Top 3 of 9" not in capsys.readouterr().out  # the run keeps its top 20: 9 here


def test_sweep_table_and_walk_forward(csv_path, tmp_path, capsys) -> None:
    base = ("--strategy", "ma_crossover", "--data", str(csv_path), "--runs", str(tmp_path))
    assert sweep_cli(*base, "--grid", "fast=5,10", "slow=30", "--workers", "1",
                     "--curves", "1") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Top 2 of 2 by sharpe" in out and "Equity of the best" in out
    assert sweep_cli(*base, "--grid", "fast=5,10", "slow=30", "--walk-forward", "2",
                     "--workers", "1") == 0  # fmt: skip
    assert "Walk-forward" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--strategy", "nope"), "unknown strategy 'nope'"),
        (("--strategy", "ma_crossover", "--params", "speed=3"), "has no parameter 'speed'"),
        (("--params", "fast=3"), "--strategy is required"),
        (("--strategy", "ma_crossover", "--from", "2030-01-01"), "no TEST-USDT 1m candles"),
        (("--strategy", "ma_crossover", "--sizing", "fixed"), "`size` must be given"),
    ],
)
def test_backtest_refusals(csv_path, tmp_path, capsys, argv, message) -> None:
    code = backtest_cli(*argv, "--data", str(csv_path), "--symbol", "TEST-USDT", "--runs",
                        str(tmp_path))  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("desk backtest: ") and message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--grid", "fast=50:60", "slow=20:30", "fast<slow"), "no combination"),
        (("--grid", "fast=5:6", "--backend", "dask"), "needs --scheduler"),
        ((), "--grid is required"),
    ],
)
def test_sweep_refusals(csv_path, tmp_path, capsys, argv, message) -> None:
    code = sweep_cli("--strategy", "ma_crossover", "--data", str(csv_path), "--runs",
                     str(tmp_path), *argv)  # fmt: skip
    assert code == 2 and message in capsys.readouterr().err


def test_missing_database_and_bad_csv(tmp_path, capsys) -> None:
    assert backtest_cli("--strategy", "ma_crossover", "--db", str(tmp_path / "x.sqlite")) == 2
    assert "no database at" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("time,open,close\n1,2,3\n")
    assert backtest_cli("--strategy", "ma_crossover", "--data", str(bad)) == 2
    assert "lacks columns: high, low, volume" in capsys.readouterr().err


def test_backtest_on_the_simulator_with_a_time_range(tmp_path, capsys) -> None:
    code = backtest_cli(
        "--strategy", "ma_crossover", "--params", "fast=3,slow=8", "--symbol", "ETH-USDT",
        "--timeframe", "1s", "--sim", "0.02", "--steps-per-second", "20", "--from",
        "2024-01-01T00:00:10", "--to", "2024-01-01T00:01:00", "--json", "--no-save",
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] is None and out["bars"] == 50
    assert out["source"].startswith("sim:") and out["config"]["lot"] == 1e-06


def test_a_bots_filters_on_the_command_line_are_saved_with_the_run(
    csv_path, tmp_path, capsys
) -> None:
    common = ("--strategy", "ma_crossover", "--params", "fast=5,slow=20", "--data", str(csv_path))
    assert backtest_cli(*common, "--no-save", "--json") == 0
    plain = json.loads(capsys.readouterr().out)
    runs = str(tmp_path / "runs")
    argv = ("--confirm-bars", "3", "--cooldown", "600", "--runs", runs, "--json")
    assert backtest_cli(*common, *argv) == 0
    filtered = json.loads(capsys.readouterr().out)
    assert filtered["config"]["confirm_bars"] == 3 and filtered["config"]["cooldown_s"] == 600.0
    assert filtered["metrics"]["trades"] < plain["metrics"]["trades"]
    assert backtest_cli(*common, "--confirm-bars", "0", "--no-save") == 2
    assert "`confirm_bars` must be >= 1" in capsys.readouterr().err
