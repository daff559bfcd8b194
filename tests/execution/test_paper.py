"""The paper venue: fills walk a real local order book; fees, balances and latency are exact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.core.clock import TestClock
from desk.core.enums import Side
from desk.core.events import Trade
from desk.core.orders import Liquidity, OrderRequest, OrderStatus, OrderType
from desk.execution.paper import PaperConfig, PaperVenue
from desk.execution.venue import (
    CancelRejected,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueError,
    VenueReport,
)
from desk.market.book import OrderBook
from desk.market.instruments import Instrument
from tests.waiting import wait_until

D = Decimal
SYMBOL = "BTC-USDT"

BIDS = [("49990.0", "1.0"), ("49980.0", "2.0")]
ASKS = [("50010.0", "0.5"), ("50020.0", "1.0"), ("50030.0", "2.0")]


class Paper:
    """A connected PaperVenue over one real book, collecting its reports."""

    def __init__(self, config: PaperConfig | None = None) -> None:
        self.book = OrderBook(SYMBOL)
        self.book.apply_snapshot(BIDS, ASKS, seq_id=1)
        instrument = Instrument(
            venue="okx",
            symbol=SYMBOL,
            base="BTC",
            quote="USDT",
            tick_size="0.1",
            lot_size="0.0001",
            min_size="0.001",
        )
        self.clock = TestClock(1_700_000_000_000_000_000)
        self.venue = PaperVenue(
            book={SYMBOL: self.book}.get,
            instruments={SYMBOL: instrument},
            clock=self.clock,
            config=config
            or PaperConfig(
                maker_fee_bps=D(2),
                taker_fee_bps=D(5),
                initial_balances={"USDT": D(100_000)},
            ),
        )
        self.reports: list[VenueReport] = []
        self.venue.set_report_handler(self.reports.append)
        self._n = 0

    async def submit(
        self,
        side: Side,
        order_type: OrderType,
        size: str,
        price: str | None = None,
        cid: str = "",
    ) -> str:
        self._n += 1
        cid = cid or f"c{self._n}"
        request = OrderRequest(
            symbol=SYMBOL,
            side=side,
            order_type=order_type,
            size=D(size),
            price=None if price is None else D(price),
            client_order_id=cid,
            venue="paper",
        )
        await self.venue.submit(request)
        return cid

    async def settle(self, count: int) -> list[VenueReport]:
        """Wait for ``count`` reports in all, and return (and forget) them."""
        await wait_until(lambda: len(self.reports) >= count, what=f"{count} reports")
        out, self.reports[:] = list(self.reports), []
        return out

    def trade(self, price: float, size: float, side: Side = Side.SELL) -> None:
        self.venue.on_trade(
            Trade(
                ts_exchange=0,
                ts_recv=0,
                venue="okx",
                symbol=SYMBOL,
                trade_id="t",
                price=price,
                size=size,
                side=side,
            )
        )


@pytest.fixture
async def paper() -> Paper:
    p = Paper()
    await p.venue.connect()
    return p


def fills(reports: list[VenueReport]) -> list[tuple[Decimal, Decimal, Decimal, Liquidity]]:
    return [(r.price, r.size, r.fee, r.liquidity) for r in reports if isinstance(r, FillReport)]


def kinds(reports: list[VenueReport]) -> list[str]:
    return [type(r).__name__ for r in reports]


# -- taking liquidity ------------------------------------------------------------------------------


async def test_market_buy_walks_the_asks_level_by_level(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.MARKET, "1.2")
    reports = await paper.settle(3)
    assert kinds(reports) == ["OrderAccepted", "FillReport", "FillReport"]
    # taker 5 bps: 50010 x 0.5 x 0.0005 = 12.5025; 50020 x 0.7 x 0.0005 = 17.507
    assert fills(reports) == [
        (D("50010.0"), D("0.5"), D("12.5025"), Liquidity.TAKER),
        (D("50020.0"), D("0.7"), D("17.507"), Liquidity.TAKER),
    ]
    fill = reports[1]
    assert isinstance(fill, FillReport) and fill.fee_ccy == "USDT"
    assert await paper.venue.balances() == {
        "BTC": D("1.2"),
        "USDT": D(100_000) - D("25005.0") - D("35014.0") - D("12.5025") - D("17.507"),
    }
    assert await paper.venue.open_orders() == []


async def test_market_sell_beyond_the_book_cancels_the_rest(paper: Paper) -> None:
    await paper.submit(Side.SELL, OrderType.MARKET, "4")
    reports = await paper.settle(4)
    assert [(p, s) for p, s, _, _ in fills(reports)] == [
        (D("49990.0"), D("1.0")),
        (D("49980.0"), D("2.0")),
    ]
    canceled = reports[-1]
    assert isinstance(canceled, OrderCanceled)
    assert canceled.reason == "book exhausted: 1.0 unfilled"
    assert (await paper.venue.balances())["BTC"] == D(-3)


async def test_ioc_fills_within_its_limit_and_cancels_the_remainder(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.IOC, "2", "50020.0")
    reports = await paper.settle(4)
    assert [(p, s) for p, s, _, _ in fills(reports)] == [
        (D("50010.0"), D("0.5")),
        (D("50020.0"), D("1.0")),
    ]
    assert isinstance(reports[-1], OrderCanceled)
    assert reports[-1].reason == "ioc remainder: 0.5 unfilled"
    assert await paper.venue.open_orders() == []


async def test_fok_fills_nothing_when_the_book_cannot_fill_it_all(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.FOK, "2", "50020.0")
    reports = await paper.settle(2)
    assert kinds(reports) == ["OrderAccepted", "OrderCanceled"]
    assert reports[1].reason == "fok: only 1.5 available at or better than 50020.0"  # type: ignore[union-attr]
    assert await paper.venue.balances() == {"USDT": D(100_000)}


async def test_fok_fills_everything_when_it_can(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.FOK, "1.5", "50020.0")
    reports = await paper.settle(3)
    assert kinds(reports) == ["OrderAccepted", "FillReport", "FillReport"]
    assert sum(s for _, s, _, _ in fills(reports)) == D("1.5")


async def test_marketable_limit_takes_then_rests(paper: Paper) -> None:
    cid = await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "50010.0")
    reports = await paper.settle(2)
    assert fills(reports) == [(D("50010.0"), D("0.5"), D("12.5025"), Liquidity.TAKER)]
    (resting,) = await paper.venue.open_orders()
    assert (resting.client_order_id, resting.filled, resting.status) == (
        cid,
        D("0.5"),
        OrderStatus.PARTIALLY_FILLED,
    )


# -- post-only -------------------------------------------------------------------------------------


async def test_post_only_that_would_cross_is_canceled(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.POST_ONLY, "0.1", "50010.0")
    await paper.submit(Side.SELL, OrderType.POST_ONLY, "0.1", "49995.0")
    await paper.submit(Side.SELL, OrderType.POST_ONLY, "0.1", "49990.0")
    reports = await paper.settle(5)
    reasons = [r.reason for r in reports if isinstance(r, OrderCanceled)]
    assert reasons == [
        "post-only would cross: buy 50010.0 >= best ask 50010.0",
        "post-only would cross: sell 49990.0 <= best bid 49990.0",
    ]
    assert not fills(reports)
    (resting,) = await paper.venue.open_orders()
    assert (resting.price, resting.status) == (D("49995.0"), OrderStatus.LIVE)


# -- resting orders and trades ---------------------------------------------------------------------


async def test_resting_buy_fills_when_the_market_trades_through_it(paper: Paper) -> None:
    cid = await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "50000.0")
    await paper.settle(1)
    paper.trade(50000.1, 5.0)  # above the bid: nothing
    paper.trade(50000.0, 0.3)  # at the bid: fills up to the traded size, at our price
    reports = await paper.settle(1)
    # maker 2 bps: 50000 x 0.3 x 0.0002 = 3
    assert fills(reports) == [(D("50000.0"), D("0.3"), D("3.00000"), Liquidity.MAKER)]
    paper.trade(49995.0, 5.0)  # through it: the rest fills, still at our limit price
    reports = await paper.settle(1)
    assert fills(reports) == [(D("50000.0"), D("0.7"), D("7.00000"), Liquidity.MAKER)]
    assert reports[0].client_order_id == cid  # type: ignore[union-attr]
    assert await paper.venue.open_orders() == []
    assert await paper.venue.balances() == {"BTC": D("1.0"), "USDT": D(100_000 - 50_000 - 10)}


async def test_one_trade_is_shared_in_price_time_priority(paper: Paper) -> None:
    first = await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "49900.0")
    second = await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "49900.0")
    better = await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "49950.0")
    sell = await paper.submit(Side.SELL, OrderType.LIMIT, "1.0", "50100.0")
    await paper.settle(4)
    paper.trade(49900.0, 1.5)
    reports = await paper.settle(2)
    assert [(r.client_order_id, r.size) for r in reports if isinstance(r, FillReport)] == [
        (better, D("1.0")),
        (first, D("0.5")),
    ]
    paper.trade(50100.0, 0.2, Side.BUY)  # a print at the resting sell's price fills it
    reports = await paper.settle(1)
    assert [(r.client_order_id, r.size) for r in reports if isinstance(r, FillReport)] == [
        (sell, D("0.2"))
    ]
    open_ids = {o.client_order_id for o in await paper.venue.open_orders()}
    assert open_ids == {first, second, sell}


async def test_maker_rebate_is_a_negative_fee() -> None:
    paper = Paper(PaperConfig(maker_fee_bps=D("-1"), taker_fee_bps=D(5)))
    await paper.venue.connect()
    await paper.submit(Side.SELL, OrderType.POST_ONLY, "0.5", "50100.0")
    paper.trade(50100.0, 1.0, Side.BUY)
    reports = await paper.settle(2)
    assert fills(reports) == [(D("50100.0"), D("0.5"), D("-2.505"), Liquidity.MAKER)]
    # 50100 x 0.5 x -0.0001 = -2.505: the rebate is paid in on top of the proceeds
    assert (await paper.venue.balances())["USDT"] == D("25052.505")


async def test_trade_ids_are_unique(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.MARKET, "3.5")
    await paper.submit(Side.SELL, OrderType.MARKET, "3")
    reports = await paper.settle((1 + 3) + (1 + 2))
    ids = [r.trade_id for r in reports if isinstance(r, FillReport)]
    assert len(ids) == 5 and len(set(ids)) == 5


# -- cancel, refusals, latency ---------------------------------------------------------------------


async def test_cancel_a_resting_order_then_cancel_again(paper: Paper) -> None:
    cid = await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "49000.0")
    await paper.venue.cancel(cid, SYMBOL)
    await paper.venue.cancel(cid, SYMBOL)
    reports = await paper.settle(3)
    assert kinds(reports) == ["OrderAccepted", "OrderCanceled", "CancelRejected"]
    assert reports[1].reason == "canceled by request"  # type: ignore[union-attr]
    assert isinstance(reports[2], CancelRejected)
    assert await paper.venue.open_orders() == []
    paper.trade(48000.0, 10.0)  # a canceled order never fills
    assert await paper.venue.balances() == {"USDT": D(100_000)}


async def test_refusals(paper: Paper) -> None:
    await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "49000.0", cid="dup")
    await paper.submit(Side.BUY, OrderType.LIMIT, "1.0", "49000.0", cid="dup")
    await paper.venue.submit(
        OrderRequest(
            symbol="ETH-USDT",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            size=D(1),
            client_order_id="eth",
        )
    )
    reports = await paper.settle(3)
    assert kinds(reports) == ["OrderAccepted", "OrderRejected", "OrderRejected"]
    assert [r.reason for r in reports if isinstance(r, OrderRejected)] == [
        "duplicate client_order_id dup",
        "unknown instrument ETH-USDT",
    ]


async def test_not_connected_is_a_venue_error() -> None:
    paper = Paper()
    with pytest.raises(VenueError, match="paper venue is not connected"):
        await paper.submit(Side.BUY, OrderType.MARKET, "1")


async def test_reports_arrive_after_the_latency_in_order() -> None:
    paper = Paper(PaperConfig(latency_ms=20))
    await paper.venue.connect()
    first = await paper.submit(Side.BUY, OrderType.MARKET, "0.1")
    second = await paper.submit(Side.SELL, OrderType.LIMIT, "0.1", "51000.0")
    assert paper.reports == []  # nothing is delivered synchronously
    reports = await paper.settle(3)
    assert [(type(r).__name__, r.client_order_id) for r in reports] == [
        ("OrderAccepted", first),
        ("FillReport", first),
        ("OrderAccepted", second),
    ]
    assert isinstance(reports[0], OrderAccepted)
    assert reports[0].ts == paper.clock.now_ns()


async def test_close_drops_undelivered_reports() -> None:
    paper = Paper(PaperConfig(latency_ms=10_000))
    await paper.venue.connect()
    await paper.submit(Side.BUY, OrderType.MARKET, "0.1")
    await paper.venue.close()
    assert paper.reports == []


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="@taker_fee_bps"):
        PaperConfig(taker_fee_bps=D(-1))
    with pytest.raises(ValueError, match="@latency_ms"):
        PaperConfig(latency_ms=-1)
