"""The matching engine: exact price-time priority, time-in-force rules and level reports."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.core.enums import Side
from desk.sim.matching import (
    LevelChange,
    MatchingEngine,
    OrderStatus,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL


def book_with_asks(*levels: tuple[int, int]) -> MatchingEngine:
    engine = MatchingEngine()
    for price, size in levels:
        engine.submit_limit(SELL, price, size, owner="mm")
    return engine


def test_resting_orders_make_sorted_levels_with_totals_and_counts() -> None:
    engine = MatchingEngine()
    engine.submit_limit(BUY, 100, 5)
    engine.submit_limit(BUY, 101, 2)
    engine.submit_limit(BUY, 100, 3)
    engine.submit_limit(SELL, 103, 4)
    engine.submit_limit(SELL, 105, 1)
    assert engine.best_bid() == 101 and engine.best_ask() == 103
    assert engine.depth(BUY) == [(101, 2, 1), (100, 8, 2)]
    assert engine.depth(SELL) == [(103, 4, 1), (105, 1, 1)]
    assert engine.depth(BUY, 1) == [(101, 2, 1)]
    assert engine.depth(SELL, 0) == [] and engine.depth(BUY, 0) == []


def test_submit_reports_the_new_level_state() -> None:
    engine = MatchingEngine()
    engine.submit_limit(BUY, 100, 5)
    report = engine.submit_limit(BUY, 100, 3)
    assert report.changes == [LevelChange(BUY, 100, 8, 2)]
    assert report.order.status is OrderStatus.LIVE and not report.fills


def test_taker_fills_at_maker_prices_best_price_first() -> None:
    engine = book_with_asks((101, 2), (100, 3), (102, 10))
    report = engine.submit_limit(BUY, 101, 6, owner="me")
    assert [(f.price, f.size) for f in report.fills] == [(100, 3), (101, 2)]
    assert report.order.status is OrderStatus.PARTIALLY_FILLED
    assert report.order.remaining == 1
    assert engine.best_bid() == 101 and engine.best_ask() == 102
    assert set(report.changes) == {
        LevelChange(SELL, 100, 0, 0),
        LevelChange(SELL, 101, 0, 0),
        LevelChange(BUY, 101, 1, 1),
    }


def test_same_price_fills_oldest_order_first() -> None:
    engine = MatchingEngine()
    first = engine.submit_limit(SELL, 100, 2, owner="a").order
    second = engine.submit_limit(SELL, 100, 2, owner="b").order
    report = engine.submit_market(BUY, 3)
    assert [(f.maker_id, f.size, f.maker_remaining) for f in report.fills] == [
        (first.order_id, 2, 0),
        (second.order_id, 1, 1),
    ]
    assert first.status is OrderStatus.FILLED
    assert second.status is OrderStatus.PARTIALLY_FILLED
    assert engine.level_orders(SELL, 100) == [second]


def test_trade_ids_increase_by_one_per_fill() -> None:
    engine = MatchingEngine(first_trade_id=500)
    engine.submit_limit(SELL, 100, 1)
    engine.submit_limit(SELL, 101, 1)
    report = engine.submit_market(BUY, 2)
    assert [f.trade_id for f in report.fills] == [500, 501]
    assert engine.last_trade_id == 501


def test_market_order_walks_the_book_and_cancels_what_is_left() -> None:
    engine = book_with_asks((100, 1), (101, 1))
    report = engine.submit_market(BUY, 5, owner="t")
    assert sum(f.size for f in report.fills) == 2
    assert report.order.status is OrderStatus.CANCELED and report.order.filled == 2
    assert engine.best_ask() is None and not engine.orders


def test_market_order_respects_a_protection_limit() -> None:
    engine = book_with_asks((100, 1), (101, 1), (102, 1))
    report = engine.submit_market(BUY, 3, limit=101)
    assert [f.price for f in report.fills] == [100, 101]
    assert engine.best_ask() == 102


def test_ioc_cancels_the_remainder_instead_of_resting() -> None:
    engine = book_with_asks((100, 2))
    report = engine.submit_limit(BUY, 100, 5, tif=TimeInForce.IOC)
    assert report.order.filled == 2 and report.order.status is OrderStatus.CANCELED
    assert engine.best_bid() is None


def test_fok_fills_all_or_nothing() -> None:
    engine = book_with_asks((100, 2), (101, 2))
    refused = engine.submit_limit(BUY, 100, 3, tif=TimeInForce.FOK)
    assert refused.order.status is OrderStatus.CANCELED and not refused.fills
    assert engine.depth(SELL) == [(100, 2, 1), (101, 2, 1)]
    done = engine.submit_limit(BUY, 101, 3, tif=TimeInForce.FOK)
    assert done.order.status is OrderStatus.FILLED
    assert engine.depth(SELL) == [(101, 1, 1)]


def test_post_only_is_rejected_when_it_would_take_and_rests_otherwise() -> None:
    engine = book_with_asks((100, 2))
    rejected = engine.submit_limit(BUY, 100, 1, tif=TimeInForce.POST_ONLY)
    assert rejected.order.status is OrderStatus.REJECTED and not rejected.accepted
    assert not rejected.fills and not rejected.changes
    rested = engine.submit_limit(BUY, 99, 1, tif=TimeInForce.POST_ONLY)
    assert rested.order.status is OrderStatus.LIVE and engine.best_bid() == 99


def test_cancel_removes_the_order_and_reports_the_level() -> None:
    engine = MatchingEngine()
    a = engine.submit_limit(BUY, 100, 2).order
    engine.submit_limit(BUY, 100, 3)
    report = engine.cancel(a.order_id)
    assert report is not None and report.order.status is OrderStatus.CANCELED
    assert report.changes == [LevelChange(BUY, 100, 3, 1)]
    assert engine.cancel(a.order_id) is None
    assert engine.cancel(12345) is None


def test_cancel_owner_cancels_only_that_owners_orders() -> None:
    engine = MatchingEngine()
    engine.submit_limit(BUY, 100, 2, owner="me")
    engine.submit_limit(SELL, 105, 2, owner="me")
    keep = engine.submit_limit(BUY, 99, 2, owner="other").order
    assert len(engine.cancel_owner("me")) == 2
    assert engine.open_orders() == [keep]


def test_amend_down_keeps_time_priority() -> None:
    engine = MatchingEngine()
    first = engine.submit_limit(SELL, 100, 5).order
    engine.submit_limit(SELL, 100, 5)
    report = engine.amend(first.order_id, new_size=2)
    assert report is not None and report.changes == [LevelChange(SELL, 100, 7, 2)]
    fills = engine.submit_market(BUY, 1).fills
    assert fills[0].maker_id == first.order_id


def test_amend_price_requeues_and_can_trade() -> None:
    engine = MatchingEngine()
    bid = engine.submit_limit(BUY, 99, 2).order
    engine.submit_limit(SELL, 101, 1)
    report = engine.amend(bid.order_id, new_price=101)
    assert report is not None and [f.price for f in report.fills] == [101]
    assert engine.depth(BUY) == [(101, 1, 1)] and engine.best_ask() is None
    assert LevelChange(BUY, 99, 0, 0) in report.changes


def test_amend_refuses_bad_sizes_and_post_only_crossing() -> None:
    engine = MatchingEngine()
    engine.submit_limit(SELL, 101, 1)
    bid = engine.submit_limit(BUY, 99, 2, tif=TimeInForce.POST_ONLY).order
    crossing = engine.amend(bid.order_id, new_price=101)
    assert crossing is not None and crossing.reason and bid.price == 99
    too_small = engine.amend(bid.order_id, new_size=0)
    assert too_small is not None and too_small.reason
    assert engine.amend(999) is None


def test_invalid_orders_raise() -> None:
    engine = MatchingEngine()
    with pytest.raises(ValueError):
        engine.submit_limit(BUY, 0, 1)
    with pytest.raises(ValueError):
        engine.submit_limit(BUY, 100, 0)
    engine.submit_limit(BUY, 100, 1, order_id=7)
    with pytest.raises(ValueError):
        engine.submit_limit(BUY, 100, 1, order_id=7)


def test_string_sides_are_accepted() -> None:
    engine = MatchingEngine()
    engine.submit_limit("buy", 100, 1)  # type: ignore[arg-type]
    assert engine.best_bid() == 100


op = st.one_of(
    st.tuples(
        st.just("limit"),
        st.sampled_from([BUY, SELL]),
        st.integers(90, 110),
        st.integers(1, 20),
        st.sampled_from(list(TimeInForce)),
    ),
    st.tuples(st.just("market"), st.sampled_from([BUY, SELL]), st.integers(1, 40)),
    st.tuples(st.just("cancel"), st.integers(0, 60)),
    st.tuples(st.just("amend"), st.integers(0, 60), st.integers(1, 25), st.integers(90, 110)),
)


def _check_invariants(engine: MatchingEngine, replica: dict[tuple[Side, int], int]) -> None:
    bid, ask = engine.best_bid(), engine.best_ask()
    assert bid is None or ask is None or bid < ask, "book crossed"
    for side in (BUY, SELL):
        book = engine.side(side)
        assert book.prices == sorted(book.levels)
        for price, level in book.levels.items():
            assert level.orders, "empty level kept"
            assert level.total == sum(o.remaining for o in level.orders.values())
            assert all(o.price == price and o.side is side for o in level.orders.values())
            assert replica.get((side, price)) == level.total
    live = {k for k, v in replica.items() if v}
    assert live == {(s, p) for s in (BUY, SELL) for p in engine.side(s).levels}


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=80))
def test_random_flow_keeps_the_book_consistent(ops: list[tuple]) -> None:
    engine = MatchingEngine()
    replica: dict[tuple[Side, int], int] = {}
    for item in ops:
        kind = item[0]
        if kind == "limit":
            report = engine.submit_limit(item[1], item[2], item[3], tif=item[4])
        elif kind == "market":
            report = engine.submit_market(item[1], item[2])
        elif kind == "cancel":
            report = engine.cancel(item[1])
        else:
            report = engine.amend(item[1], new_size=item[2], new_price=item[3])
        if report is None:
            continue
        order = report.order
        if kind in ("limit", "market"):
            assert order.filled == sum(f.size for f in report.fills)
        assert 0 <= order.filled <= order.size
        for f in report.fills:
            assert f.size > 0
            if order.price:
                assert f.price <= order.price if order.side is BUY else f.price >= order.price
        for ch in report.changes:
            replica[(ch.side, ch.price)] = ch.size
        _check_invariants(engine, replica)


def test_resting_orders_are_out_of_the_cyclic_collectors_view() -> None:
    """The simulator keeps thousands of orders resting under the firehose; they hold only
    numbers, a string and enums (never a cycle), so the collector must not scan them, nor their
    levels, nor the dicts that index them."""
    engine = MatchingEngine()
    for i in range(20):
        engine.submit_limit(BUY, 100 - i % 4, 1 + i, owner="mm")
    engine.submit_limit(SELL, 99, 3)  # partly fills: mutated orders stay untracked
    orders = engine.open_orders()
    assert orders and any(order.filled for order in orders)
    assert not any(gc.is_tracked(order) for order in orders)
    assert not gc.is_tracked(engine.orders)
    levels = list(engine.side(BUY).levels.values())
    assert not any(gc.is_tracked(level) or gc.is_tracked(level.orders) for level in levels)
