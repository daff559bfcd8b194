"""Risk per venue: each order is checked against its own venue's instrument rules and mid, and
"reduces" looks at the account's position on that venue, so each leg of a cross-venue pair
(net zero over the venues) can be closed on its own; the desk-wide limits stay desk-wide."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.enums import Mode, Side
from desk.core.orders import MANUAL_ACCOUNT, Fill, Liquidity, OrderRequest, OrderType
from desk.execution.config import ExecutionConfig
from desk.execution.risk import RiskRecord
from desk.execution.risk_rules import RiskConfig, RiskState
from desk.execution.service import ExecutionService
from desk.feeds.okx.config import OkxConfig
from desk.market.book import OrderBook
from desk.market.instruments import Instrument
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

D = Decimal
BTC = "BTC-USDT"
BTC_USD = "BTC-USD"  # listed by Coinbase only


def _book(symbol: str, venue: str, bid: str, ask: str) -> OrderBook:
    book = OrderBook(symbol, venue)
    book.apply_snapshot([(bid, "5")], [(ask, "5")], seq_id=1)
    return book


def _instrument(venue: str, symbol: str, tick: str, lot: str, min_size: str) -> Instrument:
    base, quote = symbol.split("-")
    return Instrument(
        venue=venue,
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        min_size=min_size,
    )


@pytest.fixture
def service(tmp_path: Path) -> ExecutionService:
    okx = {BTC: _book(BTC, "okx", "49999.9", "50000.1")}
    # Binance trades 20 % above OKX here, so OKX's mid would put its orders out of the band.
    binance = {BTC: _book(BTC, "binance", "59999.99", "60000.01")}
    coinbase = {BTC_USD: _book(BTC_USD, "coinbase", "60100.00", "60100.02")}
    risk = RiskConfig(max_order_notional=D(100_000), max_position_notional_per_bot=D(40_000))
    return ExecutionService(
        ExecutionConfig(risk=risk),
        Bus(),
        SqliteStore(StorageConfig(sqlite_path=str(tmp_path / "d.sqlite"))),
        TestClock(1_700_000_000_000_000_000),
        mode=Mode.PAPER,
        symbols=(BTC,),
        okx=OkxConfig(),
        book=okx.get,
        instruments={BTC: _instrument("okx", BTC, "0.1", "0.0001", "0.001")},
        venue_books={"binance": binance.get, "coinbase": coinbase.get},
        venue_instruments={
            "binance": {BTC: _instrument("binance", BTC, "0.01", "0.00001", "0.00001")},
            "coinbase": {BTC_USD: _instrument("coinbase", BTC_USD, "0.01", "0.00000001", "0")},
        },
    )


def _order(
    venue: str,
    side: Side,
    size: str,
    price: str | None = None,
    *,
    symbol: str = BTC,
    bot: str = MANUAL_ACCOUNT,
    reduce_only: bool = False,
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        size=D(size),
        price=None if price is None else D(price),
        bot_id=bot,
        reduce_only=reduce_only,
        client_order_id=f"c-{venue}-{side}-{size}",
        venue=venue,
    )


def _fill(service: ExecutionService, venue: str, side: Side, size: str, price: str) -> None:
    service.portfolio.apply_fill(
        Fill(
            ts_exchange=1,
            ts_recv=1,
            client_order_id=f"f-{venue}-{side}",
            venue_order_id="v",
            trade_id=f"t-{venue}-{side}",
            symbol=BTC,
            side=side,
            price=D(price),
            size=D(size),
            fee=D(0),
            fee_ccy="USDT",
            liquidity=Liquidity.TAKER,
            bot_id="arb1",
            venue=venue,
        )
    )


def test_each_venue_s_rules_and_mid_apply_to_its_orders(service: ExecutionService) -> None:
    okx = service.oms.venue_name
    assert okx == "okx"  # paper by the mode; the fills say whose book they filled on
    # Binance's tick (0.01) and its own mid (60,000) make this order valid there...
    assert service._check(_order("binance", Side.BUY, "0.00002", "60000.01")) == _order(
        "binance", Side.BUY, "0.00002", "60000.01"
    )
    # ...while on OKX the same numbers break OKX's tick, then OKX's min size and price band.
    assert service._check(_order(okx, Side.BUY, "0.00002", "60000.01")).startswith(
        "price off tick: 60000.01 is not a multiple of 0.1"
    )
    assert service._check(_order(okx, Side.BUY, "0.00002", "50000.1")).startswith(
        "size off lot: 0.00002"
    )
    assert service._check(_order(okx, Side.BUY, "0.001", "60000")) == (
        "price band: 60000 is 20.00% from mid 50000 > 5.00%"
    )
    # A market order on Binance is sized against Binance's mid: 0.6 x 60,000 = 36,000 <= 40,000.
    assert isinstance(service._check(_order("binance", Side.BUY, "0.6", bot="b1")), OrderRequest)
    assert service._check(_order("binance", Side.BUY, "0.7", bot="b1")).startswith(
        "max position per bot: 42,000.00 > 40,000.00 (b1 would hold 0.7 BTC-USDT on binance)"
    )


def test_a_symbol_only_one_venue_lists_trades_there_and_is_refused_elsewhere(
    service: ExecutionService,
) -> None:
    on_coinbase = _order("coinbase", Side.BUY, "0.01", "60100.01", symbol=BTC_USD)
    assert service._check(on_coinbase) == on_coinbase
    assert service._check(_order("binance", Side.BUY, "0.01", "60100.01", symbol=BTC_USD)) == (
        "unknown instrument: BTC-USD on binance"
    )
    assert service._check(_order("coinbase", Side.BUY, "0.01", "60000.01")) == (
        "unknown instrument: BTC-USDT on coinbase"
    )


def test_an_arbitrage_pair_closes_leg_by_leg_while_reducing(service: ExecutionService) -> None:
    okx = service.oms.venue_name
    _fill(service, "binance", Side.BUY, "0.5", "60000")
    _fill(service, okx, Side.SELL, "0.5", "50000")
    assert service.portfolio.position("arb1", BTC) == 0  # hedged: net zero over the venues
    service.risk.restore(
        RiskRecord(state=RiskState.REDUCING, reason="test", actor="test", since_ns=1)
    )
    # Each leg reduces the position on its own venue, though the net is zero.
    sell = _order("binance", Side.SELL, "0.5", bot="arb1", reduce_only=True)
    assert service._check(sell) == sell
    buy = _order(okx, Side.BUY, "0.5", bot="arb1", reduce_only=True)
    assert service._check(buy) == buy
    # Adding to a leg does not reduce anything on that venue.
    assert service._check(_order("binance", Side.BUY, "0.1", bot="arb1")).startswith(
        "reducing: only orders that reduce a position pass (arb1 holds 0.5 BTC-USDT on binance;"
    )
    assert service._check(_order(okx, Side.SELL, "0.1", bot="arb1")).startswith(
        f"reducing: only orders that reduce a position pass (arb1 holds -0.5 BTC-USDT on {okx};"
    )


def test_the_monitor_trims_each_venue_s_position_on_its_venue(service: ExecutionService) -> None:
    okx = service.oms.venue_name
    _fill(service, "binance", Side.BUY, "0.5", "60000")
    _fill(service, okx, Side.SELL, "0.5", "50000")
    service.mark()  # each venue's position at its own mid: no loss, so no halt
    assert service.portfolio.daily_pnl() == 0
    service.risk.restore(
        RiskRecord(state=RiskState.REDUCING, reason="test", actor="test", since_ns=1)
    )
    trims = {(o.venue, o.side, o.size, o.reduce_only) for o in service.risk.evaluate()}
    assert trims == {("binance", Side.SELL, D("0.1"), True), (okx, Side.BUY, D("0.1"), True)}
