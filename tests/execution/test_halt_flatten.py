"""Halt + flatten ends flat even when an order was still on its way to the venue at the halt:
what that order leaves is closed once it is done, and nothing else passes the halt."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec

from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.enums import Mode, Side
from desk.core.orders import OrderRequest, OrderType
from desk.execution.config import ExecutionConfig
from desk.execution.halt_flatten import HaltFlattener
from desk.execution.paper import PaperConfig
from desk.execution.service import ExecutionService
from desk.market.book import OrderBook
from desk.market.instruments import Instrument
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.waiting import wait_until

D = Decimal
SYMBOL = "BTC-USDT"
T0 = 1_700_000_000_000_000_000


def _book() -> OrderBook:
    book = OrderBook(SYMBOL, "okx")
    book.apply_snapshot([("49990", "5")], [("50000", "5")], seq_id=1)
    return book


def _instrument() -> Instrument:
    return Instrument(
        venue="okx",
        symbol=SYMBOL,
        base="BTC",
        quote="USDT",
        tick_size="0.1",
        lot_size="0.0001",
        min_size="0.0001",
    )


def _buy(size: str = "0.05") -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL, side=Side.BUY, order_type=OrderType.MARKET, size=D(size), bot_id="b1"
    )


async def test_an_order_in_flight_at_the_halt_is_flattened_once_it_fills(tmp_path: Path) -> None:
    book = _book()
    store = SqliteStore(StorageConfig(sqlite_path=str(tmp_path / "d.sqlite")))
    service = ExecutionService(
        # The paper venue answers 300 ms later: the buy is still in flight when the halt lands.
        ExecutionConfig(paper=PaperConfig(latency_ms=300.0)),
        Bus(),
        store,
        TestClock(T0),
        mode=Mode.PAPER,
        symbols=[SYMBOL],
        okx=None,  # type: ignore[arg-type]  # not used by the paper venue
        book=lambda symbol: book,
        instruments={SYMBOL: _instrument()},
    )
    await store.open()
    await service.start()
    try:
        service.submit(_buy())
        _canceled, closing = service.halt("test", flatten=True)
        assert closing == []  # nothing was held yet: the plain flatten sees no position
        await wait_until(lambda: service.portfolio.position("b1", SYMBOL) == D("0.05"), 30, "buy")
        await wait_until(lambda: service.portfolio.position("b1", SYMBOL) == 0, 30, "flattened")
        assert service.risk.state.value == "halted"
        refused = service.submit(_buy("0.01"))  # the halt still blocks everything else
        assert refused.status.value == "rejected" and "halt" in refused.reason
    finally:
        await service.stop()
        await store.close()


def test_the_follow_up_waits_for_the_orders_open_at_the_halt() -> None:
    flattener = HaltFlattener(grace_s=10.0)
    flattener.arm(["a", "b"], now_ns=T0)
    open_ids = {"a", "b"}
    assert not flattener.due(open_ids.__contains__, T0)
    open_ids.discard("a")
    assert not flattener.due(open_ids.__contains__, T0 + 1)
    open_ids.discard("b")
    assert flattener.due(open_ids.__contains__, T0 + 2)
    assert not flattener.due(open_ids.__contains__, T0 + 3)  # once per halt


def test_the_follow_up_gives_up_waiting_after_the_grace() -> None:
    flattener = HaltFlattener(grace_s=1.0)
    flattener.arm(["stuck"], now_ns=T0)
    assert not flattener.due(lambda _cid: True, T0 + 500_000_000)
    assert flattener.due(lambda _cid: True, T0 + 1_000_000_000)


def test_only_its_own_reduce_only_orders_pass_the_halt() -> None:
    flattener = HaltFlattener()
    flattener.allow("flat1")
    closing = OrderRequest(
        symbol=SYMBOL,
        side=Side.SELL,
        order_type=OrderType.MARKET,
        size=D("1"),
        client_order_id="flat1",
        reduce_only=True,
    )
    assert flattener.passes_halt(closing)
    assert not flattener.passes_halt(msgspec.structs.replace(closing, reduce_only=False))
    assert not flattener.passes_halt(msgspec.structs.replace(closing, client_order_id="other"))
    flattener.disarm()  # resumed: nothing passes any more
    assert not flattener.passes_halt(closing)
