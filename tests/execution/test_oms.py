"""The OMS against a fake venue and a real SQLite file: every transition, out-of-order and
duplicate reports, exactly-once fills, idempotent resubmission across a crash, risk denials,
venue errors, cancels and reconciliation."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.enums import Side
from desk.core.orders import (
    MANUAL_ACCOUNT,
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from desk.execution.oms import OrderManager
from desk.execution.portfolio import Portfolio
from desk.execution.venue import (
    CancelRejected,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueError,
    VenueOrder,
    VenueReport,
)
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.waiting import wait_until

D = Decimal
SYM = "BTC-USDT"
S = OrderStatus


class FakeVenue:
    """Records what it is asked; reports are pushed by the test."""

    name = "okx"

    def __init__(self) -> None:
        self.handler: Callable[[VenueReport], None] | None = None
        self.sent: list[OrderRequest] = []
        self.cancels: list[str] = []
        self.submit_error: BaseException | None = None
        self.cancel_error: BaseException | None = None
        self.listed: list[VenueOrder] = []
        self.balance: dict[str, Decimal] = {}
        self.connected = False

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self.handler = handler

    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def submit(self, request: OrderRequest) -> None:
        self.sent.append(request)
        if self.submit_error is not None:
            raise self.submit_error

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        self.cancels.append(client_order_id)
        if self.cancel_error is not None:
            raise self.cancel_error

    async def open_orders(self) -> list[VenueOrder]:
        return list(self.listed)

    async def balances(self) -> dict[str, Decimal]:
        return dict(self.balance)

    def report(self, report: VenueReport) -> None:
        assert self.handler is not None
        self.handler(report)


class Desk:
    """An OMS wired to a bus, a real store, a fake venue and a portfolio."""

    def __init__(self, path: Path, venue: FakeVenue | None = None, **kw: Any) -> None:
        self.path = path
        self.clock = TestClock(1_000)
        self.bus = Bus()
        self.events: list[Any] = []
        self.bus.subscribe("trade_updates:*", self.events.append)
        self.store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=3600))
        self.venue = venue or FakeVenue()
        self.portfolio = Portfolio(self.clock)
        self.oms = OrderManager(
            self.bus, self.store, self.venue, self.clock, portfolio=self.portfolio, **kw
        )

    async def start(self) -> Desk:
        await self.store.open()
        await self.oms.start()
        return self

    async def stop(self) -> None:
        await self.oms.stop()
        await self.store.close()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql).fetchall()

    async def sent(self, n: int) -> None:
        await wait_until(lambda: len(self.venue.sent) >= n, what=f"{n} sends")

    def orders_published(self, cid: str) -> list[Order]:
        return [e for e in self.events if isinstance(e, Order) and e.client_order_id == cid]


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    d = await Desk(tmp_path / "desk.sqlite").start()
    yield d
    await d.stop()


def req(size: str = "2", price: str | None = "100", **kw: Any) -> OrderRequest:
    base: dict[str, Any] = {
        "symbol": SYM,
        "side": Side.BUY,
        "order_type": OrderType.LIMIT if price else OrderType.MARKET,
        "size": D(size),
        "price": None if price is None else D(price),
        "bot_id": "b1",
    }
    return OrderRequest(**{**base, **kw})


def fill(cid: str, trade_id: str, size: str, price: str, fee: str = "0") -> FillReport:
    return FillReport(
        client_order_id=cid,
        venue_order_id="",
        trade_id=trade_id,
        price=D(price),
        size=D(size),
        fee=D(fee),
        fee_ccy="USDT",
        liquidity=Liquidity.TAKER,
        ts=5,
    )


def accepted(cid: str, vid: str = "v1") -> OrderAccepted:
    return OrderAccepted(client_order_id=cid, venue_order_id=vid, ts=3)


def canceled(cid: str, expired: bool = False) -> OrderCanceled:
    return OrderCanceled(client_order_id=cid, venue_order_id="", reason="by user", ts=9,
                         expired=expired)  # fmt: skip


def statuses(d: Desk, cid: str) -> list[str]:
    sql = f"SELECT status FROM order_events WHERE client_order_id = '{cid}' ORDER BY id"
    return [row[0] for row in d.rows(sql)]


async def test_lifecycle_live_partial_filled_recorded_and_published(desk: Desk) -> None:
    order = desk.oms.submit(req())
    cid = order.client_order_id
    assert order.status is S.PENDING_NEW and len(cid) <= 32 and cid.isalnum()
    await desk.sent(1)
    assert desk.venue.sent[0].client_order_id == cid
    desk.venue.report(accepted(cid))
    desk.venue.report(fill(cid, "t1", "0.5", "100", fee="0.05"))
    assert desk.oms.order(cid).status is S.PARTIALLY_FILLED
    desk.venue.report(fill(cid, "t2", "1.5", "99", fee="0.15"))
    final = desk.oms.order(cid)
    assert final.status is S.FILLED and final.filled == D(2)
    assert final.avg_price == D("99.25") and final.fee == D("0.20") and final.fee_ccy == "USDT"
    assert final.venue_order_id == "v1"
    assert [o.status for o in desk.orders_published(cid)] == [
        S.PENDING_NEW, S.LIVE, S.PARTIALLY_FILLED, S.FILLED,
    ]  # fmt: skip
    assert [f.trade_id for f in desk.events if isinstance(f, Fill)] == ["t1", "t2"]
    assert desk.portfolio.position("b1", SYM) == D(2)
    assert [f.trade_id for f in desk.oms.fills()] == ["t2", "t1"]
    assert desk.oms.open_orders() == []
    await desk.store.flush()
    assert statuses(desk, cid) == ["pending_new", "live", "partially_filled", "filled"]
    assert desk.rows("SELECT status, filled, avg_price FROM orders") == [("filled", "2.0", "99.25")]
    assert desk.rows("SELECT COUNT(*) FROM fills") == [(2,)]


async def test_out_of_order_and_duplicate_reports(desk: Desk) -> None:
    cid = desk.oms.submit(req()).client_order_id
    await desk.sent(1)
    desk.venue.report(fill(cid, "t1", "1", "100"))  # the fill beats the acceptance
    assert desk.oms.order(cid).status is S.PARTIALLY_FILLED
    desk.venue.report(accepted(cid, "v7"))  # late LIVE must not move it back
    order = desk.oms.order(cid)
    assert order.status is S.PARTIALLY_FILLED and order.venue_order_id == "v7"
    desk.venue.report(fill(cid, "t1", "1", "100"))  # duplicate
    assert desk.oms.order(cid).filled == D(1) and desk.oms.duplicate_fills == 1
    # A fill found by venue order id alone.
    desk.venue.report(msgspec.structs.replace(fill("", "t2", "1", "102"), venue_order_id="v7"))
    assert desk.oms.order(cid).status is S.FILLED
    desk.venue.report(canceled(cid))  # a cancel that crossed the fill
    desk.venue.report(accepted(cid, "v7"))
    assert desk.oms.order(cid).status is S.FILLED
    assert desk.portfolio.position("b1", SYM) == D(2)
    assert desk.oms.order(cid).avg_price == D(101)


async def test_a_fill_after_a_cancel_still_counts_but_the_status_stays(desk: Desk) -> None:
    cid = desk.oms.submit(req()).client_order_id
    await desk.sent(1)
    desk.venue.report(accepted(cid))
    desk.venue.report(canceled(cid))
    desk.venue.report(fill(cid, "t1", "0.5", "100"))
    order = desk.oms.order(cid)
    assert order.status is S.CANCELED and order.filled == D("0.5")
    assert desk.portfolio.position("b1", SYM) == D("0.5")


async def test_expiry_and_venue_rejection(desk: Desk) -> None:
    a = desk.oms.submit(req()).client_order_id
    b = desk.oms.submit(req()).client_order_id
    await desk.sent(2)
    desk.venue.report(accepted(a))
    desk.venue.report(canceled(a, expired=True))
    desk.venue.report(OrderRejected(client_order_id=b, reason="51008: insufficient balance", ts=4))
    assert desk.oms.order(a).status is S.EXPIRED
    assert desk.oms.order(b).status is S.REJECTED
    assert desk.oms.order(b).reason == "venue: 51008: insufficient balance"
    desk.venue.report(accepted(b))  # terminal: never changes again
    assert desk.oms.order(b).status is S.REJECTED


async def test_duplicate_fill_is_applied_once_also_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    first = await Desk(path).start()
    cid = first.oms.submit(req()).client_order_id
    await first.sent(1)
    first.venue.report(accepted(cid))
    first.venue.report(fill(cid, "t1", "1", "100"))
    await first.stop()

    second = await Desk(path).start()
    assert second.portfolio.position("b1", SYM) == D(1)  # restored from stored fills
    assert second.oms.order(cid).status is S.PARTIALLY_FILLED
    second.venue.report(fill(cid, "t1", "1", "100"))  # the venue replays it
    assert second.oms.order(cid).filled == D(1)
    assert second.portfolio.position("b1", SYM) == D(1)
    second.venue.report(fill(cid, "t2", "1", "101"))
    assert second.oms.order(cid).status is S.FILLED
    assert second.oms.order(cid).avg_price == D("100.5")
    await second.stop()
    assert second.rows("SELECT COUNT(*) FROM fills") == [(2,)]


async def test_same_client_order_id_twice_is_sent_once(desk: Desk) -> None:
    request = req(client_order_id="bot1sig42")
    first = desk.oms.submit(request)
    again = desk.oms.submit(request)
    assert again.client_order_id == first.client_order_id == "bot1sig42"
    await desk.sent(1)
    desk.venue.report(accepted("bot1sig42"))
    desk.venue.report(fill("bot1sig42", "t1", "2", "100"))
    assert desk.oms.submit(request).status is S.FILLED
    await desk.oms.stop()  # every send finished
    assert len(desk.venue.sent) == 1


async def test_resubmission_after_a_crash_sends_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    crashed = await Desk(path).start()
    crashed.oms.submit(req(client_order_id="pending1"))
    crashed.oms.submit(req(client_order_id="filled1"))
    await crashed.sent(2)
    crashed.venue.report(fill("filled1", "t1", "2", "100"))
    await crashed.store.flush()  # a fill, like every row, is committed within a flush interval
    # crash: nothing stopped, nothing closed; a new process opens the same file
    venue = FakeVenue()
    venue.listed = [_listed("pending1")]
    restarted = await Desk(path, venue).start()
    assert restarted.oms.submit(req(client_order_id="pending1")).status is S.PENDING_NEW
    assert restarted.oms.submit(req(client_order_id="filled1")).status is S.FILLED
    await restarted.oms.stop()
    assert venue.sent == []
    assert [o.client_order_id for o in restarted.oms.unresolved()] == ["pending1"]
    await restarted.store.close()
    await crashed.store.close()


def _listed(cid: str, *, size: str = "2", filled: str = "0", status: S = S.LIVE) -> VenueOrder:
    return VenueOrder(
        client_order_id=cid,
        venue_order_id=f"v-{cid}",
        symbol=SYM,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=D(100),
        size=D(size),
        filled=D(filled),
        status=status,
    )


async def test_the_order_is_journalled_before_the_venue_hears_of_it(
    desk: Desk, tmp_path: Path
) -> None:
    """At the moment the venue is called, a crash (the files copied as they are on disk: no
    flush, no close) restarts with the order known, though SQLite has not committed it."""
    crash = tmp_path / "crash"
    crash.mkdir()
    original = desk.venue.submit

    async def submit(request: OrderRequest) -> None:
        for path in tmp_path.glob("desk.sqlite*"):
            shutil.copy(path, crash / path.name)
        await original(request)

    desk.venue.submit = submit  # type: ignore[method-assign]
    cid = desk.oms.submit(req()).client_order_id
    await desk.sent(1)
    assert desk.rows("SELECT client_order_id FROM orders") == []  # the batch is still queued
    restarted = await Desk(crash / "desk.sqlite").start()
    assert restarted.store.journal_replayed == 1
    recovered = restarted.oms.order(cid)
    assert recovered is not None and recovered.status is S.PENDING_NEW
    assert [o.client_order_id for o in restarted.oms.unresolved()] == [cid]
    await restarted.stop()


async def test_without_the_journal_the_order_is_committed_before_the_venue_hears_of_it(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path / "desk.sqlite")
    desk.store = SqliteStore(
        StorageConfig(sqlite_path=str(desk.path), flush_interval=3600, order_journal=False)
    )
    desk.oms.store = desk.store
    await desk.start()
    seen: list[list[tuple[Any, ...]]] = []
    original = desk.venue.submit

    async def submit(request: OrderRequest) -> None:
        seen.append(desk.rows("SELECT client_order_id, status FROM orders"))
        await original(request)

    desk.venue.submit = submit  # type: ignore[method-assign]
    cid = desk.oms.submit(req()).client_order_id
    await desk.sent(1)
    assert seen == [[(cid, "pending_new")]]
    await desk.stop()


async def test_risk_denial_is_recorded_with_its_reason_and_never_sent(tmp_path: Path) -> None:
    checked: list[OrderRequest] = []

    def check(request: OrderRequest) -> OrderRequest | str:
        checked.append(request)
        if request.size > 5:
            return "max order notional 500 exceeded"
        return OrderRequest(**{**_fields(request), "size": D("1.23")})  # rounded to the lot

    d = await Desk(tmp_path / "desk.sqlite", check=check).start()
    denied = d.oms.submit(req(size="6"))
    assert denied.status is S.REJECTED
    assert denied.reason == "risk: max order notional 500 exceeded"
    assert checked[0].client_order_id == denied.client_order_id  # risk sees the final id
    passed = d.oms.submit(req(size="1.234"))
    await d.sent(1)
    assert d.venue.sent[0].size == D("1.23") and passed.size == D("1.23")
    await d.stop()
    assert [r.client_order_id for r in d.venue.sent] == [passed.client_order_id]
    assert d.rows(f"SELECT status, reason FROM orders WHERE client_order_id = "
                  f"'{denied.client_order_id}'") == [
        ("rejected", "risk: max order notional 500 exceeded")
    ]  # fmt: skip


def _fields(request: OrderRequest) -> dict[str, Any]:
    return {f: getattr(request, f) for f in request.__struct_fields__}


async def test_a_failing_or_tampering_check_rejects_fail_closed(tmp_path: Path) -> None:
    verdicts: list[Callable[[OrderRequest], OrderRequest | str]] = [
        lambda r: 1 / 0,  # type: ignore[return-value,arg-type]
        lambda r: OrderRequest(**{**_fields(r), "side": Side.SELL}),
        lambda r: OrderRequest(**{**_fields(r), "size": D(0)}),
    ]
    d = await Desk(tmp_path / "desk.sqlite", check=lambda r: verdicts.pop(0)(r)).start()
    reasons = [d.oms.submit(req()).reason for _ in range(3)]
    assert reasons[0].startswith("risk: check failed")
    assert reasons[1] == "invalid: risk check changed side"
    assert reasons[2].startswith("invalid: size must be positive")
    await d.stop()
    assert d.venue.sent == []


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (req(size="0"), "invalid: size must be positive"),
        (req(size="-1"), "invalid: size must be positive"),
        (req(price=None, order_type=OrderType.LIMIT), "invalid: limit order needs a price"),
        (req(client_order_id="has-dash"), "invalid: client order id"),
        (req(client_order_id="x" * 33), "invalid: client order id"),
    ],
)
async def test_invalid_requests_are_rejected(
    desk: Desk, request_: OrderRequest, reason: str
) -> None:
    order = desk.oms.submit(request_)
    assert order.status is S.REJECTED and order.reason.startswith(reason)
    await desk.oms.stop()
    assert desk.venue.sent == []


async def test_market_orders_need_no_price(desk: Desk) -> None:
    assert desk.oms.submit(req(price=None)).status is S.PENDING_NEW
    await desk.sent(1)


async def test_venue_error_rejects_the_order(desk: Desk) -> None:
    desk.venue.submit_error = VenueError("401 unauthorized")
    order = desk.oms.submit(req())
    cid = order.client_order_id
    await wait_until(lambda: desk.oms.order(cid).status is S.REJECTED)
    assert desk.oms.order(cid).reason == "venue: 401 unauthorized"


async def test_timeout_leaves_the_order_pending_until_resubmitted(desk: Desk) -> None:
    error = VenueError("no answer in 5 s")
    error.__cause__ = TimeoutError()
    desk.venue.submit_error = error
    cid = desk.oms.submit(req()).client_order_id
    await desk.sent(1)
    await wait_until(lambda: bool(desk.oms.unresolved()), what="marked unknown")
    assert desk.oms.order(cid).status is S.PENDING_NEW
    # The resend reaches a venue that already has it: refused as a duplicate = already there.
    desk.venue.submit_error = VenueError("51016: Duplicated clOrdId")
    assert desk.oms.resubmit_pending() == 1
    await desk.sent(2)
    assert desk.venue.sent[1].client_order_id == cid
    await desk.oms.stop()
    assert desk.oms.order(cid).status is S.PENDING_NEW
    # The same refusal as a report does not reject it either; the order stream resolves it.
    desk.venue.report(OrderRejected(client_order_id=cid, reason="Duplicated clOrdId", ts=6))
    assert desk.oms.order(cid).status is S.PENDING_NEW
    desk.venue.report(accepted(cid))
    assert desk.oms.order(cid).status is S.LIVE and desk.oms.unresolved() == []
    assert desk.oms.resubmit_pending() == 0


async def test_cancel_and_cancel_all(desk: Desk) -> None:
    assert desk.oms.cancel("nope") is False and "unknown" in desk.oms.last_cancel_reason
    a = desk.oms.submit(req()).client_order_id
    b = desk.oms.submit(req(symbol="ETH-USDT")).client_order_id
    c = desk.oms.submit(req(bot_id="b2")).client_order_id
    m = desk.oms.submit(req(bot_id=MANUAL_ACCOUNT)).client_order_id
    await desk.sent(4)
    for cid in (a, b, c, m):
        desk.venue.report(accepted(cid, f"v{cid}"))
    assert desk.oms.cancel(a) is True
    assert desk.oms.cancel(a) is True  # already asked: not sent twice
    assert desk.oms.cancel_all(bot_id="b1") == 2  # a (already in flight, not resent) and b
    assert desk.oms.cancel_all(symbol=SYM) == 3  # a, c and m
    await wait_until(lambda: len(desk.venue.cancels) == 4)
    assert sorted(desk.venue.cancels) == sorted([a, b, c, m])
    desk.venue.report(canceled(a))
    assert desk.oms.order(a).status is S.CANCELED and desk.oms.order(a).reason == "by user"
    assert desk.oms.cancel(a) is False and "canceled" in desk.oms.last_cancel_reason
    desk.venue.report(CancelRejected(client_order_id=b, reason="51400: already filled", ts=8))
    assert desk.oms.order(b).status is S.LIVE
    assert desk.oms.cancel(b) is True  # a refused cancel may be asked again
    await wait_until(lambda: len(desk.venue.cancels) == 5)
    await desk.store.flush()
    assert "cancel rejected: 51400: already filled" in [
        r[0] for r in desk.rows(f"SELECT reason FROM order_events WHERE client_order_id='{b}'")
    ]


async def test_open_order_views_for_risk(desk: Desk) -> None:
    a = desk.oms.submit(req(size="3")).client_order_id
    desk.oms.submit(req(size="1", side=Side.SELL, price="120"))
    desk.oms.submit(req(size="2", bot_id="b2"))
    await desk.sent(3)
    desk.venue.report(fill(a, "t1", "1", "100"))
    assert desk.oms.open_size("b1", SYM, Side.BUY) == D(2)
    assert desk.oms.open_size("b1", SYM, Side.SELL) == D(1)
    assert desk.oms.symbol_open_size(SYM, Side.BUY) == D(4)
    assert [o.bot_id for o in desk.oms.open_orders(bot_id="b2")] == ["b2"]
    assert len(desk.oms.orders()) == 3


async def test_reconciliation_finds_differences_blocks_bots_until_accepted(
    tmp_path: Path,
) -> None:
    d = await Desk(tmp_path / "desk.sqlite").start()
    assert not d.oms.trading_blocked  # nothing anywhere: clean at start
    gone = d.oms.submit(req()).client_order_id
    short = d.oms.submit(req()).client_order_id
    fine = d.oms.submit(req()).client_order_id
    await d.sent(3)
    for cid in (gone, short, fine):
        d.venue.report(accepted(cid, f"v-{cid}"))
    d.venue.listed = [_listed(short, filled="1"), _listed(fine), _listed("stranger")]
    rec = await d.oms.reconcile()
    assert not rec.clean and d.oms.trading_blocked
    assert [o.client_order_id for o in rec.missing_at_venue] == [gone]
    assert [o.client_order_id for o in rec.unknown_locally] == ["stranger"]
    assert [(x.client_order_id, x.field, x.local, x.venue) for x in rec.differences] == [
        (short, "filled", "0", "1")
    ]
    blocked = d.oms.submit(req())
    assert blocked.status is S.REJECTED and blocked.reason.startswith("blocked:")
    assert d.oms.submit(req(bot_id=MANUAL_ACCOUNT)).status is S.PENDING_NEW  # operator may act
    assert d.oms.accept_reconciliation() == 3
    assert not d.oms.trading_blocked
    assert d.oms.order(gone).status is S.CANCELED
    assert d.oms.order(gone).reason == "reconcile: not open at venue"
    assert d.oms.order(short).filled == D(1) and d.oms.order(short).status is S.LIVE
    adopted = d.oms.order("stranger")
    assert adopted is not None and adopted.bot_id == MANUAL_ACCOUNT and adopted.status is S.LIVE
    await d.sent(4)
    d.venue.listed.append(_listed(d.venue.sent[3].client_order_id))
    assert (await d.oms.reconcile()).clean
    await d.stop()
    assert "reconcile: not open at venue" in [
        r[0] for r in d.rows(f"SELECT reason FROM order_events WHERE client_order_id='{gone}'")
    ]


async def test_restart_blocks_trading_while_a_pending_order_is_unresolved(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    first = await Desk(path).start()
    cid = first.oms.submit(req()).client_order_id
    await first.sent(1)
    await first.stop()
    second = await Desk(path).start()  # the venue lists nothing: did it ever arrive?
    assert second.oms.trading_blocked
    rec = second.oms.last_reconciliation
    assert rec is not None and [o.client_order_id for o in rec.missing_at_venue] == [cid]
    assert second.oms.resubmit_pending() == 1
    await second.sent(1)
    second.venue.report(accepted(cid))
    second.venue.listed = [_listed(cid)]
    assert (await second.oms.reconcile()).clean and not second.oms.trading_blocked
    await second.stop()


async def test_balance_drift_and_unknown_fills_block_trading(desk: Desk) -> None:
    desk.venue.balance = {"BTC": D(10), "USDT": D(1000)}
    cid = desk.oms.submit(req(size="2")).client_order_id
    await desk.sent(1)
    desk.venue.report(accepted(cid, f"v-{cid}"))
    desk.venue.report(fill(cid, "t1", "2", "100"))
    desk.venue.balance = {"BTC": D(12), "USDT": D(800)}
    assert (await desk.oms.reconcile()).clean  # baseline: 12 held, 2 from desk's fills
    sell = desk.oms.submit(req(size="1", side=Side.SELL, price="110")).client_order_id
    await desk.sent(2)
    desk.venue.report(accepted(sell, f"v-{sell}"))
    desk.venue.listed = [msgspec.structs.replace(_listed(sell, size="1"), side=Side.SELL)]
    desk.venue.balance = {"BTC": D(11)}  # 1 locked in the open sell
    assert (await desk.oms.reconcile()).clean
    desk.venue.balance = {"BTC": D("10.5")}  # half a BTC went somewhere desk does not know
    rec = await desk.oms.reconcile()
    assert rec.balance_drift == {"BTC": D("-0.5")} and desk.oms.trading_blocked
    desk.oms.accept_reconciliation()
    assert not desk.oms.trading_blocked and (await desk.oms.reconcile()).clean
    desk.venue.report(fill("ghost", "t9", "1", "100"))
    assert desk.oms.trading_blocked and desk.oms.unknown_reports == 1


class RememberingVenue(FakeVenue):
    """A venue that can also tell what became of a finished order."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, VenueOrder] = {}

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        return self.history.get(client_order_id)


