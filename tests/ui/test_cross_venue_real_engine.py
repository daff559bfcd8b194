"""Three venues on the real engine and the built-in simulator: the merged ladder and the
cross-venue view show every venue's live book (nothing faked between the feeds and the UI)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from desk.app import DeskApp
from desk.clients.inprocess import InProcessClient
from desk.config import DeskConfig, with_simulator
from desk.engine.engine import Engine
from desk.screens.cross_venue import CrossVenueScreen
from desk.widgets.candle_chart import CandleChart
from desk.widgets.consolidated_ladder import ConsolidatedLadder
from desk.widgets.consolidated_rows import ASK, BID
from tests.ui.conftest import wait_for

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 60.0
VENUES = ("okx", "binance", "coinbase")


def three_venue_config(tmp_path: Path) -> DeskConfig:
    config = with_simulator(DeskConfig(), all_venues=True)
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "desk.sqlite"))
    return msgspec.structs.replace(config, storage=storage, bots=())


async def test_the_merged_ladder_and_the_cross_venue_view_show_all_three_live_venues(
    tmp_path: Path,
) -> None:
    config = three_venue_config(tmp_path)
    client = InProcessClient(Engine(config))
    app = DeskApp(client, config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: client.venues == VENUES, timeout=START_TIMEOUT_S)
        symbol = app.symbol
        await wait_for(
            pilot,
            lambda: all(client.book(symbol, 5, v).bids for v in VENUES),
            timeout=START_TIMEOUT_S,
        )
        await pilot.press("v")  # Binance's ladder: the chart draws Binance's own candles
        chart = app.screen.query_one(CandleChart)

        def binance_candles() -> bool:
            candles = chart.candles
            return candles is not None and candles.venue == "binance" and bool(candles.candles)

        await wait_for(pilot, binance_candles, timeout=START_TIMEOUT_S, settle=False)
        assert chart.border_title.endswith("· binance")
        await pilot.press("v", "v")
        merged = app.screen.query_one(ConsolidatedLadder)

        def every_venue_on_the_ladder() -> bool:
            venues = {row.venue for row in merged.rows if row.kind in (ASK, BID)}
            return merged.display and venues == set(VENUES)

        await wait_for(pilot, every_venue_on_the_ladder, timeout=START_TIMEOUT_S, settle=False)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, CrossVenueScreen))
        screen = app.screen
        assert isinstance(screen, CrossVenueScreen)

        def three_tops_and_a_full_matrix() -> bool:
            row = client.cross_venue().symbol(symbol)
            return row is not None and len(row.tops) == 3 and len(row.spreads) == 6

        await wait_for(pilot, three_tops_and_a_full_matrix, timeout=START_TIMEOUT_S, settle=False)
        await wait_for(pilot, lambda: len(screen.matrix.plain) >= 9, settle=False)
        tags = [line.split()[0] for line in screen.matrix.plain[1:4]]
        assert tags == ["OKX", "BIN", "CB"]
