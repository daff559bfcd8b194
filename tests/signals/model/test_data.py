"""Training data sources: CSV, desk's SQLite candles, the simulator's market."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from desk.signals.model.data import DataError, generate_sim, load_csv, load_sqlite, parse_time
from desk.storage import schema
from tests.signals.model.synthetic import random_walk


def write_csv(path: Path, n: int = 50, book: bool = False, seed: int = 1) -> Path:
    s = random_walk(n, seed=seed)
    cols = ["ts", "open", "high", "low", "close", "volume"]
    arrays = [s.end_ns // 1_000_000, s.open, s.high, s.low, s.close, s.volume]
    if book:
        cols += ["buy_volume", "sell_volume", "bid", "ask", "bid_size_1", "ask_size_1"]
        arrays += [s.buy_volume, s.sell_volume, s.bid, s.ask, s.bid_sizes[:, 0], s.ask_sizes[:, 0]]
    lines = [",".join(c.upper() if c == "close" else c for c in cols)]
    lines += [",".join(repr(float(a[i])) if k else str(int(a[i])) for k, a in enumerate(arrays))
              for i in range(n)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def write_db(path: Path, symbol: str = "BTC-USDT", n: int = 50, seed: int = 1) -> Path:
    s = random_walk(n, seed=seed)
    with closing(sqlite3.connect(path)) as db:
        db.executescript(schema.SCHEMA)
        rows = [
            ("okx", symbol, "1m", int(s.end_ns[i]), s.open[i], s.high[i], s.low[i], s.close[i],
             s.volume[i], s.volume[i] * s.close[i], 3)
            for i in range(n)
        ]  # fmt: skip
        db.executemany(schema.UPSERT_CANDLE, rows)
        db.commit()
    return path


def test_csv_round_trip(tmp_path: Path) -> None:
    s = random_walk(50, seed=1)
    got = load_csv(write_csv(tmp_path / "c.csv", book=True), timeframe="1m")
    assert got.symbol == "c" and len(got) == 50
    np.testing.assert_array_equal(got.end_ns, s.end_ns)  # epoch ms read as ms
    np.testing.assert_allclose(got.close, s.close)
    np.testing.assert_allclose(got.bid_sizes[:, 0], s.bid_sizes[:, 0])
    assert got.ask_sizes.shape == (50, 1)
    plain = load_csv(write_csv(tmp_path / "p.csv"))
    assert plain.buy_volume is None and plain.bid_sizes is None
    cut = got.between(int(s.end_ns[10]), int(s.end_ns[19]))
    assert len(cut) == 10 and cut.bid is not None and cut.close[0] == got.close[10]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("ts,open,high,low,close\n1,1,1,1,1\n", "missing column"),
        ("ts,open,high,low,close,volume\n1,1,1,1,1\n", ":2: 5 fields"),
        ("ts,open,high,low,close,volume\n1,1,1,x,1,1\n", ":2: could not convert"),
        ("ts,open,high,low,close,volume\n2,1,1,1,1,1\n1,1,1,1,1,1\n", "bar 2 is not after"),
        ("date,open,high,low,close,volume\nyesterday,1,1,1,1,1\n", "not a time"),
    ],
)
def test_a_bad_csv_names_the_row_and_reason(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DataError, match=named):
        load_csv(tmp_path / "bad.csv")


def test_times() -> None:
    ns = 1_704_067_200 * 10**9
    for text in ("2024-01-01", "2024-01-01T00:00:00Z", "1704067200", "1704067200000", str(ns)):
        assert parse_time(text) == ns


def test_sqlite_candles(tmp_path: Path) -> None:
    db = write_db(tmp_path / "desk.sqlite")
    s = random_walk(50, seed=1)
    got = load_sqlite(db, "BTC-USDT", "1m")
    np.testing.assert_allclose(got.close, s.close)
    assert got.bid is None and got.source.startswith("sqlite:")
    part = load_sqlite(db, "BTC-USDT", "1m", start_ns=int(s.end_ns[5]), end_ns=int(s.end_ns[9]))
    assert len(part) == 5
    with pytest.raises(DataError, match=r"no candles for okx/ETH-USDT/1m.*okx/BTC-USDT/1m \(50"):
        load_sqlite(db, "ETH-USDT", "1m")
    with pytest.raises(DataError, match="no such database"):
        load_sqlite(tmp_path / "none.sqlite", "BTC-USDT", "1m")


def test_the_simulator_market_is_deterministic_and_has_book_and_flow() -> None:
    a = generate_sim(0.05, ["BTC-USDT", "ETH-USDT"], "5s", steps_per_second=20, seed=3)
    b = generate_sim(0.05, ["BTC-USDT", "ETH-USDT"], "5s", steps_per_second=20, seed=3)
    assert [s.symbol for s in a] == ["BTC-USDT", "ETH-USDT"] and len(a[0]) == 36
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.close, y.close)
        np.testing.assert_array_equal(x.bid_sizes, y.bid_sizes)
    s = a[0]
    assert np.all(np.diff(s.end_ns) == 5 * 10**9)
    assert np.all(s.high >= s.low) and np.all(s.volume >= 0)
    np.testing.assert_allclose(s.buy_volume + s.sell_volume, s.volume)
    assert np.all(s.ask > s.bid) and s.bid_sizes.shape == (36, 5)
    x = s.features()
    assert np.all(np.isfinite(x[:, -3:]))
    assert np.any(x[:, -3] != 0.0) and np.any(x[:, -1] != 0.0)
    with pytest.raises(DataError, match="has no"):
        generate_sim(0.01, ["DOGE-USDT"])
