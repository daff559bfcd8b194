"""Backtests and training read a recording directory: candles of any timeframe rebuilt from
the recorded trades, equal to the same candles given as a CSV."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from desk.backtest.command import add_backtest_arguments, run_backtest
from desk.backtest.config import BacktestError
from desk.backtest.recording_data import load_recording
from desk.signals.model.data import DataError
from desk.signals.model.recording_data import load_recording as load_training_bars

BTC = "BTC-USDT"


def backtest(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="desk backtest")
    add_backtest_arguments(parser)
    return run_backtest(parser.parse_args(list(argv)))


def test_backtest_on_a_recording_equals_the_backtest_on_its_candles_as_csv(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candles = load_recording(recording, BTC, "3s")
    assert len(candles) > 10 and np.all(np.diff(candles.end) == 3_000_000_000)
    csv = tmp_path / "btc3s.csv"
    frame = {"end": candles.end}
    frame.update({k: getattr(candles, k) for k in ("open", "high", "low", "close", "volume")})
    pd.DataFrame(frame).to_csv(csv, index=False, float_format="%.17g")
    strategy = ("--strategy", "ma_crossover", "--params", "fast=2,slow=4", "--no-save", "--json")
    common = ("--symbol", BTC, "--timeframe", "3s", *strategy)
    assert backtest("--data", str(recording), *common) == 0
    on_recording = json.loads(capsys.readouterr().out)
    assert backtest("--data", str(csv), *common) == 0
    on_csv = json.loads(capsys.readouterr().out)
    assert on_recording["bars"] == on_csv["bars"] == len(candles)
    assert on_recording["metrics"] == on_csv["metrics"]
    assert on_recording["metrics"]["trades"] > 0


def test_raw_frames_alone_give_the_same_candles(recording: Path, tmp_path: Path) -> None:
    raw_only = tmp_path / "raw_only"
    shutil.copytree(recording, raw_only)
    shutil.rmtree(raw_only / "venue=okx" / "kind=trades")
    a, b = load_recording(recording, BTC, "2s"), load_recording(raw_only, BTC, "2s")
    for name in ("end", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_recorded_candles_are_used_when_they_exist(recording: Path, tmp_path: Path) -> None:
    with_candles = tmp_path / "with_candles"
    shutil.copytree(recording, with_candles)
    folder = with_candles / "venue=okx" / "kind=candles" / "date=2026-01-01"
    folder.mkdir(parents=True)
    end = np.arange(1, 6, dtype=np.int64) * 60_000_000_000 + 1_767_225_600_000_000_000
    table = {"symbol": [BTC] * 5, "timeframe": ["1m"] * 5, "end_ns": end}
    table.update({k: [1.0, 2.0, 3.0, 4.0, 5.0] for k in ("open", "high", "low", "close")})
    table["volume"] = [0.5] * 5
    pq.write_table(pa.table(table), folder / "00.parquet", compression="zstd")
    candles = load_recording(with_candles, BTC, "1m")
    assert candles.end.tolist() == end.tolist() and candles.close.tolist()[-1] == 5.0
    assert "(candles)" in candles.source
    assert "(trades)" in load_recording(with_candles, BTC, "5s").source  # no recorded 5s


def test_a_symbol_not_recorded_is_refused_naming_what_is_there(recording: Path) -> None:
    with pytest.raises(BacktestError, match=r"no XRP-USDT trades .*BTC-USDT, ETH-USDT"):
        load_recording(recording, "XRP-USDT", "1m")
    with pytest.raises(BacktestError, match="no recording directory"):
        load_recording(recording / "nope", BTC, "1m")


def test_training_bars_carry_the_taker_buy_and_sell_volume(recording: Path) -> None:
    series = load_training_bars(recording, BTC, "2s")
    assert series.buy_volume is not None and series.sell_volume is not None
    assert np.allclose(series.buy_volume + series.sell_volume, series.volume)
    assert series.buy_volume.sum() > 0 and series.sell_volume.sum() > 0
    with pytest.raises(DataError, match="XRP-USDT"):
        load_training_bars(recording, "XRP-USDT", "2s")
