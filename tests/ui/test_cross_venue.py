"""A trader watches three venues: one venue's ladder or all merged (``v``), the cross-venue
view (``x``) with its spread matrix, and a paper order sent to the venue the ticket chose."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from textual.pilot import Pilot

from desk.core.commands import SubmitOrder
from desk.core.enums import Side
from desk.screens.cross_venue import CrossVenueScreen
from desk.screens.help import HelpScreen
from desk.screens.market import MarketScreen
from desk.widgets.consolidated_ladder import ConsolidatedLadder
from desk.widgets.consolidated_rows import ASK, BID
from desk.widgets.ladder import Ladder
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.test_trading_mode import open_trading, submits, type_into
from tests.ui.trading_fakes import TradingFakeClient
from tests.ui.venue_fakes import VENUES

SIZE = (100, 30)


async def market(pilot: Pilot[Any]) -> MarketScreen:
    await settled(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MarketScreen)
    return screen


async def test_v_cycles_the_ladder_through_each_venue_then_all_merged_and_back() -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    async with app.run_test(size=SIZE) as pilot:
        screen = await market(pilot)
        ladder, merged = screen.query_one(Ladder), screen.query_one(ConsolidatedLadder)
        assert screen.venue == "okx" and ladder.book is not None and ladder.book.venue == "okx"
        assert ladder.border_title == "book BTC-USDT · okx"
        for venue in ("binance", "coinbase"):
            await pilot.press("v")
            await wait_for(
                pilot, lambda v=venue: ladder.book is not None and ladder.book.venue == v
            )
            assert ladder.border_title == f"book BTC-USDT · {venue}"
            assert ladder.display and not merged.display
        await pilot.press("v")
        await wait_for(pilot, lambda: merged.display and merged.rows)
        assert not ladder.display
        assert merged.border_title == "book BTC-USDT · all venues"
        assert {row.venue for row in merged.rows if row.kind in (ASK, BID)} == set(VENUES)
        await pilot.press("v")
        await wait_for(pilot, lambda: ladder.display and not merged.display)
        assert screen.venue == "okx"


async def test_with_one_venue_there_is_no_merged_choice() -> None:
    app = make_app(FakeEngineClient())
    async with app.run_test(size=SIZE) as pilot:
        screen = await market(pilot)
        await pilot.press("v")
        await settled(pilot)
        assert screen.venue_choices() == ("okx",)
        assert screen.venue == "okx" and screen.query_one(Ladder).display


async def test_the_merged_ladder_orders_every_venues_levels_by_price_and_tags_them() -> None:
    fake = FakeEngineClient(venues=VENUES)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await market(pilot)
        await pilot.press("v", "v", "v")
        merged = screen.query_one(ConsolidatedLadder)
        await wait_for(pilot, lambda: merged.display and merged.rows)
        depth = merged.wanted_depth(0)
        asks = [r for r in merged.rows[:depth] if r.kind == ASK]
        bids = [r for r in merged.rows[depth + 1 :] if r.kind == BID]
        assert [r.price for r in asks] == sorted((r.price for r in asks), reverse=True)
        assert [r.price for r in bids] == sorted((r.price for r in bids), reverse=True)
        books = {v: fake.book("BTC-USDT", depth, v) for v in VENUES}
        # the best ask of all venues is the row just above the spread, with its venue
        best_ask = min((b.asks[0].price, v) for v, b in books.items())
        assert (asks[-1].price, asks[-1].venue) == best_ask and asks[-1].best
        best_bid = max(b.bids[0].price for b in books.values())
        assert bids[0].price == best_bid and bids[0].venue == "binance"
        # Binance bids above Coinbase's ask: the merged book is crossed, and says where
        assert merged.crossed
        assert merged.spread_text.startswith("BIN 65,432.3 > CB 65,432.1")
        lines = merged.lines()
        assert lines[depth - 1].split()[:2] == ["CB", "•65,432.1"]


async def test_x_opens_the_cross_venue_view_with_the_spread_matrix_and_escape_comes_back() -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    async with app.run_test(size=SIZE) as pilot:
        await market(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, CrossVenueScreen))
        screen = app.screen
        assert isinstance(screen, CrossVenueScreen)
        await wait_for(pilot, lambda: screen.matrix.lines)
        text = screen.matrix.plain
        assert text[0].split() == ["venue", "bid", "size", "ask", "size", "age", "fee"]
        assert text[1].split()[:2] == ["OKX", "65,432.1"] and text[1].split()[-2:] == ["0ms", "5bp"]
        assert text[3].split()[-2:] == ["300ms", "5bp"]  # Coinbase's top is 300 ms old
        matrix = text[text.index(next(t for t in text if t.startswith(" buy \\ sell"))) :]
        assert matrix[0].split()[-3:] == ["OKX", "BIN", "CB"]
        assert matrix[3].split() == ["CB", "-10.0", "-10.0", "·"]  # BTC: crossed, not past fees
        assert screen.matrix.positive_cells() == []
        await pilot.press("s")  # ETH-USDT: Coinbase 6 bp under OKX, Binance 8 bp over
        await wait_for(pilot, lambda: screen.matrix.positive_cells() != [])
        assert screen.matrix.positive_cells() == ["+4.0", "best ETH-USDT: buy CB → sell BIN +4.0bp"]
        assert "ETH-USDT: buy CB → sell BIN +4.0bp" in str(screen.best.render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))


async def test_the_matrix_figures_are_the_spread_watchers_figures() -> None:
    from desk.market.cross_venue import VenueTop, net_spread_bps

    fake = FakeEngineClient(venues=VENUES)
    view = fake.cross_venue().symbol("ETH-USDT")
    assert view is not None
    tops = {t.venue: t for t in view.tops}
    for cell in view.spreads:
        buy, sell = tops[cell.buy], tops[cell.sell]
        expected = net_spread_bps(
            VenueTop(buy.venue, "ETH-USDT", buy.bid, buy.ask, 0),
            VenueTop(sell.venue, "ETH-USDT", sell.bid, sell.ask, 0),
            buy.fee_bps,
            sell.fee_bps,
        )
        assert cell.bps == expected


async def test_the_new_keys_are_in_the_help() -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    async with app.run_test(size=SIZE) as pilot:
        await market(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        rows = dict(screen.rows())
        assert rows["market_venue"] == "v" and rows["market_cross_venue"] == "x"
        assert rows["cross_venue_close"] == "escape"


async def test_the_palette_offers_each_venue_and_the_cross_venue_view() -> None:
    from desk.commands import DeskCommands

    app = make_app(FakeEngineClient(venues=VENUES))
    async with app.run_test(size=SIZE) as pilot:
        await market(pilot)
        provider = DeskCommands(app.screen)
        names = {command.name: command for command in provider.commands()}
        assert {f"Market: venue {v}" for v in (*VENUES, "all")} <= set(names)
        await names["Market: venue all"].run()
        screen = app.screen
        assert isinstance(screen, MarketScreen)
        await wait_for(pilot, lambda: screen.query_one(ConsolidatedLadder).display)
        await names["Market: cross-venue view"].run()
        await wait_for(pilot, lambda: isinstance(app.screen, CrossVenueScreen))


async def test_the_ticket_sends_the_chosen_venue_and_shows_that_venues_price() -> None:
    fake = TradingFakeClient(venues=VENUES)
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_trading(pilot)
        ticket = screen.ticket
        assert ticket.venue == "okx"
        await wait_for(pilot, lambda: list(ticket._venues) == list(VENUES))
        ticket.venue_select.value = "binance"
        binance_bid = fake.book("BTC-USDT", 1, "binance").bids[0].price
        await wait_for(pilot, lambda: ticket.best_bid == binance_bid)
        assert ticket.price_input.value == "65432.3"  # Binance's best bid, not OKX's 65432.1
        await wait_for(pilot, lambda: screen.ladder.book is not None)
        await wait_for(pilot, lambda: screen.ladder.book.venue == "binance")
        assert screen.ladder.border_title == "book BTC-USDT · binance"
        await type_into(pilot, ticket.size_input, "0.01")
        await wait_for(pilot, lambda: ticket.check.ok and not ticket.send_button.disabled)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(submits(fake)) == 1)
        request = submits(fake)[0].request
        assert isinstance(submits(fake)[0], SubmitOrder)
        assert request.venue == "binance" and request.side is Side.BUY
        assert request.price == Decimal("65432.3") and request.size == Decimal("0.01")
        await wait_for(pilot, lambda: any(o.venue == "binance" for o in fake.open_orders))


async def test_a_new_best_price_repaints_the_spread_row() -> None:
    fake = FakeEngineClient(venues=VENUES)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await market(pilot)
        await pilot.press("v", "v", "v")
        merged = screen.query_one(ConsolidatedLadder)
        await wait_for(pilot, lambda: merged.display and merged.rows)
        depth = merged.wanted_depth(0)
        books = [fake.book("BTC-USDT", depth, v) for v in VENUES]
        merged.show(books, depth)
        repainted: list[object] = []
        original = merged.refresh

        def spy(*regions: object, **kwargs: object) -> object:
            repainted.extend(regions)
            return original(*regions, **kwargs)  # type: ignore[arg-type]

        merged.refresh = spy  # type: ignore[method-assign]
        # Coinbase's best ask is taken: the best ask is now OKX's, a tick higher
        cb = books[2]
        moved = msgspec.structs.replace(cb, asks=cb.asks[1:], version=cb.version + 1)
        merged.show([books[0], books[1], moved], depth)
        assert merged.spread_text.startswith("BIN 65,432.3 > OKX 65,432.2")  # tie: OKX first
        rows = {y for region in repainted for y in range(region.y, region.y + region.height)}  # type: ignore[attr-defined]
        assert depth in rows
