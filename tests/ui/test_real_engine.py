"""desk on the real in-process engine and the built-in simulator: a living market, offline."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from desk.app import DeskApp
from desk.bridge.inprocess import InProcessClient
from desk.config import DeskConfig, with_simulator
from desk.engine.engine import Engine
from desk.screens.health import HealthScreen
from desk.screens.help import HelpScreen
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
                and chart.candles.timeframe == "3s"
                and chart.candles.symbol == "SOL-USDT"
            )
        )
        await pilot.press("question_mark")
        await wait(lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait(lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("q")
    assert app.return_code == 0
