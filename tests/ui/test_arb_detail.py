"""The bot detail of an arbitrage bot shows its legs' fills, its hedged position and its PnL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from desk.bridge.views import BotDetailView
from desk.core.enums import Side
from desk.core.orders import Fill, Liquidity, Order, OrderStatus, OrderType
from desk.screens.bot_detail import BotDetailScreen
from desk.signals.arbitrage_ledger import ArbLedger
from desk.widgets.arb_tables import arb_summary
from tests.ui.conftest import make_app, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.test_bots_mode import open_bots

D = Decimal
SYM = "BTC-USDT"


def _order(cid: str, side: Side, venue: str, status: OrderStatus, filled: str, px: str) -> Order:
    return Order(
        ts_exchange=0, ts_recv=0, client_order_id=cid, venue_order_id="", symbol=SYM,
        side=side, order_type=OrderType.IOC, price=D(px), size=D("0.5"), filled=D(filled),
        avg_price=D(px), status=status, bot_id="arb", venue=venue,
    )  # fmt: skip


def _fill(cid: str, side: Side, venue: str, price: str, fee: str) -> Fill:
    return Fill(
        ts_exchange=0, ts_recv=0, client_order_id=cid, venue_order_id="", trade_id=cid,
        symbol=SYM, side=side, price=D(price), size=D("0.5"), fee=D(fee), fee_ccy="USDT",
        liquidity=Liquidity.TAKER, bot_id="arb", venue=venue,
    )  # fmt: skip


def _snapshot() -> dict[str, Any]:
    """One hedged round: buy 0.5 on okx at 100.0, sell 0.5 on binance at 101.0, 10 bps each."""
    ledger = ArbLedger(SYM)
    trade = ledger.open_round(1, "okx", "binance", 79.8)
    new = OrderStatus.PENDING_NEW
    ledger.add_leg(trade, "buy", _order("b1", Side.BUY, "okx", new, "0", "100.0"), "okx")
    ledger.add_leg(trade, "sell", _order("s1", Side.SELL, "binance", new, "0", "101.0"), "binance")
    ledger.on_fill(_fill("b1", Side.BUY, "okx", "100.0", "0.05"))
    ledger.on_fill(_fill("s1", Side.SELL, "binance", "101.0", "0.0505"))
    ledger.on_order(_order("b1", Side.BUY, "okx", OrderStatus.FILLED, "0.5", "100.0"))
    ledger.on_order(_order("s1", Side.SELL, "binance", OrderStatus.FILLED, "0.5", "101.0"))
    ledger.hedged = 1
    return msgspec.to_builtins(ledger.snapshot())


class ArbClient(FakeEngineClient):
    def bot_detail(self, bot_id: str, limit: int = 120) -> BotDetailView:
        view = super().bot_detail(bot_id, limit)
        return msgspec.structs.replace(view, arbitrage=_snapshot())


def test_the_summary_names_each_venues_position_the_hedged_position_and_exact_pnl() -> None:
    text = arb_summary(_snapshot())
    assert "binance -0.5 · okx +0.5" in text
    assert "hedged 0" in text
    assert "pnl +0.3995 (cash +0.3995, fees 0.1005)" in text
    assert "rounds 1: 1 hedged, 0 one-legged" in text


async def test_the_detail_of_an_arbitrage_bot_lists_its_legs() -> None:
    app = make_app(ArbClient())
    async with app.run_test(size=(160, 40)) as pilot:
        await open_bots(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, BotDetailScreen))
        detail = app.screen
        assert isinstance(detail, BotDetailScreen)
        await wait_for(pilot, lambda: detail.legs.row_count == 2)
        assert detail.arb.display and detail.legs.display
        assert "pnl +0.3995" in str(detail.arb.render())
        assert [str(row.key.value) for row in detail.legs.ordered_rows] == ["s1", "b1"]
        assert detail.legs.cell_text("b1", "venue") == "okx"
        assert detail.legs.cell_text("b1", "price") == "100.0"
        assert detail.legs.cell_text("s1", "filled") == "0.5"
        assert detail.legs.cell_text("s1", "status") == "filled"


async def test_other_bots_do_not_show_the_arbitrage_panel() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bots(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, BotDetailScreen))
        detail = app.screen
        assert isinstance(detail, BotDetailScreen)
        await wait_for(pilot, lambda: detail.detail is not None)
        assert not detail.arb.display and not detail.legs.display
