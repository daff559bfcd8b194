"""A bad row never blocks the SQLite writer: the good rows land, the bad one is put aside with
its reason, one system event says so, later batches keep landing, and stopping always ends.

Real SQLite files throughout; "locked" is another real connection holding the write lock.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from desk.core.enums import Severity
from desk.core.events import Candle, SystemEvent
from desk.storage import schema
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore, StorageUnavailable
from tests.waiting import wait_until


def candle(end_s: int, **values: Any) -> Candle:
    fields: dict[str, Any] = {
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.5,
        "volume": 2.0,
        "quote_volume": 201.0,
        "trades": 3,
    }
    fields.update(values)
    end = end_s * 1_000_000_000
    return Candle(
        ts_exchange=end,
        ts_recv=end,
        venue="okx",
        symbol="BTC-USDT",
        timeframe="1s",
        end=end,
        closed=True,
        **fields,
    )


def event(message: str, source: Any = "okx") -> SystemEvent:
    return SystemEvent(
        ts_exchange=0,
        ts_recv=1,
        source=source,
        kind="gap",
        message=message,
        severity=Severity.WARNING,
        symbol="BTC-USDT",
    )


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


class Store:
    """A SqliteStore on a file, with the system events it reports."""

    def __init__(self, path: Path, **config: Any) -> None:
        settings: dict[str, Any] = {"sqlite_path": str(path), "flush_interval": 30.0}
        settings.update(config)
        self.path = path
        self.events: list[SystemEvent] = []
        self.store = SqliteStore(StorageConfig(**settings), report=self.events.append)

    def kinds(self, kind: str) -> list[str]:
        return [e.message for e in self.events if e.kind == kind]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "desk.sqlite")
    await store.store.open()
    yield store
    await store.store.close()


async def test_one_bad_row_is_put_aside_and_every_other_row_lands(db: Store) -> None:
    store = db.store
    store.record_candle(candle(1))
    store.record_candle(candle(2, quote_volume=math.nan))  # the NaN trade
    store.record_candle(candle(3))
    store.record_system_event(event("before"))
    store.record_system_event(event("no source", source=None))  # NOT NULL column
    instrument = SimpleNamespace(
        venue="okx",
        symbol="BTC-USDT",
        base="BTC",
        quote="USDT",
        tick_size=0.1,  # a float where the venue's decimal string belongs
        lot_size="0.0001",
        min_size="0.0001",
        state="live",
    )
    store.record_instrument(instrument)
    store.record_system_event(event("after"))
    await store.flush()

    assert rows(db.path, "SELECT end_ns / 1000000000 FROM candles ORDER BY end_ns") == [(1,), (3,)]
    assert rows(db.path, "SELECT message FROM system_events ORDER BY id") == [
        ("before",),
        ("after",),
    ]
    dead = await store.load_dead_letters()
    assert [(d["table"], d["error"]) for d in dead] == [
        ("candles", "quote_volume: not a finite number (nan)"),
        ("system_events", "source: missing (NOT NULL)"),
        ("instruments", "tick_size: expected a decimal string, got float"),
    ]
    assert dead[0]["row"]["quote_volume"] == "nan"
    assert dead[0]["row"]["end_ns"] == 2_000_000_000
    assert store.dead_letters == 3 and store.rows_written == 4
    # one event per kind of bad row, naming the table and the reason
    reports = db.kinds("dead_letter")
    assert len(reports) == 3
    assert "candles" in reports[0] and "quote_volume: not a finite number" in reports[0]

    # More bad candles: stored aside, but no new event within event_interval.
    for n in range(4, 14):
        store.record_candle(candle(n, low=-1.0 if n % 2 else 99.0, volume=-float(n)))
    store.record_candle(candle(20))
    store.record_system_event(event("later"))
    await store.flush()
    assert len(db.kinds("dead_letter")) == 3
    assert store.dead_letters == 13
    assert rows(db.path, "SELECT COUNT(*) FROM candles") == [(3,)]
    assert rows(db.path, "SELECT message FROM system_events ORDER BY id DESC LIMIT 1") == [
        ("later",)
    ]
    assert await asyncio.wait_for(store.close(), 30) == 0


async def test_a_row_sqlite_refuses_is_put_aside_and_its_batch_still_lands(db: Store) -> None:
    """What the checks cannot know (here a trigger) is found by writing the batch row by row."""
    with sqlite3.connect(db.path) as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON system_events WHEN NEW.message = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison row'); END"
        )
    store = db.store
    for message in ("one", "two", "poison", "four", "five"):
        store.record_system_event(event(message))
    store.record_candle(candle(1))
    await store.flush()
    assert rows(db.path, "SELECT message FROM system_events ORDER BY id") == [
        ("one",),
        ("two",),
        ("four",),
        ("five",),
    ]
    assert rows(db.path, "SELECT COUNT(*) FROM candles") == [(1,)]
    (dead,) = await store.load_dead_letters()
    assert dead["table"] == "system_events" and dead["row"]["message"] == "poison"
    assert "SQLite refused it" in dead["error"] and "poison row" in dead["error"]
    assert store.write_errors == 0  # a bad row is not a failed write: nothing is retried


async def test_values_are_checked_before_they_are_written(db: Store) -> None:
    store = db.store
    shapes = {
        "low above high": candle(1, low=102.0),
        "zero price": candle(2, open=0.0),
        "infinite high": candle(3, high=math.inf),
        "negative trades": candle(4, trades=-1),
        "huge but finite": candle(5, high=1e308, close=100.5),
    }
    for each in shapes.values():
        store.record_candle(each)
    await store.flush()
    errors = [d["error"] for d in await store.load_dead_letters()]
    assert errors == [
        "low 102.0 > high 101.0",
        "open: must be > 0, got 0.0",
        "high: not a finite number (inf)",
        "trades: must be >= 0, got -1",
    ]
    assert rows(db.path, "SELECT high FROM candles") == [(1e308,)]


async def test_waiting_for_a_row_that_was_put_aside_does_not_hang(db: Store) -> None:
    store = db.store
    store.record_candle(candle(1, close=math.nan))
    await asyncio.wait_for(store.wait_committed(), 30)
    assert store.rows_settled == 1 and store.rows_written == 0


async def test_dead_letters_cut_long_strings_and_keep_their_length(db: Store) -> None:
    store = db.store
    store.record_system_event(event("x" * 200_000, source=7))
    await store.flush()
    (dead,) = await store.load_dead_letters()
    message = dead["row"]["message"]
    assert message.startswith("x" * 200) and message.endswith("(200 of 200,000 chars)")
    assert len(message) < 300
    assert dead["error"] == "source: expected text, got int"


async def test_stop_while_another_connection_holds_the_lock_ends_and_reports(
    tmp_path: Path,
) -> None:
    path = tmp_path / "desk.sqlite"
    db = Store(path, close_timeout=1.0, busy_timeout=0.2)
    store = db.store
    await store.open()
    locker = sqlite3.connect(path, timeout=0)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        for n in range(10):
            store.record_system_event(event(f"queued {n}"))
        # The lock is still held when close() returns: it ended by its deadline.
        unwritten = await asyncio.wait_for(store.close(), 60)
        assert unwritten == 10
    finally:
        locker.rollback()
        locker.close()
    assert store.unwritten_path is not None
    lines = [json.loads(line) for line in store.unwritten_path.read_text().splitlines()]
    assert [line["row"]["message"] for line in lines] == [f"queued {n}" for n in range(10)]
    assert all(line["table"] == "system_events" for line in lines)
    assert "locked" in lines[0]["error"]


async def test_a_locked_database_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    db = Store(path, flush_interval=0.02, busy_timeout=0.1, close_timeout=10.0)
    store = db.store
    await store.open()
    locker = sqlite3.connect(path, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        for n in range(5):
            store.record_system_event(event(f"early {n}"))
        await wait_until(lambda: store.write_errors >= 2, 30, "two failed tries")
        assert store.backlog == 5
    finally:
        locker.rollback()
        locker.close()
    store.record_system_event(event("late"))
    await wait_until(lambda: store.backlog == 0, 30, "the backlog written")
    messages = [m for (m,) in rows(path, "SELECT message FROM system_events ORDER BY id")]
    assert messages == [f"early {n}" for n in range(5)] + ["late"]
    assert len(db.kinds("write_failed")) == 1  # one event per outage, not one per try
    (recovered,) = db.kinds("write_recovered")
    assert "nothing lost" in recovered
    assert await asyncio.wait_for(store.close(), 30) == 0


async def test_risk_state_round_trip_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    config = StorageConfig(sqlite_path=str(path))
    store = SqliteStore(config)
    await store.open()
    store.record_risk_state(
        component="risk", state="halted", reason="lunch", actor="ana", since_ns=42
    )
    store.record_risk_state(
        component="breaker:okx",
        state="open",
        reason="5 failures",
        actor="breaker",
        since_ns=43,
        detail={"opened_at_ns": 40, "consecutive_failures": 5},
    )
    store.record_risk_state(
        component="risk", state="reducing", reason="daily loss", actor="risk monitor", since_ns=44
    )
    await store.close()
    store = SqliteStore(config)
    await store.open()
    states = await store.load_risk_states()
    await store.close()
    assert states == {
        "risk": {
            "state": "reducing",
            "reason": "daily loss",
            "actor": "risk monitor",
            "since_ns": 44,
            "detail": {},
        },
        "breaker:okx": {
            "state": "open",
            "reason": "5 failures",
            "actor": "breaker",
            "since_ns": 43,
            "detail": {"opened_at_ns": 40, "consecutive_failures": 5},
        },
    }


async def test_a_file_of_schema_version_1_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    await store.open()
    store.record_system_event(event("from version 1"))
    await store.close()
    with sqlite3.connect(path) as conn:  # what a desk of schema version 1 left
        conn.executescript(
            "DROP TABLE dead_letters; DROP TABLE risk_state; UPDATE schema_version SET version = 1;"
        )
    store = SqliteStore(StorageConfig(sqlite_path=str(path)))
    await store.open()
    store.record_candle(candle(1, volume=math.nan))
    store.record_risk_state(component="risk", state="halted", reason="r", actor="a", since_ns=1)
    assert len(await store.load_dead_letters()) == 1
    assert (await store.load_risk_states())["risk"]["state"] == "halted"
    await store.close()
    assert rows(path, "SELECT version FROM schema_version") == [(schema.SCHEMA_VERSION,)]
    assert rows(path, "SELECT source, message FROM system_events ORDER BY id") == [
        ("okx", "from version 1"),
        (
            "storage",
            "a row for candles was put aside in dead_letters: volume: not a finite number (nan)",
        ),
    ]


async def test_reading_while_the_database_stays_locked_fails_clearly_and_keeps_the_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "desk.sqlite"
    db = Store(path, close_timeout=0.5, busy_timeout=0.1)
    store = db.store
    await store.open()
    locker = sqlite3.connect(path, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        store.record_system_event(event("waiting"))
        with pytest.raises(StorageUnavailable, match="1 rows not written: OperationalError"):
            await store.load_dead_letters()
        assert store.backlog == 1
    finally:
        locker.rollback()
        locker.close()
    await store.flush()
    assert rows(path, "SELECT message FROM system_events") == [("waiting",)]
    await store.close()


async def test_order_path_rows_checked_when_built_still_put_a_bad_value_aside(db: Store) -> None:
    """Orders, order events and fills are held to the checks while their values are typed
    (the writer skips its own pass for them); a bad value still never reaches a table."""
    from decimal import Decimal

    from desk.core.enums import Side
    from desk.core.orders import Fill, Liquidity, Order, OrderStatus, OrderType

    def fill(trade_id: str, price: str) -> Fill:
        return Fill(
            ts_exchange=1, ts_recv=2, venue="okx", client_order_id="c1", trade_id=trade_id,
            venue_order_id="v1", bot_id="b1", symbol="BTC-USDT", side=Side.BUY,
            price=Decimal(price), size=Decimal("0.1"), fee=Decimal("0.01"), fee_ccy="USDT",
            liquidity=Liquidity.TAKER,
        )  # fmt: skip

    def order(cid: str, size: str, status: OrderStatus) -> Order:
        return Order(
            ts_exchange=1, ts_recv=2, client_order_id=cid, symbol="BTC-USDT", side=Side.BUY,
            venue_order_id="", order_type=OrderType.LIMIT, price=Decimal(100), size=Decimal(size),
            filled=Decimal(0), avg_price=Decimal(0), status=status,
            bot_id="b1", venue="okx", created_ns=1,
        )  # fmt: skip

    store = db.store
    store.record_fill(fill("t1", "100"))
    store.record_fill(fill("t2", "NaN"))
    store.record_fill(fill("t3", "101"))
    flags = {"reduce_only": False, "notional": Decimal(10), "updated_ns": 3}
    store.record_order(order("good", "0.1", OrderStatus.LIVE), **flags)
    store.record_order(order("bad", "-1", OrderStatus.LIVE), **flags)
    store.record_order(order("refused", "-1", OrderStatus.REJECTED), **flags)
    store.record_order_event(
        ts_ns=1, client_order_id="good", status="live", filled=Decimal(0), reason=""
    )
    store.record_order_event(
        ts_ns=2, client_order_id="good", status="live", filled=Decimal("-1"), reason=""
    )
    await store.flush()

    assert rows(db.path, "SELECT trade_id, price FROM fills ORDER BY id") == [
        ("t1", "100"),
        ("t3", "101"),
    ]
    assert rows(db.path, "SELECT client_order_id FROM orders ORDER BY rowid") == [
        ("good",),
        ("refused",),
    ]
    assert rows(db.path, "SELECT filled FROM order_events") == [("0",)]
    dead = await store.load_dead_letters()
    assert sorted((d["table"], d["error"]) for d in dead) == [
        ("fills", "price: not a finite number (NaN)"),
        ("order_events", "filled: must be >= 0, got -1"),
        ("orders", "size: must be > 0, got -1"),
    ]
