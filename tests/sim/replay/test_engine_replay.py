"""The whole engine on a replay: the same recording gives the same books, candles, signals and
paper fills twice, the feed verifies every recorded checksum, and the end is announced."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from desk.backtest.recording_data import load_recording
from desk.config import DeskConfig, parse_config, with_replay
from desk.engine.bot_board import summarize_change
from desk.engine.engine import Engine
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.timeline import load_timeline
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

BOTS = [
    {
        "bot_id": "cross",
        "strategy": "ma_crossover",
        "symbol": "BTC-USDT",
        "timeframe": "1s",
        "size": 0.01,
        "params": {"fast": 2, "slow": 3},
    },
    {
        "bot_id": "revert",
        "strategy": "rsi_mean_reversion",
        "symbol": "ETH-USDT",
        "timeframe": "1s",
        "size": 0.1,
        "params": {"n": 3, "oversold": 40, "overbought": 60},
    },
]


def replay_config(recording: Path, db: Path) -> DeskConfig:
    base = parse_config(
        {
            "system": {"status_interval": 60},
            "trading": {"timeframes": ["1s", "5s"], "channels": ["trades", "books", "tickers"]},
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "execution": {
                "risk": {
                    "max_orders_per_s_per_account": 100000,
                    "max_orders_per_s": 100000,
                    "price_band_pct": 50,
                },
            },
            "bots": BOTS,
        }
    )
    replay = ReplayConfig(path=str(recording), speed=0)
    return with_replay(base, replay, load_timeline(recording).symbols)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def run_once(recording: Path, db: Path) -> dict[str, Any]:
    engine = Engine(replay_config(recording, db))
    await engine.start()
    try:
        assert engine.replay is not None
        await asyncio.wait_for(engine.replay.finished.wait(), 60)
        total = len(engine.replay.timeline)
        feeds = engine.feeds
        assert feeds is not None
        await wait_until(
            lambda: sum(f.counters.messages for f in feeds.feeds) >= total,
            30,
            "every replayed frame through the feed",
        )
        assert engine.execution is not None
        oms = engine.execution.oms
        await wait_until(lambda: not oms.open_orders(), 30, "no order in flight")
        counters = {f.name: f.counters for f in feeds.feeds}
        books = {
            s: (tuple(feeds.book(s).bids(5)), tuple(feeds.book(s).asks(5)), feeds.book(s).seq_id)
            for s in engine.config.trading.symbols
        }
    finally:
        await engine.stop()
    return {
        "counters": counters,
        "books": books,
        "candles": rows(
            db,
            "SELECT symbol, timeframe, end_ns, open, high, low, close, volume "
            "FROM candles ORDER BY symbol, timeframe, end_ns",
        ),
        "signals": rows(
            db,
            "SELECT ts_ns, bot_id, direction, strength, price, reason "
            "FROM bot_signals ORDER BY bot_id, ts_ns, id",
        ),
        "fills": rows(
            db, "SELECT bot_id, symbol, side, price, size, fee FROM fills ORDER BY bot_id, id"
        ),
        "finished": rows(
            db, "SELECT message FROM system_events WHERE source = 'replay' AND kind = 'finished'"
        ),
    }


async def test_replay_twice_gives_the_same_books_candles_signals_and_fills(
    recording: Path, tmp_path: Path
) -> None:
    first = await run_once(recording, tmp_path / "one.sqlite")
    second = await run_once(recording, tmp_path / "two.sqlite")
    for counters in first["counters"].values():
        assert counters.checksum_failures == 0
        assert counters.gaps == 0 and counters.resyncs == 0 and counters.decode_errors == 0
    assert len(first["candles"]) > 20
    assert first["signals"] and first["fills"]
    for key in ("books", "candles", "signals", "fills"):
        assert first[key] == second[key], key
    assert first["finished"]
    # The candles the engine closed on the replay are the candles a backtest rebuilds from the
    # recorded trades (desk backtest --data RECORDING): the same right-aligned aggregation.
    for symbol in ("BTC-USDT", "ETH-USDT"):
        rebuilt = load_recording(recording, symbol, "1s")
        live = [c for c in first["candles"] if c[0] == symbol and c[1] == "1s"]
        assert [c[2] for c in live] == rebuilt.end.tolist()
        assert [c[3:8] for c in live] == list(
            zip(
                rebuilt.open.tolist(),
                rebuilt.high.tolist(),
                rebuilt.low.tolist(),
                rebuilt.close.tolist(),
                rebuilt.volume.tolist(),
                strict=True,
            )
        )


async def test_a_resumed_bot_stores_what_it_saw(recording: Path, tmp_path: Path) -> None:
    """Resuming a bot stores, with the event, the book tops, last candles and indicators."""
    db = tmp_path / "desk.sqlite"
    engine = Engine(replay_config(recording, db))
    await engine.start()
    try:
        assert engine.replay is not None
        await asyncio.wait_for(engine.replay.finished.wait(), 60)
        feeds, total = engine.feeds, len(engine.replay.timeline)
        await wait_until(
            lambda: sum(f.counters.messages for f in feeds.feeds) >= total, 30, "every frame"
        )
        engine.bots.pause_bot("cross", actor="alice")
        engine.bots.resume_bot("cross", actor="alice")
        expected_bid = [list(level) for level in feeds.book("BTC-USDT").bids(5)]
        values = engine.indicators.values("BTC-USDT", "1s")
        expected = {k: (v if math.isfinite(v) else None) for k, v in values.items()}
    finally:
        await engine.stop()
    events = rows(db, "SELECT kind, detail, actor FROM bot_events WHERE bot_id = 'cross'")
    resumed = [json.loads(d) for k, d, a in events if k == "mode" and a == "alice"]
    seen = [d["seen"] for d in resumed if d["new"] == "auto"]
    assert len(seen) == 1 and not any("seen" in d for d in resumed if d["new"] == "paused")
    assert seen[0]["book"]["bid"] == expected_bid and len(seen[0]["book"]["ask"]) == 5
    assert len(seen[0]["candles"]) == 5
    ends = [c["end"] for c in seen[0]["candles"]]
    assert ends == sorted(ends)
    assert seen[0]["indicators"] == expected and isinstance(expected["close"], float)
    line = summarize_change("mode", resumed[-1])
    assert line.startswith("mode paused -> auto; saw bid ") and " close " in line
    started = [json.loads(d) for k, d, _a in events if k == "started"]
    assert started and "seen" in started[0]  # at start too (the book may still be empty)
