"""Orders, order events and fills in a real SQLite file: exact round trips, one row per fill."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec

from desk.core.enums import Side
from desk.core.orders import Fill, Liquidity, Order, OrderStatus, OrderType
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

D = Decimal


def _order(
    cid: str, status: OrderStatus, *, created: int = 1, price: str | None = "100.25"
) -> Order:
    return Order(
        ts_exchange=0,
        ts_recv=created,
        client_order_id=cid,
        venue_order_id="",
        symbol="BTC-USDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        price=None if price is None else D(price),
        size=D("0.00000001"),
        filled=D(0),
        avg_price=D(0),
        status=status,
        bot_id="b1",
        venue="okx",
        created_ns=created,
    )


def _fill(trade_id: str, cid: str = "o1", ts: int = 5) -> Fill:
    return Fill(
        ts_exchange=ts - 1,
        ts_recv=ts,
        client_order_id=cid,
        venue_order_id="v1",
        trade_id=trade_id,
        symbol="BTC-USDT",
        side=Side.SELL,
        price=D("65000.123456789"),
        size=D("0.12345678"),
        fee=D("-0.0000001"),
        fee_ccy="BTC",
        liquidity=Liquidity.MAKER,
        bot_id="b1",
        venue="okx",
    )


async def _open(path: Path, **kw: float) -> SqliteStore:
    store = SqliteStore(StorageConfig(sqlite_path=str(path), **kw))  # type: ignore[arg-type]
    await store.open()
    return store


async def test_orders_round_trip_exactly_and_upsert_keeps_one_row(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = await _open(path)
    pending = _order("o1", OrderStatus.PENDING_NEW)
    store.record_order(pending, reduce_only=True, notional=D(0), updated_ns=1)
    live = _order("o1", OrderStatus.PARTIALLY_FILLED)
    live = msgspec.structs.replace(
        live,
        venue_order_id="v9",
        filled=D("0.000000005"),
        avg_price=D("100.2"),
        fee=D("0.001"),
        fee_ccy="USDT",
    )
    store.record_order(live, reduce_only=True, notional=D("0.000000501"), updated_ns=7)
    store.record_order(_order("o2", OrderStatus.FILLED, created=2), reduce_only=False,
                       notional=D(0), updated_ns=2)  # fmt: skip
    store.record_order(_order("o3", OrderStatus.PENDING_NEW, created=3, price=None),
                       reduce_only=False, notional=D(0), updated_ns=3)  # fmt: skip
    await store.close()

    store = await _open(path)
    open_orders = await store.load_open_orders()
    assert [s.order.client_order_id for s in open_orders] == ["o1", "o3"]
    first = open_orders[0]
    assert first.order.filled == D("0.000000005") and first.order.venue_order_id == "v9"
    assert first.order.status is OrderStatus.PARTIALLY_FILLED
    assert first.order.price == D("100.25") and first.order.size == D("0.00000001")
    assert first.reduce_only and first.notional == D("0.000000501") and first.updated_ns == 7
    assert open_orders[1].order.price is None
    assert open_orders[1].order.order_type is OrderType.MARKET
    recent = await store.load_orders(since_ns=2)
    assert [s.order.client_order_id for s in recent] == ["o2", "o3"]
    newest = await store.load_orders(limit=2)
    assert [s.order.client_order_id for s in newest] == ["o2", "o3"]
    await store.close()


async def test_order_events_keep_every_change_in_order(tmp_path: Path) -> None:
    store = await _open(tmp_path / "desk.sqlite")
    for ts, status, reason in [(1, "pending_new", ""), (2, "live", ""), (3, "canceled", "user")]:
        store.record_order_event(
            ts_ns=ts, client_order_id="o1", status=status, filled=D("0.5"), reason=reason
        )
    events = await store.load_order_events("o1")
    assert [(e["ts_ns"], e["status"], e["reason"]) for e in events] == [
        (1, OrderStatus.PENDING_NEW, ""),
        (2, OrderStatus.LIVE, ""),
        (3, OrderStatus.CANCELED, "user"),
    ]
    assert events[0]["filled"] == D("0.5")
    await store.close()


async def test_a_fill_is_stored_once_also_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    for _ in range(2):
        store = await _open(path)
        store.record_fill(_fill("t1"))
        store.record_fill(_fill("t1"))
        store.record_fill(_fill("t1", cid="o2"))  # same trade id, other order: another fill
        await store.close()
    store = await _open(path)
    fills = await store.load_fills()
    assert [(f.client_order_id, f.trade_id) for f in fills] == [("o1", "t1"), ("o2", "t1")]
    assert fills[0] == _fill("t1")  # every field exactly as given
    store.record_fill(_fill("t2", ts=9))
    assert [f.trade_id for f in await store.load_fills(since_ns=6)] == ["t2"]
    assert [f.trade_id for f in await store.load_fills(limit=1)] == ["t2"]
    await store.close()


async def test_wait_committed_commits_without_waiting_for_the_flush_interval(
    tmp_path: Path,
) -> None:
    path = tmp_path / "desk.sqlite"
    store = await _open(path, flush_interval=3600)
    store.record_order(_order("o1", OrderStatus.PENDING_NEW), reduce_only=False,
                       notional=D(0), updated_ns=1)  # fmt: skip
    await store.wait_committed()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT status FROM orders").fetchall() == [("pending_new",)]
    await store.wait_committed()  # nothing queued: returns at once
    await store.close()


async def test_a_file_from_before_the_order_tables_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = await _open(path)
    await store.close()
    with sqlite3.connect(path) as db:
        db.executescript("DROP TABLE orders; DROP TABLE order_events; DROP TABLE fills;")
    store = await _open(path)
    store.record_fill(_fill("t1"))
    assert len(await store.load_fills()) == 1
    await store.close()


async def test_states_of_one_order_in_one_batch_store_its_last_state_in_its_turn(
    tmp_path: Path,
) -> None:
    """The writer folds an order's states within a batch to the last one (one row written,
    not three); the result is as if each had been written: the last state, every history
    row, and orders still stored in the order they first came (rowid)."""
    store = await _open(tmp_path / "desk.sqlite")
    updates = [("o1", OrderStatus.PENDING_NEW), ("o2", OrderStatus.PENDING_NEW)]
    updates += [("o1", OrderStatus.LIVE), ("o2", OrderStatus.CANCELED), ("o1", OrderStatus.FILLED)]
    for step, (cid, status) in enumerate(updates, 1):
        store.record_order(_order(cid, status), reduce_only=False, notional=D(0), updated_ns=step)
        store.record_order_event(
            ts_ns=step, client_order_id=cid, status=str(status), filled=D(0), reason=""
        )
    await store.flush()
    await store.close()
    with sqlite3.connect(tmp_path / "desk.sqlite") as db:
        orders = db.execute("SELECT client_order_id, status, updated_ns FROM orders ORDER BY rowid")
        assert orders.fetchall() == [("o1", "filled", 5), ("o2", "canceled", 4)]
        events = db.execute("SELECT client_order_id, status FROM order_events ORDER BY id")
        assert events.fetchall() == [(cid, str(status)) for cid, status in updates]
