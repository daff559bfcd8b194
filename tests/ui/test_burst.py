"""A firehose of book changes costs at most one redraw per refresh, and keys still answer."""

from __future__ import annotations

import asyncio

from textual.events import Key

from desk.screens.health import HealthScreen
from desk.widgets.ladder import Ladder
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient

BUMPS_PER_TURN = 500


async def test_thousands_of_book_versions_between_refreshes_redraw_once_per_refresh() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        ladder = app.screen.query_one(Ladder)
        draws, refreshes, book_calls = ladder.draws, app.refreshes, fake.calls["book"]
        stop = asyncio.Event()
        bumped = 0

        async def firehose() -> None:
            nonlocal bumped
            while not stop.is_set():
                fake.bump_book("BTC-USDT", BUMPS_PER_TURN)  # as many versions as 500 ticks
                bumped += BUMPS_PER_TURN
                await asyncio.sleep(0)

        task = asyncio.create_task(firehose())
        try:
            await wait_for(pilot, lambda: app.refreshes >= refreshes + 10, settle=False)
            app.post_message(Key("5", "5"))  # a key during the firehose is answered
            await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen), settle=False)
            market_refreshes = app.refreshes - refreshes
            market_draws = ladder.draws - draws
            hidden_draws = ladder.draws
            hidden_from = app.refreshes
            await wait_for(pilot, lambda: app.refreshes >= hidden_from + 5, settle=False)
        finally:
            stop.set()
            await task
        assert bumped >= 1000 * 5, "the firehose really ran"
        assert 1 <= market_draws <= market_refreshes
        assert fake.calls["book"] - book_calls <= market_refreshes
        assert ladder.draws == hidden_draws, "a hidden ladder does no work"
