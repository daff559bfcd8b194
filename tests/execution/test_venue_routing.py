"""Orders go to the venue they name: paper venues fill against their own venue's book, trades
fill resting orders of their own venue only, and live execution stays OKX's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.enums import Mode, Side
from desk.core.events import Trade
from desk.core.orders import OrderRequest, OrderType
from desk.execution.config import ExecutionConfig
from desk.execution.paper import PaperConfig, PaperVenue
from desk.execution.router import VenueRouter
from desk.execution.service import ExecutionService
from desk.execution.venue import FillReport, VenueReport
from desk.feeds.okx.config import OkxConfig
from desk.market.book import OrderBook
from desk.market.instruments import Instrument
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.waiting import wait_until

D = Decimal
SYMBOL = "BTC-USDT"


def _book(venue: str, ask: str) -> OrderBook:
    book = OrderBook(SYMBOL, venue)
    bid = str(D(ask) - 10)
    book.apply_snapshot([(bid, "1")], [(ask, "1")], seq_id=1)
    return book


def _instrument(venue: str) -> Instrument:
    return Instrument(
        venue=venue,
        symbol=SYMBOL,
        base="BTC",
        quote="USDT",
        tick_size="0.01",
        lot_size="0.0001",
        min_size="0.0001",
    )


def _paper(venue: str, book: OrderBook, clock: TestClock) -> PaperVenue:
    return PaperVenue(
        book={SYMBOL: book}.get,
        instruments={SYMBOL: _instrument(venue)},
        clock=clock,
        config=PaperConfig(taker_fee_bps=D(0), maker_fee_bps=D(0)),
        name=venue,
    )


def _request(venue: str, cid: str, order_type: OrderType = OrderType.MARKET) -> OrderRequest:
    price = D("49000") if order_type is OrderType.LIMIT else None
    return OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        order_type=order_type,
        size=D("0.5"),
        price=price,
        client_order_id=cid,
        venue=venue,
    )


async def test_each_order_fills_on_the_book_of_the_venue_it_names() -> None:
    clock = TestClock(1_700_000_000_000_000_000)
    okx = _paper("paper", _book("okx", "50000"), clock)
    binance = _paper("binance", _book("binance", "50100"), clock)
    router = VenueRouter(okx, {"binance": binance})
    reports: list[VenueReport] = []
    router.set_report_handler(reports.append)
    await router.connect()
    await router.submit(_request("binance", "b1"))
    await router.submit(_request("okx", "o1"))
    await wait_until(lambda: sum(type(r) is FillReport for r in reports) == 2, 5, "two fills")
    prices = {r.client_order_id: r.price for r in reports if type(r) is FillReport}
    assert prices == {"b1": D("50100"), "o1": D("50000")}

    await router.submit(_request("binance", "b2", OrderType.LIMIT))
    await router.submit(_request("okx", "o2", OrderType.LIMIT))
    trade = Trade(
        ts_exchange=1,
        ts_recv=1,
        venue="binance",
        symbol=SYMBOL,
        trade_id="9",
        price=48000.0,
        size=1.0,
        side=Side.SELL,
    )
    router.on_trade(trade)  # a Binance print fills Binance's resting order, not OKX's
    await wait_until(
        lambda: any(
            getattr(r, "client_order_id", "") == "b2" and type(r) is FillReport for r in reports
        ),
        5,
        "b2 filled",
    )
    assert not any(type(r) is FillReport and r.client_order_id == "o2" for r in reports)
    assert [o.client_order_id for o in await router.open_orders()] == ["o2"]
    await router.cancel("o2", SYMBOL)
    assert await router.open_orders() == []
    await router.close()


def test_live_execution_off_okx_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DESK_OKX_API_KEY", "DESK_OKX_SECRET", "DESK_OKX_PASSPHRASE"):
        monkeypatch.setenv(name, "test-only")  # a live client is built, never connected
    clock = TestClock(1_700_000_000_000_000_000)
    book = _book("binance", "50100")
    service = ExecutionService(
        ExecutionConfig(),
        Bus(),
        SqliteStore(StorageConfig(sqlite_path=str(tmp_path / "d.sqlite"))),
        clock,
        mode=Mode.LIVE,
        symbols=(SYMBOL,),
        okx=OkxConfig(),
        book=lambda _s: None,
        instruments={SYMBOL: _instrument("okx")},
        venue_books={"binance": {SYMBOL: book}.get},
        venue_instruments={"binance": {SYMBOL: _instrument("binance")}},
    )
    service.confirm_live()
    assert service._check(_request("binance", "x")) == (
        "live execution on binance is not supported; paper only"
    )
    assert sorted(service.client.venue_names()) == ["binance", "okx"]
