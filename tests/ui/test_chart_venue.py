"""A trader switches the market mode between venues: the chart follows the ladder's venue, says
whose candles it draws, and under the merged ladder keeps the venue shown before."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from desk.screens.market import MarketScreen, show_venue
from desk.widgets.candle_chart import CandleChart
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.venue_fakes import VENUES

SIZE = (100, 30)
SYMBOL = "BTC-USDT"


async def chart_shows(pilot: Pilot[Any], chart: CandleChart, venue: str) -> None:
    await wait_for(pilot, lambda: chart.candles is not None and chart.candles.venue == venue)


def venue_closes(fake: FakeEngineClient, chart: CandleChart, venue: str) -> list[float]:
    """The closes of ``venue``'s own series, as many as the chart holds."""
    assert chart.candles is not None
    limit = len(chart.candles.candles)
    return [c.close for c in fake.candles(SYMBOL, chart.candles.timeframe, limit, venue).candles]


def drawn_closes(chart: CandleChart) -> list[float]:
    assert chart.candles is not None
    return [c.close for c in chart.candles.candles]


async def test_the_chart_draws_the_candles_of_the_venue_on_the_ladder_and_names_it() -> None:
    fake = FakeEngineClient(venues=VENUES)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        screen = app.screen
        assert isinstance(screen, MarketScreen)
        chart = screen.query_one(CandleChart)
        await chart_shows(pilot, chart, "okx")
        timeframe = app.timeframe
        assert chart.border_title == f"{SYMBOL} · {timeframe} · okx"
        okx = drawn_closes(chart)
        assert okx == venue_closes(fake, chart, "okx")
        for venue in ("binance", "coinbase"):
            await pilot.press("v")
            await chart_shows(pilot, chart, venue)
            assert screen.venue == venue
            assert chart.border_title == f"{SYMBOL} · {timeframe} · {venue}"
            assert drawn_closes(chart) == venue_closes(fake, chart, venue)
            assert drawn_closes(chart) != okx  # its own series, not OKX's relabelled
        await pilot.press("v")  # all venues merged: the chart keeps the venue shown before
        await wait_for(pilot, lambda: screen.consolidated.display)
        await settled(pilot)
        assert chart.candles is not None and chart.candles.venue == "coinbase"
        assert chart.border_title == f"{SYMBOL} · {timeframe} · coinbase"
        assert drawn_closes(chart) == venue_closes(fake, chart, "coinbase")


async def test_the_merged_ladder_charts_the_venue_picked_before_it() -> None:
    fake = FakeEngineClient(venues=VENUES)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        chart = app.screen.query_one(CandleChart)
        await show_venue(app, "binance")
        await chart_shows(pilot, chart, "binance")
        await show_venue(app, "all")
        screen = app.screen
        assert isinstance(screen, MarketScreen)
        await wait_for(pilot, lambda: screen.consolidated.display)
        await settled(pilot)
        assert chart.candles is not None and chart.candles.venue == "binance"
        assert chart.border_title.endswith("· binance")


async def test_with_one_venue_the_title_names_no_venue() -> None:
    app = make_app(FakeEngineClient())
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        chart = app.screen.query_one(CandleChart)
        await chart_shows(pilot, chart, "okx")
        assert chart.border_title == f"{SYMBOL} · {app.timeframe}"
