"""The trading mode as a person sees it, pinned as SVG snapshots (update: --snapshot-update)."""

from __future__ import annotations

from textual.pilot import Pilot

from desk.screens.trading import TradingScreen
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.trading_fakes import TradingFakeClient


async def _filled_ticket(pilot: Pilot) -> None:
    """Trading mode with a ticket filled in (size typed), the focus on the open orders."""
    app = pilot.app
    await settled(pilot)
    await pilot.press("2")
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, TradingScreen)
            and app.screen.view is not None
            and app.screen.ticket.price_input.value != ""
        ),
    )
    screen = app.screen
    assert isinstance(screen, TradingScreen)
    screen.ticket.size_input.focus()
    await pilot.press(*"0.015")
    await wait_for(pilot, lambda: screen.ticket.check.ok)
    await pilot.press("escape")  # the open orders take the focus (no blinking cursor)
    await wait_for(pilot, lambda: screen.open_orders.has_focus)
    await settled(pilot)


def test_trading_mode_at_120x40(snap_compare) -> None:
    app = make_app(TradingFakeClient())
    assert snap_compare(app, terminal_size=(120, 40), run_before=_filled_ticket)


def test_trading_mode_at_80x24(snap_compare) -> None:
    app = make_app(TradingFakeClient())
    assert snap_compare(app, terminal_size=(80, 24), run_before=_filled_ticket)
