"""Every action can be found by name in the command palette (ctrl+p)."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from desk.app import DeskApp
from desk.screens.health import HealthScreen
from desk.widgets.candle_chart import CandleChart
from desk.widgets.ladder import Ladder
from tests.ui.conftest import make_app, settled, wait_for


async def run_command(pilot: Pilot, text: str) -> None:
    """Open the palette, type ``text``, wait for it to be the first hit, and choose it."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*text)

    def first_hit_matches() -> bool:
        options = app.screen.query_one(CommandList)
        if options.option_count == 0:
            return False
        return text.lower() in str(options.get_option_at_index(0).prompt).lower()

    await wait_for(pilot, first_hit_matches)
    await pilot.press("down", "enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_palette_selects_a_symbol() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await run_command(pilot, "Symbol: SOL-USDT")
        await wait_for(pilot, lambda: app.symbol == "SOL-USDT")
        ladder = app.screen.query_one(Ladder)
        await wait_for(pilot, lambda: ladder.book is not None and ladder.book.symbol == "SOL-USDT")


async def test_palette_selects_a_timeframe() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await run_command(pilot, "Timeframe: 4h")
        chart = app.screen.query_one(CandleChart)
        await wait_for(pilot, lambda: chart.candles is not None and chart.candles.timeframe == "4h")


async def test_palette_switches_mode_and_theme() -> None:
    app: DeskApp = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await run_command(pilot, "Theme: desk-light")
        await wait_for(pilot, lambda: app.theme == "desk-light")
        await run_command(pilot, "Mode: health")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