async def test_a_restart_recovers_what_the_venue_did_while_desk_was_down(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    first = await Desk(path, RememberingVenue()).start()
    filled = first.oms.submit(req(size="2")).client_order_id
    canceled_cid = first.oms.submit(req(size="1")).client_order_id
    never = first.oms.submit(req(size="3")).client_order_id
    await first.sent(3)
    first.venue.report(accepted(filled, "v-a"))
    first.venue.report(fill(filled, "t1", "0.5", "100", fee="0.05"))
    first.venue.report(accepted(canceled_cid, "v-b"))
    await first.store.wait_committed()
    await first.stop()  # the desk dies; meanwhile the venue fills, cancels, and never saw one

    venue = RememberingVenue()
    venue.history[filled] = VenueOrder(
        client_order_id=filled, venue_order_id="v-a", symbol=SYM, side=Side.BUY,
        order_type=OrderType.LIMIT, price=D(100), size=D(2), filled=D(2),
        status=S.FILLED, avg_price=D("99.25"), fee=D("0.2"), fee_ccy="USDT",
    )  # fmt: skip
    venue.history[canceled_cid] = _listed(canceled_cid, size="1", status=S.CANCELED)
    second = await Desk(path, venue).start()
    try:
        rec = second.oms.last_reconciliation
        assert rec is not None and rec.clean and not second.oms.trading_blocked
        assert len(rec.recovered) == 3 and "1.5 filled at 99" in rec.recovered[0]
        order = second.oms.order(filled)
        assert (order.status, order.filled, order.avg_price) == (S.FILLED, D(2), D("99.25"))
        assert order.fee == D("0.2")
        # The missed 1.5 was filled at the price that makes the venue's average exact.
        assert second.portfolio.position("b1", SYM) == D(2)
        assert second.oms.order(canceled_cid).status is S.CANCELED
        gone = second.oms.order(never)
        assert gone.status is S.REJECTED and "never received" in gone.reason
    finally:
        await second.stop()
