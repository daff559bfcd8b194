"""Bounded order history: done orders leave the OMS's memory (SQLite keeps them), a late or
duplicate report for one is recognised rather than blocking trading, and memory stays flat
while orders keep coming. A fake venue and a real SQLite file, as in test_oms.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from desk.core.clock import NS_PER_S
from desk.execution.config import OrderHistoryConfig
from desk.execution.order_history import DoneOrders
from tests.execution.test_oms import SYM, Desk, accepted, canceled, fill, req

D = Decimal
S_MIN = 60 * NS_PER_S


async def _filled_order(d: Desk, n: int, size: str = "1") -> str:
    cid = d.oms.submit(req(size=size)).client_order_id
    await d.sent(n)
    d.venue.report(accepted(cid, f"v-{cid}"))
    d.venue.report(fill(cid, f"t-{cid}", size, "100"))
    return cid


async def test_done_orders_past_the_cap_are_pruned_and_sqlite_keeps_them(tmp_path: Path) -> None:
    history = OrderHistoryConfig(max_done_orders=3, remember_pruned=100)
    d = await Desk(tmp_path / "desk.sqlite", history=history).start()
    try:
        done = [await _filled_order(d, n) for n in range(1, 7)]
        live = d.oms.submit(req()).client_order_id  # the 7th order: pruning runs before it
        await d.sent(7)
        known = {o.client_order_id for o in d.oms.orders(limit=100)}
        assert known == {*done[-3:], live}  # the three latest done ones, and the open one
        assert d.oms.order(done[0]) is None and d.oms.order(live) is not None
        assert d.portfolio.position("b1", SYM) == D(6)  # the money stays
        await d.store.flush()
        assert d.rows("SELECT COUNT(*) FROM orders WHERE status = 'filled'") == [(6,)]
    finally:
        await d.stop()


async def test_a_late_or_duplicate_fill_for_a_pruned_order_is_known_and_blocks_nothing(
    tmp_path: Path,
) -> None:
    history = OrderHistoryConfig(max_done_orders=1, remember_pruned=100)
    d = await Desk(tmp_path / "desk.sqlite", history=history).start()
    try:
        first = await _filled_order(d, 1)
        await _filled_order(d, 2)
        await _filled_order(d, 3)  # its submit pruned the first
        assert d.oms.order(first) is None
        d.venue.report(fill(first, f"t-{first}", "1", "100"))  # the venue replays a fill
        d.venue.report(canceled(first))  # and a stale cancel
        assert not d.oms.trading_blocked and d.oms.unknown_reports == 0
        assert d.oms._done.late_reports == 2
        assert d.portfolio.position("b1", SYM) == D(3)  # counted once, when it happened
        d.venue.report(fill("never-sent", "t9", "1", "100"))  # a truly unknown order still blocks
        assert d.oms.trading_blocked and d.oms.unknown_reports == 1
    finally:
        await d.stop()


async def test_a_pruned_orders_id_is_not_sent_again(tmp_path: Path) -> None:
    history = OrderHistoryConfig(max_done_orders=1)
    d = await Desk(tmp_path / "desk.sqlite", history=history).start()
    try:
        first = await _filled_order(d, 1)
        await _filled_order(d, 2)
        await _filled_order(d, 3)
        again = d.oms.submit(req(client_order_id=first))
        assert again.status.terminal and "already used" in again.reason
        assert len(d.venue.sent) == 3
        await d.store.flush()  # the stored order keeps its own state
        status = f"SELECT status FROM orders WHERE client_order_id = '{first}'"
        assert d.rows(status) == [("filled",)]
    finally:
        await d.stop()


async def test_done_orders_older_than_keep_minutes_go_and_open_ones_stay(tmp_path: Path) -> None:
    history = OrderHistoryConfig(keep_minutes=5, max_done_orders=1000)
    d = await Desk(tmp_path / "desk.sqlite", history=history).start()
    try:
        old = await _filled_order(d, 1)
        waiting = d.oms.submit(req()).client_order_id  # open for the whole test
        await d.sent(2)
        d.clock.advance_ns(4 * S_MIN)
        recent = await _filled_order(d, 3)
        d.clock.advance_ns(2 * S_MIN)  # old ended 6 min ago, recent 2 min ago
        await _filled_order(d, 4)
        assert d.oms.order(old) is None
        assert d.oms.order(recent) is not None and d.oms.order(waiting) is not None
    finally:
        await d.stop()


async def test_memory_stays_bounded_while_orders_keep_coming(tmp_path: Path) -> None:
    history = OrderHistoryConfig(max_done_orders=20, remember_pruned=50)
    d = await Desk(tmp_path / "desk.sqlite", history=history).start()
    try:
        for n in range(1, 301):
            await _filled_order(d, n, size="0.01")
        oms = d.oms
        assert len(oms._orders) <= 21 and len(oms._seen_fills) <= 21
        assert len(d.portfolio._seen) <= 21
        assert oms._done.remembered <= 50 and oms._done.pruned >= 279
        assert d.portfolio.position("b1", SYM) == D(3)
    finally:
        await d.stop()


async def test_a_restart_keeps_only_recent_orders_and_knows_the_older_ones(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    first = await Desk(path).start()
    ids = [await _filled_order(first, n) for n in range(1, 5)]
    await first.stop()

    history = OrderHistoryConfig(max_done_orders=2)
    second = await Desk(path, history=history).start()
    try:
        assert [second.oms.order(cid) is not None for cid in ids] == [False, False, True, True]
        assert second.portfolio.position("b1", SYM) == D(4)  # every stored fill counts
        second.venue.report(fill(ids[0], f"t-{ids[0]}", "1", "100"))
        assert second.oms.unknown_reports == 0 and second.portfolio.position("b1", SYM) == D(4)
    finally:
        await second.stop()


def test_done_orders_prune_the_oldest_first_and_forget_the_oldest_ids() -> None:
    done = DoneOrders(OrderHistoryConfig(keep_minutes=1, max_done_orders=2, remember_pruned=3))
    for n, cid in enumerate("abcd"):
        done.ended(cid, n)
    assert done.due(10) == ["a", "b"]  # over the cap; none is older than a minute
    assert done.due(S_MIN + 2) == ["a", "b", "c"]  # c ended at 2 ns: past the minute
    done.forget("a", "va")
    done.forget("b")
    assert done.was_pruned("a") and done.was_pruned("", "va") and done.was_pruned("b")
    done.forget("c")  # four ids now: the oldest memory ("a") goes
    assert not done.was_pruned("a") and done.was_pruned("", "va") and done.remembered == 3


async def test_the_health_mode_shows_how_full_each_history_is_and_what_it_pruned(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from desk.engine.health import bounded_histories

    history = OrderHistoryConfig(max_done_orders=2, remember_pruned=10)
    d = await Desk(tmp_path / "desk.sqlite", history=history).start()
    try:
        first = await _filled_order(d, 1)
        for n in range(2, 5):
            await _filled_order(d, n)
        d.venue.report(fill(first, f"t-{first}", "1", "100"))
        rows = {q.name: q for q in bounded_histories(SimpleNamespace(oms=d.oms))}
        done, ids = rows["orders done"], rows["pruned ids"]
        # Over the cap until the next order comes (pruning runs before an order joins); 1 pruned
        assert (done.depth, done.maxsize, done.over_bound) == (3, 2, 1)
        assert (ids.depth, ids.maxsize, ids.over_bound) == (2, 10, 1)  # its 2 ids; 1 late fill
        assert bounded_histories(None) == []
    finally:
        await d.stop()
