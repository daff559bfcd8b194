"""Three venues on a frozen market, pinned as SVG snapshots (update: --snapshot-update)."""

from __future__ import annotations

from textual.pilot import Pilot

from desk.screens.cross_venue import CrossVenueScreen
from desk.widgets.consolidated_ladder import ConsolidatedLadder
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.venue_fakes import VENUES


async def _merged(pilot: Pilot) -> None:
    await settled(pilot)
    await pilot.press("v", "v", "v")
    ladder = pilot.app.screen.query_one(ConsolidatedLadder)
    await wait_for(pilot, lambda: ladder.display and bool(ladder.rows))
    await settled(pilot)


async def _cross_venue_eth(pilot: Pilot) -> None:
    await settled(pilot)
    await pilot.press("x")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CrossVenueScreen))
    await pilot.press("s")
    screen = pilot.app.screen
    assert isinstance(screen, CrossVenueScreen)
    await wait_for(pilot, lambda: screen.matrix.positive_cells() != [])
    await settled(pilot)


def test_consolidated_ladder_at_80x24(snap_compare) -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_merged)


def test_consolidated_ladder_at_200x60(snap_compare) -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    assert snap_compare(app, terminal_size=(200, 60), run_before=_merged)


def test_spread_matrix_at_80x24(snap_compare) -> None:
    app = make_app(FakeEngineClient(venues=VENUES))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_cross_venue_eth)
