"""A trader uses the trading mode: the ticket checks as they type, orders go out exactly as
typed, cancels, flatten and halt ask first, LIVE asks for every order, reconciliation blocks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from desk.core.commands import (
    AcceptReconciliation,
    CancelAll,
    CancelOrder,
    Flatten,
    Halt,
    SubmitOrder,
)
from desk.core.enums import Mode, Side
from desk.core.orders import OrderType
from desk.screens.confirm import ConfirmScreen
from desk.screens.market import MarketScreen
from desk.screens.trading import TradingScreen
from desk.widgets.ladder import SelectableLadder
from desk.widgets.order_ticket import OrderTicket
from desk.widgets.trading_tables import OpenOrdersTable, fmt_fee
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.trading_fakes import TradingFakeClient

SIZE = (120, 40)


async def open_trading(pilot: Pilot[Any]) -> TradingScreen:
    app = pilot.app
    await settled(pilot)
    await pilot.press("2")
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, TradingScreen)
            and app.screen.view is not None
            and app.screen.ticket.best_bid is not None
        ),
    )
    screen = app.screen
    assert isinstance(screen, TradingScreen)
    return screen


async def type_into(pilot: Pilot[Any], field: Input, text: str) -> None:
    """Empty ``field`` and type ``text`` key by key, as a person would."""
    field.focus()
    field.value = ""
    await pilot.pause()
    await pilot.press(*text)
    await wait_for(pilot, lambda: field.value == text)


def ticket_errors(ticket: OrderTicket) -> str:
    return str(ticket.error.render())


def submits(fake: TradingFakeClient) -> list[SubmitOrder]:
    return [c for c in fake.trading_commands() if isinstance(c, SubmitOrder)]


async def test_a_size_that_is_not_a_number_is_refused_with_the_reason_and_nothing_is_sent() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        await type_into(pilot, ticket.size_input, "1x")
        await wait_for(pilot, lambda: "size: not a number" in ticket_errors(ticket))
        assert ticket.send_button.disabled
        await pilot.press("enter")  # enter in the field asks to send: refused
        await wait_for(pilot, lambda: "refused" in str(ticket.ack.render()))
        assert submits(fake) == []


async def test_an_off_tick_price_names_the_nearest_valid_prices() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        await type_into(pilot, ticket.size_input, "0.01")
        await type_into(pilot, ticket.price_input, "65432.15")
        await wait_for(
            pilot,
            lambda: "price: not on tick 0.1 — nearest 65432.1 or 65432.2" in ticket_errors(ticket),
        )
        await type_into(pilot, ticket.size_input, "0.00015")
        await wait_for(pilot, lambda: "size: below minimum 0.001" in ticket_errors(ticket))
        await type_into(pilot, ticket.size_input, "0.01005")
        await wait_for(
            pilot,
            lambda: (
                "size: not a multiple of lot 0.0001 — nearest 0.01 or 0.0101"
                in ticket_errors(ticket)
            ),
        )
        await pilot.press("enter")
        await pilot.pause()
        assert submits(fake) == []


async def test_the_engine_check_is_shown_under_the_ticket_and_blocks_sending() -> None:
    fake = TradingFakeClient()
    fake.check_reason = "max position 0.2 BTC-USDT would be exceeded"
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        await type_into(pilot, ticket.size_input, "0.5")
        await wait_for(pilot, lambda: "risk: max position 0.2" in ticket_errors(ticket))
        assert fake.checked and fake.checked[-1].size == Decimal("0.5")
        await pilot.press("enter")
        await pilot.pause()
        assert submits(fake) == []


async def test_a_valid_order_is_sent_exactly_as_typed_and_its_id_is_shown() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        await pilot.press("escape")  # out of any field: letters are keys again
        await pilot.press("v")
        await wait_for(pilot, lambda: ticket.side is Side.SELL)
        ticket.type_select.value = OrderType.POST_ONLY.value
        await wait_for(pilot, lambda: ticket.order_type is OrderType.POST_ONLY)
        bot_id = fake.bots().bots[0].bot_id  # an account the ticket offers besides manual
        ticket.account_select.value = bot_id
        await type_into(pilot, ticket.price_input, "65432.3")
        await type_into(pilot, ticket.size_input, "0.0125")
        await wait_for(pilot, lambda: ticket.check.ok and not ticket.send_button.disabled)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(submits(fake)) == 1)
        request = submits(fake)[0].request
        assert request.symbol == "BTC-USDT"
        assert request.side is Side.SELL
        assert request.order_type is OrderType.POST_ONLY
        assert request.price == Decimal("65432.3") and str(request.price) == "65432.3"
        assert request.size == Decimal("0.0125") and str(request.size) == "0.0125"
        assert request.bot_id == bot_id
        await wait_for(pilot, lambda: "accepted m0101" in str(ticket.ack.render()))
        table = screen.open_orders
        await wait_for(pilot, lambda: "m0101" in table.orders)


async def test_market_orders_need_no_price() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        ticket.type_select.value = OrderType.MARKET.value
        await wait_for(pilot, lambda: ticket.price_input.disabled)
        await type_into(pilot, ticket.size_input, "0.002")
        await wait_for(pilot, lambda: ticket.check.ok)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(submits(fake)) == 1)
        request = submits(fake)[0].request
        assert request.order_type is OrderType.MARKET and request.price is None


async def test_picking_a_ladder_level_fills_the_ticket_price() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket, ladder = screen.ticket, screen.ladder
        assert ticket.price_input.value == "65432.1"  # a buy starts at the best bid
        ladder.focus()
        await pilot.press("up")  # from the spread up: the best ask
        await wait_for(pilot, lambda: ticket.price_input.value == "65432.2")
        assert ladder.selected_price == 65432.2
        await pilot.press("down", "down", "down")  # past the spread: the third bid
        await wait_for(pilot, lambda: ticket.price_input.value == "65431.9")
        row = next(i for i, r in enumerate(ladder._rows) if r.price == 65431.6)
        top = int(ladder.scroll_offset.y)
        await pilot.click(SelectableLadder, offset=(12, 1 + row - top))  # 1: the border
        await wait_for(pilot, lambda: ticket.price_input.value == "65431.6")
        assert not ticket.price_auto  # a picked price is never moved by the market


async def test_own_orders_are_marked_on_the_ladder() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        await wait_for(pilot, lambda: screen.ladder.own == {65431.8: 0.05, 65432.5: 0.015})


async def test_c_cancels_the_selected_order() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        table = screen.query_one(OpenOrdersTable)
        table.focus()
        await pilot.press("down")  # newest first: m0003, m0002, m0001
        await wait_for(pilot, lambda: table.selected_key() == "m0002")
        await pilot.press("c")
        await wait_for(pilot, lambda: fake.trading_commands() != [])
        assert fake.trading_commands() == [CancelOrder(client_order_id="m0002")]
        await wait_for(pilot, lambda: "m0002" not in table.orders)


async def test_cancel_all_asks_first_and_no_sends_nothing() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        screen.open_orders.focus()
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen)
        assert fake.trading_commands() == []
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Cancel ALL" in app.screen.title_text
        await pilot.press("y")
        await wait_for(pilot, lambda: fake.trading_commands() == [CancelAll()])
        await wait_for(pilot, lambda: not screen.open_orders.orders)


async def test_flatten_asks_first() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        screen.open_orders.focus()
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.title_text == "Flatten ALL positions with market orders?"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert fake.trading_commands() == []
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("f")
        await wait_for(pilot, lambda: fake.trading_commands() == [Flatten()])


async def test_halt_works_from_the_market_mode_and_even_while_typing() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert isinstance(app.screen, MarketScreen)
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.title_text.startswith("HALT")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))
        assert fake.trading_commands() == []
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("h")
        await wait_for(pilot, lambda: fake.trading_commands() == [Halt(reason="operator halt")])
        # in the trading mode, with the cursor in a field (which keeps "!" to itself):
        # ctrl+x halts (and flattens)
        screen = await open_trading(pilot)
        screen.ticket.size_input.focus()
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("f")
        await wait_for(pilot, lambda: len(fake.trading_commands()) == 2)
        assert fake.trading_commands()[-1] == Halt(reason="operator halt", flatten=True)
        await wait_for(pilot, lambda: "HALTED" in str(screen.summary.render()))


async def test_resume_trading_asks_first_when_halted() -> None:
    fake = TradingFakeClient()
    fake.risk_state, fake.risk_reason = "HALTED", "operator halt"
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        screen.open_orders.focus()
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(
            pilot, lambda: [type(c).__name__ for c in fake.trading_commands()] == ["ResumeTrading"]
        )
        await wait_for(pilot, lambda: "ACTIVE" in str(screen.summary.render()))


async def test_live_mode_asks_to_confirm_live_trading_then_every_order() -> None:
    fake = TradingFakeClient(mode=Mode.LIVE)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        await wait_for(pilot, lambda: screen.live_banner.display)
        await type_into(pilot, ticket.price_input, "65432.3")
        await type_into(pilot, ticket.size_input, "0.01")
        await wait_for(pilot, lambda: "LIVE trading not confirmed" in ticket_errors(ticket))
        await pilot.press("escape", "L")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.title_text == "Trade LIVE?"
        await pilot.press("l")
        await wait_for(pilot, lambda: screen.live_ok and ticket.check.ok)
        assert not screen.live_banner.display
        await wait_for(pilot, lambda: fake.live_confirmed)  # the engine was told too
        ticket.size_input.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "BUY 0.01 BTC-USDT @ 65432.3" in confirm.body
        assert "notional ≈ 654.32 USDT" in confirm.body
        await pilot.press("n")  # no: nothing goes out
        await wait_for(pilot, lambda: app.screen is screen)
        assert submits(fake) == []
        ticket.size_input.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("s")
        await wait_for(pilot, lambda: len(submits(fake)) == 1)
        assert submits(fake)[0].request.price == Decimal("65432.3")


async def test_a_blocking_reconciliation_shows_a_banner_and_can_be_accepted() -> None:
    fake = TradingFakeClient()
    fake.set_reconciliation(
        ["BTC-USDT position: local 0.15, venue 0.12", "order m0001 unknown to the venue"]
    )
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_trading(pilot)
        banner = screen.recon_banner
        await wait_for(pilot, lambda: banner.display)
        text = str(banner.render())
        assert "2 difference(s)" in text and "local 0.15, venue 0.12" in text
        screen.open_orders.focus()
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: fake.trading_commands() == [AcceptReconciliation()])
        await wait_for(pilot, lambda: not banner.display)


async def test_the_trading_mode_fits_80x24_with_ticket_orders_and_positions() -> None:
    fake = TradingFakeClient()
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_trading(pilot)
        assert screen.has_class("-narrow")
        assert not screen.ladder.display and not screen.query_one("#trading-side").display
        for widget in (screen.ticket, screen.open_orders, screen.positions, screen.summary):
            region = widget.region
            assert region.height > 0 and region.bottom <= 23, widget
        assert screen.ticket.send_button.region.bottom <= 23


def test_a_tiny_fee_in_the_base_currency_fits_its_column_without_being_cut() -> None:
    # A buyer pays OKX's fee in the base currency: 0.01 BTC at 8.5 bps is 8.531e-06 BTC, which
    # ".4g" printed as "8.531e-06" and the 8-character column cut to "8.531e-0".
    assert fmt_fee(8.531e-06) == "8.53e-6"
    assert fmt_fee(0.600573) == "0.6006"
    assert all(len(fmt_fee(v)) <= 8 for v in (8.531e-06, 1.2345e-10, 0.600573, 1234.5678, 0.0))
