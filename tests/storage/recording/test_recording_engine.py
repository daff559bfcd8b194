"""The recorder inside a real engine on the simulator (real WebSockets): what the feed saw is
what the files hold, with gap markers where the stream broke, and a failing disk never stops
the engine."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from desk.core import topics
from desk.core.events import SystemEvent, Trade
from desk.engine.engine import Engine
from desk.engine.views import EngineViews
from desk.storage.recording import files
from desk.storage.recording.coverage import scan
from tests.storage.recording.support import parquet_files, read_kind, sim_config
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio


def _messages(engine: Engine) -> int:
    assert engine.feeds is not None
    return sum(c.messages for c in engine.feeds.counters().values())


async def test_a_recorded_session_matches_what_the_feed_counted(tmp_path: Path) -> None:
    engine = Engine(sim_config(tmp_path, flush_interval=0.2))
    trades: list[Trade] = []
    engine.bus.subscribe(
        topics.market_data("*"), lambda e: trades.append(e) if type(e) is Trade else None
    )
    await engine.start()
    try:
        feed = engine.feeds.feed("BTC-USDT")  # type: ignore[union-attr]
        await feed.wait_ready(30)
        await wait_until(lambda: len(trades) >= 20, 30, "some trades")
        engine.simulator.faults.sequence_gap("BTC-USDT")
        await wait_until(lambda: feed.counters.gaps >= 1, 30, "the feed to see the gap")
        await feed.wait_ready(30)
        engine.simulator.faults.apply("drop_connections", {})
        await wait_until(lambda: feed.counters.reconnects >= 1, 30, "a reconnect")
        await feed.wait_ready(30)
        await wait_until(lambda: engine.recorder.rows_written > 0, 30, "a first flush")
        health = EngineViews(engine).health().recorder  # what the health mode shows
        assert health is not None and health.bytes_written > 0 and health.free_bytes > 0
    finally:
        await engine.stop()
    root = tmp_path / "rec"
    messages = _messages(engine)

    raw = read_kind(root, "raw")
    ws = raw[raw["stream"] == "ws"]
    assert len(ws) == messages  # every frame the feed counted, once
    assert set(raw.loc[raw["stream"] != "ws", "stream"]) >= {"rest:/api/v5/public/instruments"}
    books = ws[ws["channel"] == "books"]
    assert set(books["symbol"]) == {"BTC-USDT", "ETH-USDT"}
    assert all(isinstance(p, bytes) and p.startswith(b"{") for p in books["payload"])

    recorded = read_kind(root, "trades")
    assert len(recorded) == len(trades)
    assert list(recorded["trade_id"]) == [t.trade_id for t in trades]

    l2 = read_kind(root, "books")
    assert {
        "exchange",
        "symbol",
        "timestamp",
        "local_timestamp",
        "is_snapshot",
        "side",
        "price",
        "amount",
        "seq_id",
        "prev_seq_id",
    } <= set(l2.columns)
    assert l2["is_snapshot"].any() and (~l2["is_snapshot"]).any()
    assert set(l2["side"]) == {"bid", "ask"}

    gaps = read_kind(root, "gaps")
    kinds = set(zip(gaps["symbol"], gaps["kind"], strict=True))
    assert {
        ("BTC-USDT", "gap"),
        ("BTC-USDT", "resync"),
        ("", "disconnect"),
        ("", "connect"),
    } <= kinds

    for path in parquet_files(root):  # every file finalised and readable on its own
        assert pq.read_table(path).num_rows > 0
        assert ".part-" not in path.name  # a clean stop merges the open hour
    assert not list(root.rglob("*.tmp"))

    report = scan(root)
    assert not report.skipped
    btc_raw = next(r for r in report.rows if (r.symbol, r.kind) == ("BTC-USDT", "raw"))
    assert btc_raw.rows == int((ws["symbol"] == "BTC-USDT").sum())
    assert btc_raw.gaps >= 3  # the gap, its resync, the disconnect
    assert btc_raw.gap_ns > 0  # disconnected until the reconnect


async def test_a_failing_disk_is_reported_and_the_engine_keeps_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = files.write_atomic
    broken = {"on": True}

    def write(*args: Any, **kwargs: Any) -> int:
        if broken["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(files, "write_atomic", write)
    engine = Engine(sim_config(tmp_path, flush_interval=0.2))
    events: list[SystemEvent] = []
    engine.bus.subscribe(
        topics.SYSTEM_EVENTS, lambda e: events.append(e) if type(e) is SystemEvent else None
    )
    await engine.start()
    try:
        await wait_until(
            lambda: any(e.kind == "recorder_error" for e in events), 30, "the write error"
        )
        error = next(e for e in events if e.kind == "recorder_error")
        assert "No space left on device" in error.message
        assert engine.recorder.health().last_error
        before = _messages(engine)
        await wait_until(lambda: _messages(engine) > before + 50, 30, "the feed running on")
        assert engine.recorder.backlog > 0  # held, not lost
        broken["on"] = False
        await wait_until(
            lambda: any(e.kind == "recorder_recovered" for e in events), 30, "the recovery"
        )
    finally:
        await engine.stop()
    raw = read_kind(tmp_path / "rec", "raw")
    assert len(raw[raw["stream"] == "ws"]) == _messages(engine)  # the held rows were written
    assert engine.recorder.dropped == 0
