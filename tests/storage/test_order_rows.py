"""Order rows built once per state change are the rows built from scratch, field for field."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import msgspec

from desk.core.enums import Side
from desk.core.orders import Order, OrderStatus, OrderType
from desk.storage import statements
from desk.storage.config import StorageConfig
from desk.storage.order_rows import OrderRows, order_row
from desk.storage.sqlite import SqliteStore

D = Decimal
OPEN = [OrderStatus.PENDING_NEW, OrderStatus.LIVE, OrderStatus.PARTIALLY_FILLED]
ALL = list(OrderStatus)


def _order(cid: str, price: Decimal | None) -> Order:
    return Order(
        ts_exchange=0,
        ts_recv=1,
        client_order_id=cid,
        venue_order_id="",
        symbol="BTC-USDT",
        side=Side.SELL,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        price=price,
        size=D("0.001"),
        filled=D(0),
        avg_price=D(0),
        status=OrderStatus.PENDING_NEW,
        bot_id="b1",
        venue="okx",
        created_ns=1,
    )


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert type(a) is type(b)
    assert a == b
    assert [type(x) for x in a] == [type(x) for x in b]


def _change(rng: random.Random) -> dict[str, Any]:
    """A random change, bad values (which the checks refuse) among them."""
    pick = rng.random()
    if pick < 0.3:
        return {"filled": D(rng.choice(["0.0005", "0.001", "-1", "NaN", "0"]))}
    if pick < 0.45:
        return {"avg_price": D(rng.choice(["100.5", "Infinity", "0"]))}
    if pick < 0.55:
        return {"fee": D(rng.choice(["0.01", "-0.02", "sNaN"]))}
    if pick < 0.65:
        return {"venue_order_id": f"v{rng.randrange(9)}", "fee_ccy": "USDT"}
    if pick < 0.7:
        return {"size": D(rng.choice(["0.002", "0", "-1"]))}
    if pick < 0.75:
        return {"price": rng.choice([None, D("101"), D("-5")])}
    if pick < 0.8:
        return {"created_ns": rng.choice([1, 2, 3.5])}
    return {"status": rng.choice(OPEN if pick < 0.95 else ALL), "reason": rng.choice(["", "x"])}


def test_rows_match_rows_built_from_scratch_over_random_state_sequences() -> None:
    rng = random.Random(17)
    rows = OrderRows()
    orders = {f"c{i}": _order(f"c{i}", rng.choice([None, D("100.25")])) for i in range(40)}
    notionals = dict.fromkeys(orders, D(0))
    for _ in range(5000):
        cid = rng.choice(list(orders))
        order = orders[cid] = msgspec.structs.replace(orders[cid], **_change(rng))
        if rng.random() < 0.2:
            notionals[cid] = D(rng.choice(["0", "60.5", "-1", "NaN"]))
        updated = rng.choice([7, 8, 9.5]) if rng.random() < 0.05 else 7
        reduce_only = rng.random() < 0.5
        expected = order_row(order, reduce_only, notionals[cid], updated)  # type: ignore[arg-type]
        _same(rows.row(order, reduce_only, notionals[cid], updated), expected)  # type: ignore[arg-type]
    assert len(rows) <= len(orders)


def test_a_terminal_state_forgets_the_order() -> None:
    rows = OrderRows()
    order = _order("c1", D("100"))
    rows.row(order, False, D(0), 1)
    assert len(rows) == 1
    filled = msgspec.structs.replace(
        order, status=OrderStatus.FILLED, filled=D("0.001"), avg_price=D("100")
    )
    _same(rows.row(filled, False, D("0.1"), 2), order_row(filled, False, D("0.1"), 2))
    assert len(rows) == 0


def test_record_order_state_queues_what_record_order_and_its_event_queue() -> None:
    one = SqliteStore(StorageConfig(sqlite_path=":memory:"))
    two = SqliteStore(StorageConfig(sqlite_path=":memory:"))
    order = _order("c1", D("100"))
    states = [
        order,
        msgspec.structs.replace(order, status=OrderStatus.LIVE, venue_order_id="v1"),
        msgspec.structs.replace(
            order, status=OrderStatus.FILLED, filled=D("0.001"), avg_price=D("100"), reason="r"
        ),
        msgspec.structs.replace(order, filled=D("-1")),  # refused by the checks: plain rows
    ]
    for state in states:
        one.record_order_state(state, reduce_only=True, notional=D("0.1"), updated_ns=5)
        two.record_order(state, reduce_only=True, notional=D("0.1"), updated_ns=5)
        two.record_order_event(
            ts_ns=5,
            client_order_id=state.client_order_id,
            status=str(state.status),
            filled=state.filled,
            reason=state.reason,
        )
    got, want = one._pending.take_all(), two._pending.take_all()
    assert len(got) == len(want) == 2 * len(states)
    for (s1, p1), (s2, p2) in zip(got, want, strict=True):
        assert s1 is s2
        _same(p1, p2)
    assert type(got[-2][1]) is tuple and type(got[-1][1]) is tuple  # the refused state
    assert type(got[0][1]) is statements.Checked
