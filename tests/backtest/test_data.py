"""Candles from CSV (time convention, gaps, refusals), SQLite and the simulator."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from desk.backtest.config import BacktestError
from desk.backtest.data import load_csv, load_sqlite, parse_time, simulate_candles
from desk.storage import schema

T0 = 1_700_000_040  # a whole minute, in seconds
NS = 1_000_000_000
MIN = 60 * NS

CSV = """timestamp,open,high,low,close,volume
{t0},10,11,9,10.5,1
{t1},10.5,12,10,11,2
{t3},11,11.5,10.5,11.2,3
"""


def write(tmp_path: Path, text: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_open_times_become_right_aligned_ends_and_gaps_flat(tmp_path) -> None:
    ms = [T0 * 1000 + k * 60_000 for k in range(4)]
    path = write(tmp_path, CSV.format(t0=ms[0], t1=ms[1], t3=ms[3]))
    c = load_csv(path, "BTC-USDT", "1m")
    # the open time 00:00 is desk's candle stamped 00:01 (it holds (00:00, 00:01])
    assert c.end.tolist() == [(T0 + 60 * (k + 1)) * NS for k in range(4)]
    assert c.filled == 1
    # the missing interval is a flat candle at the previous close, volume 0
    assert (c.open[2], c.high[2], c.low[2], c.close[2], c.volume[2]) == (11, 11, 11, 11, 0)
    assert c.close.tolist() == [10.5, 11.0, 11.0, 11.2]
    assert c.instrument is not None and c.instrument.lot_size == "0.00000001"


def test_csv_end_stamps_and_iso_times(tmp_path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n2024-01-01T00:05:00Z,1,2,0.5,1.5,1\n"
    text += "2024-01-01 00:10:00,1.5,2,1,1.8,1\n"
    c = load_csv(write(tmp_path, text), "X-Y", "5m", stamp="end")
    assert c.end.tolist() == [parse_time("2024-01-01T00:05:00"), parse_time("2024-01-01T00:10")]
    end_col = "end,open,high,low,close,volume\n" + f"{(T0 + 60) * NS},1,1,1,1,0\n"
    c = load_csv(write(tmp_path, end_col, "e.csv"), "X-Y", "1m")
    assert c.end.tolist() == [(T0 + 60) * NS]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,open,high,low,close\n1,1,1,1,1\n", "lacks columns: volume"),
        ("open,high,low,close,volume\n1,1,1,1,1\n", "lacks columns: a time column"),
        (
            f"ts,open,high,low,close,volume\n{T0},1,1,1,1,1\n{T0 - 60},1,1,1,1,1\n",
            "row 3 goes back in time",
        ),
        (
            f"ts,open,high,low,close,volume\n{T0},1,1,1,1,1\n{T0},1,1,1,1,1\n",
            "row 3 repeats the time",
        ),
        (f"ts,open,high,low,close,volume\n{T0 + 7},1,1,1,1,1\n", "not on the 1m grid"),
        (f"ts,open,high,low,close,volume\n{T0},1,1,1,x,1\n", "row 2: close is not a number"),
        (f"ts,open,high,low,close,volume\n{T0},1,1,2,1,1\n", "high is below low"),
        ("ts,open,high,low,close,volume\n", "has no rows"),
    ],
)
def test_bad_csvs_are_refused_with_a_clear_message(tmp_path, text, message) -> None:
    with pytest.raises(BacktestError, match=message):
        load_csv(write(tmp_path, text), "X-Y", "1m")


def test_csv_range_and_empty_range(tmp_path) -> None:
    rows = "".join(f"{T0 + 60 * k},1,1,1,1,1\n" for k in range(10))
    path = write(tmp_path, "ts,open,high,low,close,volume\n" + rows)
    c = load_csv(path, "X-Y", "1m", start_ns=(T0 + 120) * NS, end_ns=(T0 + 300) * NS)
    assert len(c) == 3 and c.start_ns == (T0 + 120) * NS and c.end_ns == (T0 + 300) * NS
    with pytest.raises(BacktestError, match="no X-Y 1m candles between"):
        load_csv(path, "X-Y", "1m", start_ns=(T0 + 6000) * NS)
    with pytest.raises(BacktestError, match="unknown timeframe"):
        load_csv(path, "X-Y", "1 minute")


def _database(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(schema.SCHEMA)
    rows = [
        ("okx", "BTC-USDT", "1m", (T0 + 60 * k) * NS, 100 + k, 101 + k, 99 + k, 100.5 + k, 1, 1, 1)
        for k in (1, 2, 4)
    ]
    rows.append(("okx", "BTC-USDT", "5m", (T0 + 300) * NS, 1, 1, 1, 1, 1, 1, 1))
    con.executemany(schema.UPSERT_CANDLE, rows)
    con.execute(
        schema.UPSERT_INSTRUMENT,
        ("okx", "BTC-USDT", "BTC", "USDT", "0.1", "0.00000001", "0.00001", "live", 0),
    )
    con.commit()
    con.close()


def test_sqlite_candles_and_instrument(tmp_path) -> None:
    db = tmp_path / "desk.sqlite"
    _database(db)
    c = load_sqlite(db, "BTC-USDT", "1m")
    assert c.end.tolist() == [(T0 + 60 * k) * NS for k in (1, 2, 3, 4)]
    assert c.filled == 1 and c.venue == "okx"
    assert c.instrument is not None and c.instrument.tick_size == "0.1"
    c = load_sqlite(db, "BTC-USDT", "1m", start_ns=(T0 + 60) * NS)
    assert len(c) == 3
    with pytest.raises(BacktestError, match=r"no ETH-USDT 1m candles .* it has: BTC-USDT 1m \(3\)"):
        load_sqlite(db, "ETH-USDT", "1m")
    with pytest.raises(BacktestError, match="between"):
        load_sqlite(db, "BTC-USDT", "1m", start_ns=(T0 + 6000) * NS)
    with pytest.raises(BacktestError, match="no database"):
        load_sqlite(tmp_path / "missing.sqlite", "BTC-USDT", "1m")


def test_simulated_market_is_deterministic() -> None:
    a = simulate_candles(0.05, "ETH-USDT", "1m", steps_per_second=50)
    b = simulate_candles(0.05, "ETH-USDT", "1m", steps_per_second=50)
    assert len(a) == 3 and np.array_equal(a.close, b.close)
    assert np.all(np.diff(a.end) == MIN) and a.end_ns <= a.end[0] + 3 * MIN
    assert np.all(a.high >= a.low) and a.instrument is not None
    with pytest.raises(BacktestError, match="the simulator has no DOGE-USDT"):
        simulate_candles(1, "DOGE-USDT", "1m")
    with pytest.raises(BacktestError, match="hours > 0"):
        simulate_candles(0, "BTC-USDT", "1m")


def test_parse_time() -> None:
    assert parse_time("2024-01-01") == 1_704_067_200 * NS
    assert parse_time("1704067200") == 1_704_067_200 * NS
    assert parse_time("1704067200000") == 1_704_067_200 * NS
    with pytest.raises(BacktestError, match="cannot read the time"):
        parse_time("yesterday-ish")
