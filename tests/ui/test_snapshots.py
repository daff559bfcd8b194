"""What a person sees, pinned as SVG snapshots of a frozen market (update: --snapshot-update)."""

from __future__ import annotations

from textual.pilot import Pilot

from desk.core.enums import Mode
from desk.screens.health import HealthScreen
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient

HEALTH_SECONDS = 12


def test_market_mode_at_80x24(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settled)


def test_market_mode_uses_the_room_at_200x60(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(200, 60), run_before=settled)


def test_health_mode_at_80x24(snap_compare) -> None:
    fake = FakeEngineClient()
    fake.binance_feed = True  # the feeds table groups connections by venue

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("5")
        await _health_history(pilot, fake)

    assert snap_compare(make_app(fake), terminal_size=(80, 24), run_before=run_before)


def test_health_mode_at_200x60(snap_compare) -> None:
    fake = FakeEngineClient()
    fake.binance_feed = True  # the feeds table groups connections by venue

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("5")
        await _health_history(pilot, fake)

    assert snap_compare(make_app(fake), terminal_size=(200, 60), run_before=run_before)


def test_help_screen_at_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_live_mode_header_is_alarming_at_80x24(snap_compare) -> None:
    app = make_app(FakeEngineClient(mode=Mode.LIVE))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled)


async def _health_history(pilot: Pilot, fake: FakeEngineClient) -> None:
    """Feed the health screen one new second at a time, so the sparklines have a history."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HealthScreen))
    screen = pilot.app.screen
    assert isinstance(screen, HealthScreen)
    for second in range(HEALTH_SECONDS):
        if second:
            fake.step_health()
        await wait_for(pilot, lambda n=second: len(screen.history.values("cpu")) == n + 1)
    await settled(pilot)
