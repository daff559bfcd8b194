"""desk on the real in-process engine and the built-in simulator: a living market, offline."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from desk.app import DeskApp
from desk.bridge.views import BotView
from desk.clients.inprocess import InProcessClient
from desk.config import DeskConfig, with_simulator
from desk.engine.engine import Engine
from desk.screens.bots import BotsScreen
from desk.screens.forms import ParamsForm
from desk.screens.health import HealthScreen
from desk.screens.help import HelpScreen
from desk.screens.signals import SignalsScreen
from desk.widgets.candle_chart import CandleChart
from desk.widgets.ladder import Ladder
from tests.ui.conftest import wait_for

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 60.0
PRICE = re.compile(r"\d[\d,]*\.\d+")


def sim_config(tmp_path: Path) -> DeskConfig:
    config = with_simulator(DeskConfig())
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "desk.sqlite"))
    return msgspec.structs.replace(config, storage=storage)


async def test_desk_on_the_simulator_shows_prices_then_a_connected_feed(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    client = InProcessClient(Engine(config))
    app = DeskApp(client, config)
    async with app.run_test(size=(120, 40)) as pilot:
        ladder = app.screen.query_one(Ladder)

        def ladder_shows_prices() -> bool:
            book = ladder.book
            if book is None or not book.bids or not book.asks or ladder.stale:
                return False
            lines = [ladder.render_line(y).text for y in range(ladder.size.height)]
            return sum(bool(PRICE.search(line)) for line in lines) >= 5

        await wait_for(pilot, ladder_shows_prices, timeout=START_TIMEOUT_S)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        screen = app.screen
        assert isinstance(screen, HealthScreen)

        def a_feed_is_connected() -> bool:
            table = screen.feeds
            names = [str(key.value) for key in table.rows]
            return any(table.cell_text(name, "state") == "connected" for name in names)

        await wait_for(pilot, a_feed_is_connected, timeout=START_TIMEOUT_S)
        await pilot.press("q")
    assert app.return_code == 0


async def test_switching_symbol_timeframe_and_help_on_the_live_engine(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    app = DeskApp(InProcessClient(Engine(config)), config)
    async with app.run_test(size=(120, 40)) as pilot:
        ladder = app.screen.query_one(Ladder)
        chart = app.screen.query_one(CandleChart)

        def ladder_on(symbol: str, low: float, high: float) -> bool:
            book = ladder.book
            return (
                book is not None
                and book.symbol == symbol
                and bool(book.bids)
                and low < book.bids[0].price < high
                and not ladder.stale
            )

        # A live engine never lets the app go idle, so waits do not settle (settling would
        # wait out Textual's idle timeout on every step); the palette is tested on the fake.
        def wait(condition: Callable[[], object]) -> Awaitable[None]:
            return wait_for(pilot, condition, START_TIMEOUT_S, settle=False)

        await wait(lambda: ladder_on("BTC-USDT", 10_000, 200_000))
        await pilot.press("s")
        await wait(lambda: ladder_on("ETH-USDT", 500, 20_000))
        await pilot.press("s")
        await wait(lambda: ladder_on("SOL-USDT", 10, 2_000))
        await pilot.press("t")
        await wait(
            lambda: (
                chart.candles is not None
                and chart.candles.timeframe == "5m"  # from 1m (ui.timeframe), the next
                and chart.candles.symbol == "SOL-USDT"
            )
        )
        await pilot.press("question_mark")
        await wait(lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait(lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("q")
    assert app.return_code == 0


async def test_bots_and_signals_modes_drive_the_live_engine(tmp_path: Path) -> None:
    """Pause, resume and re-parameterise a demo bot from the keyboard; the engine obeys and
    records the operator as the one who did it; the signals mode shows live indicators."""
    config = sim_config(tmp_path)
    client = InProcessClient(Engine(config))
    app = DeskApp(client, config)
    async with app.run_test(size=(120, 40)) as pilot:

        def wait(condition: Callable[[], object]) -> Awaitable[None]:
            return wait_for(pilot, condition, START_TIMEOUT_S, settle=False)

        def bot(bot_id: str) -> BotView:
            return next(b for b in client.bots().bots if b.bot_id == bot_id)

        await wait(lambda: app.engine_state == "running")
        await pilot.press("3")
        await wait(lambda: isinstance(app.screen, BotsScreen))
        screen = app.screen
        assert isinstance(screen, BotsScreen)
        await wait(lambda: "ma-fast" in [str(r.key.value) for r in screen.table.ordered_rows])
        screen.select_bot("ma-fast")
        await wait(lambda: screen.selected_bot() == "ma-fast")
        await pilot.press("p")
        await wait(lambda: bot("ma-fast").mode == "paused")
        events = client.bot_detail("ma-fast").events
        assert (events[0].kind, events[0].actor) == ("mode", "operator")
        await wait(lambda: screen.table.cell_text("ma-fast", "mode") == "paused")
        await pilot.press("r")
        await wait(lambda: bot("ma-fast").mode == "auto")
        await pilot.press("e")
        await wait(lambda: isinstance(app.screen, ParamsForm))
        form = app.screen
        assert isinstance(form, ParamsForm)
        form.field("fast").value = "7"
        await pilot.press("ctrl+s")
        await wait(lambda: bot("ma-fast").params["fast"] == 7)
        await wait(lambda: not isinstance(app.screen, ParamsForm))
        assert client.bot_detail("ma-fast").events[0].actor == "operator"
        await pilot.press("4")
        await wait(lambda: isinstance(app.screen, SignalsScreen))
        signals = app.screen
        assert isinstance(signals, SignalsScreen)

        def rows_for_every_symbol() -> bool:
            keys = {str(r.key.value).split("/")[0] for r in signals.indicators.ordered_rows}
            return keys >= set(client.symbols)

        await wait(rows_for_every_symbol)
        await pilot.press("q")
    assert app.return_code == 0
