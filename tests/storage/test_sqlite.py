"""The SQLite store keeps every record it was given, in a real file, and flushes on close."""

import sqlite3
from pathlib import Path

import pytest

from desk.core.enums import Severity
from desk.core.events import Candle, SystemEvent
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore


def _candle(end: int, closed: bool = True) -> Candle:
    return Candle(
        ts_exchange=end,
        ts_recv=end,
        venue="okx",
        symbol="BTC-USDT",
        timeframe="1s",
        end=end,
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=3.0,
        quote_volume=4.5,
        trades=2,
        closed=closed,
    )


def _event(i: int) -> SystemEvent:
    return SystemEvent(
        ts_exchange=0,
        ts_recv=i,
        source="okx",
        kind="gap",
        message=f"gap {i}",
        severity=Severity.WARNING,
        symbol="BTC-USDT",
    )


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


async def test_close_flushes_every_queued_record(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path), batch_size=7, flush_interval=30))
    await store.open()
    for i in range(1, 101):
        store.record_candle(_candle(i * 1_000_000_000))
        store.record_system_event(_event(i))
    await store.close()
    assert _rows(path, "SELECT COUNT(*) FROM candles") == [(100,)]
    assert _rows(path, "SELECT COUNT(*) FROM system_events") == [(100,)]
    assert _rows(path, "SELECT kind, severity, symbol FROM system_events LIMIT 1") == [
        ("gap", "warning", "BTC-USDT")
    ]
    assert store.rows_written == 200


async def test_forming_candles_are_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    await store.open()
    store.record_candle(_candle(1, closed=False))
    await store.close()
    assert _rows(path, "SELECT COUNT(*) FROM candles") == [(0,)]


async def test_writer_commits_in_the_background_without_close(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path), batch_size=10, flush_interval=0.05))
    await store.open()
    for i in range(25):
        store.record_system_event(_event(i))
    import asyncio

    async def committed() -> None:
        while _rows(path, "SELECT COUNT(*) FROM system_events") != [(25,)]:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(committed(), 10)
    assert _rows(path, "PRAGMA journal_mode") == [("wal",)]
    await store.close()


async def test_reopening_keeps_data_and_replaces_same_candle(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    config = StorageConfig(sqlite_path=str(path))
    for _ in range(2):
        store = SqliteStore(config)
        await store.open()
        store.record_candle(_candle(5))
        await store.close()
    assert _rows(path, "SELECT COUNT(*) FROM candles") == [(1,)]


async def test_a_database_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    with pytest.raises(RuntimeError, match="schema version 99"):
        await store.open()
