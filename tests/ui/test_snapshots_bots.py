"""Bots, bot detail and signals modes pinned as SVG snapshots on the frozen fake client
(update: --snapshot-update)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from desk.screens.bot_detail import BotDetailScreen
from desk.screens.bots import BotsScreen
from desk.screens.forms import ParamsForm
from desk.screens.signals import SignalsScreen
from tests.ui.conftest import make_app, settled, wait_for

SIZES = [(80, 24), (200, 60)]


async def _bots(pilot: Pilot) -> BotsScreen:
    await settled(pilot)
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BotsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, BotsScreen)
    await wait_for(pilot, lambda: screen.signals is not None)
    await settled(pilot)
    return screen


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_bots_mode(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_bots)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_bot_detail(snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _bots(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, BotDetailScreen))
        screen = pilot.app.screen
        assert isinstance(screen, BotDetailScreen)
        await wait_for(pilot, lambda: screen.detail is not None)
        await settled(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_params_form_at_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _bots(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ParamsForm))
        await settled(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_signals_mode(snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SignalsScreen))
        screen = pilot.app.screen
        assert isinstance(screen, SignalsScreen)
        await wait_for(pilot, lambda: screen.stream.row_count == 12)
        await settled(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
