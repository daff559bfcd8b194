"""The ticker strip and the tape follow the ladder's venue: that venue's, or every venue's
(tagged) when the ladder shows all of them merged; another venue moving redraws neither. A
position is one row per venue, named by its venue."""

from __future__ import annotations

from typing import Any

import msgspec
from textual.pilot import Pilot

from desk.screens.market import MarketScreen
from desk.widgets.tape import Tape
from desk.widgets.ticker_strip import TickerStrip
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.test_trading_mode import open_trading
from tests.ui.trading_fakes import TradingFakeClient
from tests.ui.venue_fakes import VENUES

SIZE = (160, 30)  # three full tickers fit, nine do not


async def market(pilot: Pilot[Any]) -> MarketScreen:
    await settled(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MarketScreen)
    return screen


async def test_strip_and_tape_show_the_ladders_venue_then_every_venue_tagged() -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    async with app.run_test(size=SIZE) as pilot:
        screen = await market(pilot)
        strip, tape = screen.query_one(TickerStrip), screen.query_one(Tape)
        for venue, tag in (("okx", "OKX"), ("binance", "BIN"), ("coinbase", "CB")):
            await wait_for(pilot, lambda v=venue: tape.venues == [v])
            assert tape.border_title == f"tape BTC-USDT · {venue}"
            assert strip.tickers is not None
            assert [(t.symbol, t.venue) for t in strip.tickers] == [
                (symbol, venue) for symbol in ("BTC-USDT", "ETH-USDT", "SOL-USDT")
            ]
            await wait_for(pilot, lambda t=tag: f"BTC-USDT {t} " in strip.text)
            assert not tape._tagged  # one venue: the title names it, rows carry no tag
            await pilot.press("v")
        await wait_for(pilot, lambda: set(tape.venues) == set(VENUES))
        assert tape.border_title == "tape BTC-USDT · all"
        assert tape._tagged
        assert strip.tickers is not None
        assert {t.venue for t in strip.tickers} == set(VENUES)
        # nine tickers do not fit in full: the compact form keeps the venue tags
        await wait_for(pilot, lambda: all(f"BTC {t} " in strip.text for t in ("OKX", "BIN", "CB")))


async def test_another_venues_ticker_moving_does_not_redraw_the_strip() -> None:
    fake = FakeEngineClient(venues=VENUES)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        screen = await market(pilot)
        strip = screen.query_one(TickerStrip)
        await wait_for(pilot, lambda: strip.tickers is not None)
        view = fake.tickers()
        moved = msgspec.structs.replace(
            view,
            version=view.version + 1,
            tickers=[
                msgspec.structs.replace(t, last=t.last + 1.0) if t.venue == "binance" else t
                for t in view.tickers
            ],
        )
        assert strip.show(view, "BTC-USDT", "okx") is False  # what the last sample drew
        draws = strip.draws
        assert strip.show(moved, "BTC-USDT", "okx") is False
        assert strip.draws == draws
        assert strip.show(moved, "BTC-USDT", "binance") is True
        assert strip.show(moved, "BTC-USDT", "all") is True


async def test_one_accounts_positions_on_two_venues_are_two_rows_named_by_venue() -> None:
    fake = TradingFakeClient(venues=VENUES)
    manual = next(p for p in fake.positions if p.bot_id == "manual")
    fake.positions.append(msgspec.structs.replace(manual, size=-0.05, venue="binance"))
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:  # the venue column shows at 80 columns
        screen = await open_trading(pilot)
        table = screen.positions
        await wait_for(pilot, lambda: table.row_count == 4)
        keys = [str(row.key.value) for row in table.ordered_rows]
        assert keys[-2:] == ["manual/BTC-USDT/okx", "manual/BTC-USDT/binance"]  # OKX's first
        assert [table.cell_text(key, "venue") for key in keys] == ["OKX", "OKX", "OKX", "BIN"]
        assert table.cell_text("manual/BTC-USDT/binance", "size") == "-0.0500"
