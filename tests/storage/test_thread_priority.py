"""SQLite's writer thread runs as background work (SCHED_BATCH on Linux), the event loop's thread
is left as it was, and a platform or sandbox that refuses the policy costs nothing but a log
line: the store opens and writes as before."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from desk.storage.thread_priority import run_as_background, thread_policy
from desk.storage.writer import run_in_thread
from tests.storage.test_sqlite import _event

LINUX = sys.platform.startswith("linux")


async def _writer_policy(store: SqliteStore) -> str:
    assert store._db is not None
    return await run_in_thread(store._db, thread_policy)


async def _stores_rows(store: SqliteStore, path: Path, count: int) -> None:
    for i in range(count):
        store.record_system_event(_event(i))
    await asyncio.wait_for(store.wait_committed(), 30)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM system_events").fetchone() == (count,)


@pytest.mark.skipif(not LINUX, reason="SCHED_BATCH is Linux's")
async def test_the_writer_thread_runs_as_batch_work_and_the_loop_thread_does_not(
    tmp_path: Path,
) -> None:
    loop_policy = thread_policy()
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    await store.open()
    try:
        assert await _writer_policy(store) == "batch"
        assert thread_policy() == loop_policy  # only the writer's own thread changed
        await _stores_rows(store, path, 50)
    finally:
        await store.close()


@pytest.mark.skipif(not LINUX, reason="SCHED_BATCH is Linux's")
async def test_writer_sched_batch_off_leaves_the_writer_thread_alone(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path), writer_sched_batch=False))
    await store.open()
    try:
        assert await _writer_policy(store) == "other"
    finally:
        await store.close()


async def test_a_refused_policy_is_logged_and_the_store_still_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    monkeypatch.setattr(os, "SCHED_BATCH", 3, raising=False)
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    with caplog.at_level(logging.INFO, logger="desk.storage.sqlite"):
        await store.open()
    try:
        assert "SCHED_BATCH refused: [Errno 1] Operation not permitted" in caplog.text
        await _stores_rows(store, path, 20)
    finally:
        await store.close()


def test_without_the_policy_the_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "SCHED_BATCH", raising=False)
    assert run_as_background() == "SCHED_BATCH is not available on this platform"
    assert thread_policy() in {"other", "unknown"}
