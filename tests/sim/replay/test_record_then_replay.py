"""End to end: the engine records a simulator session with desk's recorder, then a replay of
that recording through the same engine rebuilds the same books and candles."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from desk.config import DeskConfig, parse_config, with_replay
from desk.engine.engine import Engine
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.timeline import load_timeline
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio
SYMBOLS = ["BTC-USDT", "ETH-USDT"]
CANDLES = "SELECT symbol, timeframe, end_ns, open, high, low, close, volume FROM candles"


def base(db: Path, **extra: Any) -> dict[str, Any]:
    return {
        "system": {"status_interval": 60},
        "trading": {"symbols": SYMBOLS, "timeframes": ["1s"], "channels": ["trades", "books"]},
        "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
        "candles": {"clock": "data"},  # both runs close candles on the data's time
        **extra,
    }


def books(engine: Engine) -> dict[str, Any]:
    feeds = engine.feeds
    assert feeds is not None
    return {s: (feeds.book(s).seq_id, feeds.book(s).bids(), feeds.book(s).asks()) for s in SYMBOLS}


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_a_recorded_session_replays_to_the_same_books_and_candles(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    live_config = parse_config(
        base(
            tmp_path / "live.sqlite",
            simulator={"enabled": True, "port": 0, "seed": 3, "steps_per_second": 400},
            recorder={"enabled": True, "path": str(recordings), "flush_interval": 0.2},
        )
    )
    live = Engine(live_config)
    await live.start()
    try:
        await wait_until(lambda: live.candles_closed >= 6, 60, "six closed candles, live")
        assert live.feeds is not None
        await live.feeds.stop()  # nothing more arrives: the recording ends on these books
        live_books = books(live)
    finally:
        await live.stop()
    live_candles = rows(tmp_path / "live.sqlite", CANDLES + " ORDER BY symbol, end_ns")

    db = tmp_path / "replay.sqlite"
    timeline = load_timeline(recordings)
    config: DeskConfig = with_replay(
        parse_config(base(db)), ReplayConfig(path=str(recordings), speed=0), timeline.symbols
    )
    engine = Engine(config)
    await engine.start()
    try:
        assert engine.replay is not None and engine.feeds is not None
        await asyncio.wait_for(engine.replay.finished.wait(), 60)
        feeds, total = engine.feeds, len(timeline)
        await wait_until(
            lambda: sum(f.counters.messages for f in feeds.feeds) >= total, 30, "every frame"
        )
        counters = [f.counters for f in feeds.feeds]
        assert all(c.checksum_failures == c.gaps == c.resyncs == 0 for c in counters)
        assert books(engine) == live_books
    finally:
        await engine.stop()
    replayed = rows(db, CANDLES + " ORDER BY symbol, end_ns")
    assert len(live_candles) >= 6 and replayed == live_candles
