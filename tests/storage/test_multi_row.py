"""Rows go to SQLite 32 to an INSERT (writer.py): the same rows, in the same order, as one by
one; an order's latest state still wins; a row SQLite refuses inside a 32-row INSERT is put
aside alone, and the 99 others land."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from desk.core.enums import Severity, Side
from desk.core.events import SystemEvent
from desk.core.orders import Order, OrderStatus, OrderType
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from desk.storage.writer import ROWS_PER_INSERT, multi_row_sql


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def event(message: str) -> SystemEvent:
    return SystemEvent(
        ts_exchange=0, ts_recv=1, source="t", kind="k", message=message, severity=Severity.INFO
    )


def order(i: int, status: OrderStatus, filled: str) -> Order:
    return Order(
        ts_exchange=0, ts_recv=i, client_order_id=f"c{i}", venue_order_id="", symbol="BTC-USDT",
        side=Side.BUY, order_type=OrderType.LIMIT, price=Decimal(100), size=Decimal(1),
        filled=Decimal(filled), avg_price=Decimal(0), status=status, bot_id="b1", venue="okx",
        created_ns=i,
    )  # fmt: skip


def test_the_one_row_insert_becomes_one_of_many_rows() -> None:
    sql = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING"
    assert multi_row_sql(sql, 3) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING"
    )


async def test_many_rows_land_in_order_and_the_latest_state_wins(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=3600))
    await store.open()
    count = 3 * ROWS_PER_INSERT + 5  # full INSERTs of 32 and a rest
    for i in range(count):
        store.record_system_event(event(f"m{i}"))
        store.record_order(order(i, OrderStatus.LIVE, "0"), **flags())
    for i in range(0, count, 2):
        store.record_order(order(i, OrderStatus.FILLED, "1"), **flags())
    await store.flush()
    await store.close()
    assert rows(path, "SELECT message FROM system_events ORDER BY id") == [
        (f"m{i}",) for i in range(count)
    ]
    statuses = dict(rows(path, "SELECT client_order_id, status FROM orders"))
    assert statuses == {f"c{i}": "filled" if i % 2 == 0 else "live" for i in range(count)}


async def test_a_refused_row_inside_a_full_insert_is_put_aside_alone(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=3600))
    await store.open()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON system_events WHEN NEW.message = 'm40' "
            "BEGIN SELECT RAISE(ABORT, 'poison row'); END"
        )
    for i in range(100):
        store.record_system_event(event(f"m{i}"))
    await store.flush()
    (dead,) = await store.load_dead_letters()
    await store.close()
    assert dead["row"]["message"] == "m40"
    landed = "SELECT message FROM system_events WHERE message LIKE 'm%' ORDER BY id"
    assert rows(path, landed) == [(f"m{i}",) for i in range(100) if i != 40]


def flags() -> dict[str, Any]:
    return {"reduce_only": False, "notional": Decimal(0), "updated_ns": 1}
