"""desk on the real in-process engine and the built-in simulator: a living market, offline."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from desk.config import DeskConfig, with_simulator
from desk.screens.health import HealthScreen
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
    pytest.importorskip("desk.sim.okx", reason="the simulator does not import yet")
    engine_module = pytest.importorskip(
        "desk.engine.engine", reason="the engine does not import yet"
    )
    from desk.app import DeskApp
    from desk.bridge.inprocess import InProcessClient

    config = sim_config(tmp_path)
    client = InProcessClient(engine_module.Engine(config))
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
