"""A split desk records: the feed role keeps the raw frames and L2 books (only it sees the
frames), ``desk record`` the trades, tickers and candles it reads from Redis; nothing twice."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from desk.config import parse_config
from desk.engine.roles import RoleEngine
from tests.bridge.redis_fixtures import RedisServer
from tests.storage.recording.support import read_kind
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio


def _config(tmp_path: Path, role: str, redis_url: str, simulator: bool) -> object:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT"],
                "timeframes": ["1s"],
                "channels": ["trades", "books", "tickers"],
            },
            "storage": {"sqlite_path": str(tmp_path / f"{role}.sqlite")},
            "simulator": {"enabled": simulator, "port": 0, "seed": 5, "steps_per_second": 400},
            "redis": {"enabled": True, "url": redis_url, "key_prefix": "rec"},
            "recorder": {"enabled": True, "path": str(tmp_path / "rec"), "flush_interval": 0.2},
        }
    )


async def test_the_feed_role_records_frames_and_the_record_role_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_COMMAND_SECRET", "record-role-secret-0123456789")
    server = RedisServer(tmp_path)
    server.start()
    feed = RoleEngine(_config(tmp_path, "feed", server.url, True), "feed")  # type: ignore[arg-type]
    record = RoleEngine(_config(tmp_path, "record", server.url, False), "record")  # type: ignore[arg-type]
    try:
        await record.start()
        await feed.start()
        await wait_until(lambda: record.market_in.received >= 30, 60, "trades over Redis")
        await wait_until(lambda: record.recorder.rows_written > 0, 30, "the record role writing")
    finally:
        await feed.stop()
        await record.stop()
        server.kill()
    assert feed.recorder.kinds == {"raw", "books"}
    assert record.recorder.kinds == {"trades", "tickers", "candles", "funding"}
    root = tmp_path / "rec"
    raw = read_kind(root, "raw")
    assert len(raw[raw["stream"] == "ws"]) == feed.feeds.feed("BTC-USDT").counters.messages
    assert len(read_kind(root, "books")) > 0
    trades = read_kind(root, "trades")
    assert len(trades) > 0 and trades["trade_id"].is_unique  # one writer: nothing twice


async def test_the_record_role_marks_the_feeds_and_its_own_connection_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trades that never reached ``desk record`` leave gap rows there: the feed's connects and
    disconnects (heard over Redis) and its own Redis subscription going and coming back."""
    monkeypatch.setenv("DESK_COMMAND_SECRET", "record-role-secret-0123456789")
    server = RedisServer(tmp_path)
    server.start()
    feed_config = _config(tmp_path, "feed", server.url, True)
    feed_config = msgspec.structs.replace(
        feed_config, recorder=msgspec.structs.replace(feed_config.recorder, enabled=False)
    )
    feed = RoleEngine(feed_config, "feed")  # type: ignore[arg-type]
    record = RoleEngine(_config(tmp_path, "record", server.url, False), "record")  # type: ignore[arg-type]
    try:
        await record.start()
        marked = _marked_gaps(record)  # before the feed starts: its connect is heard after
        await feed.start()
        await wait_until(lambda: record.market_in.received >= 10, 60, "trades over Redis")
        await wait_until(
            lambda: any(kind == "connect" and conn != "redis-market-in" for conn, kind in marked),
            30,
            "the feed's connect, heard over Redis",
        )
        server.kill()
        await wait_until(lambda: not record.market_in._up, 30, "the subscription lost")
        server.start()
        received = record.market_in.received
        await wait_until(lambda: record.market_in.received > received, 60, "trades again")
        await wait_until(lambda: not _gaps(record), 30, "the gap rows flushed")
    finally:
        await feed.stop()
        await record.stop()
        server.kill()
    gaps = read_kind(tmp_path / "rec", "gaps")
    own = gaps[gaps["conn"] == "redis-market-in"]
    assert list(own[own["venue"] == "okx"]["kind"]) == ["connect", "disconnect", "connect"]
    feeds = gaps[(gaps["conn"] != "redis-market-in") & (gaps["venue"] == "okx")]
    assert "connect" in set(feeds["kind"])


def _marked_gaps(engine: RoleEngine) -> list[tuple[str, str]]:
    """(conn, kind) of every gap the engine's recorder is told of, as it is told: its queue
    of unwritten gaps is emptied by each flush, too soon for a poll to be sure to see it."""
    marked: list[tuple[str, str]] = []
    recorder = engine.recorder
    mark_gap = recorder.mark_gap

    def noting(venue: str, conn: str, symbol: str, kind: str, detail: str, ts: int = 0) -> None:
        marked.append((conn, kind))
        mark_gap(venue, conn, symbol, kind, detail, ts)

    recorder.mark_gap = noting  # type: ignore[method-assign]
    return marked


def _gaps(engine: RoleEngine) -> list[tuple]:
    """Gap rows the engine's recorder holds, not yet written."""
    return list(engine.recorder._gaps)
