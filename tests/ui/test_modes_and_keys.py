"""A trader drives desk from the keyboard: modes, symbols, timeframes, help, themes, quitting."""

from __future__ import annotations

from desk.messages import SymbolChanged, TimeframeChanged
from desk.screens.health import HealthScreen
from desk.screens.help import HelpScreen
from desk.screens.market import MarketScreen
from desk.widgets.candle_chart import CandleChart
from desk.widgets.ladder import Ladder
from desk.widgets.ticker_strip import TickerStrip
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient


async def test_number_keys_switch_between_the_built_modes() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert isinstance(app.screen, MarketScreen)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        assert app.current_mode == "health"
        await pilot.press("9")  # no mode has that number: nothing happens
        await pilot.pause()
        assert app.current_mode == "health"
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))


async def test_s_and_shift_s_step_through_symbols_and_redraw_the_market() -> None:
    seen: list[object] = []
    app = make_app()
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await settled(pilot)
        ladder = app.screen.query_one(Ladder)
        await pilot.press("s")
        await wait_for(pilot, lambda: ladder.book is not None and ladder.book.symbol == "ETH-USDT")
        assert app.symbol == "ETH-USDT"
        assert "ETH-USDT" in app.screen.query_one(Ladder).border_title
        await pilot.press("S", "S")
        await wait_for(pilot, lambda: ladder.book is not None and ladder.book.symbol == "SOL-USDT")
        assert [m.symbol for m in seen if isinstance(m, SymbolChanged)] == [
            "ETH-USDT",
            "BTC-USDT",
            "SOL-USDT",
        ]
        strip = app.screen.query_one(TickerStrip)
        await wait_for(pilot, lambda: strip.selected == "SOL-USDT")


async def test_t_and_shift_t_change_the_chart_timeframe() -> None:
    seen: list[object] = []
    app = make_app()
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await settled(pilot)
        chart = app.screen.query_one(CandleChart)
        # ui.timeframe (1m): the timeframe the venue's candles backfill, so history shows at once
        assert chart.candles is not None and chart.candles.timeframe == "1m"
        await pilot.press("t")
        await wait_for(pilot, lambda: chart.candles is not None and chart.candles.timeframe == "5m")
        await pilot.press("T", "T", "T", "T")  # back past the first (1s): wraps to the last
        await wait_for(pilot, lambda: chart.candles is not None and chart.candles.timeframe == "1d")
        changed = [m.timeframe for m in seen if isinstance(m, TimeframeChanged)]
        assert changed == ["5m", "1m", "3s", "1s", "1d"]
        assert "1d" in str(chart.border_title)


async def test_question_mark_opens_help_listing_every_binding_and_escape_closes_it() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = dict(help_screen.rows())
        assert rows["mode_market"] == "1"
        assert rows["mode_health"] == "5"
        assert rows["next_symbol"] == "s"
        assert rows["help"] == "?"
        assert rows["command_palette"] == "ctrl+p"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("question_mark")  # ? toggles
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))


async def test_a_mode_key_from_help_closes_help_and_switches() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))


async def test_ctrl_t_cycles_the_desk_themes_and_recolours_the_ladder() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        ladder = app.screen.query_one(Ladder)
        dark_bid = ladder.get_component_rich_style("ladder--bid").color
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.theme == "desk-light")
        await wait_for(
            pilot, lambda: ladder.get_component_rich_style("ladder--bid").color != dark_bid
        )
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.theme == "desk-high-contrast")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.theme == "desk-dark")


async def test_the_theme_named_in_the_config_is_the_one_used() -> None:
    app = make_app(theme="desk-high-contrast")
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert app.theme == "desk-high-contrast"


async def test_q_stops_the_engine_and_exits_with_code_zero() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert fake.started
        await pilot.press("q")
        await wait_for(pilot, lambda: fake.stopped)
    assert app.return_code == 0
