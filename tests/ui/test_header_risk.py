"""Every screen's header says when trading is halted or reducing, and when that state was
brought back from the last run: after a restart the operator sees why nothing trades."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from desk.app import DeskApp
from desk.bridge.views import HealthView
from desk.clients.inprocess import InProcessClient
from desk.core.commands import Halt
from desk.engine.engine import Engine
from desk.screens.confirm import ConfirmScreen
from desk.screens.market import MarketScreen
from desk.screens.trading import TradingScreen
from desk.widgets.desk_header import risk_badge
from tests.ui.conftest import make_app, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.test_real_engine import START_TIMEOUT_S, sim_config


class RiskClient(FakeEngineClient):
    """The fake engine with a risk state the test sets."""

    def __init__(self) -> None:
        super().__init__()
        self.risk: dict[str, object] = {"risk_state": "active"}

    def health(self) -> HealthView:
        return msgspec.structs.replace(super().health(), **self.risk)


def _health(state: str, reason: str = "", restored: bool = False) -> HealthView:
    return msgspec.structs.replace(
        FakeEngineClient().health(), risk_state=state, risk_reason=reason, risk_restored=restored
    )


def test_the_badge_names_the_state_and_a_restored_reason() -> None:
    assert risk_badge(None) == ("", "")
    assert risk_badge(_health("active")) == ("", "")
    assert risk_badge(_health("")) == ("", "")  # an engine without execution
    assert risk_badge(_health("halted", "lunch")) == (" HALTED ", "halted")
    assert risk_badge(_health("reducing", "daily loss", restored=True)) == (
        " REDUCING (restored: daily loss) ",
        "reducing",
    )
    long = risk_badge(_health("halted", "x" * 100, restored=True))[0]
    assert long == f" HALTED (restored: {'x' * 39}…) "


async def test_the_header_shows_a_halt_on_every_screen_and_clears_on_resume() -> None:
    client = RiskClient()
    client.risk = {"risk_state": "halted", "risk_reason": "lunch", "risk_restored": True}
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))
        header = app.screen.header
        await wait_for(pilot, lambda: header.text_of("header-risk") == " HALTED (restored: lunch) ")
        assert header.query_one("#header-risk").has_class("-halted")
        await pilot.press("5")
        await wait_for(pilot, lambda: app.screen.header is not header)
        other = app.screen.header
        await wait_for(pilot, lambda: other.text_of("header-risk") == " HALTED (restored: lunch) ")
        client.risk = {"risk_state": "active", "risk_reason": "resumed", "risk_restored": False}
        await wait_for(pilot, lambda: other.text_of("header-risk") == "")
        assert not other.query_one("#header-risk").has_class("-halted")


@pytest.mark.integration
async def test_a_desk_halted_before_a_restart_says_so_until_the_operator_resumes(
    tmp_path: Path,
) -> None:
    """The real engine on the simulator: halted by ana, stopped; a new desk on the same file
    comes back halted, the header says why, and the operator's resume (R, y) clears it."""
    config = sim_config(tmp_path)
    first = Engine(config)
    await first.start()
    try:
        ack = await first.commands.execute(Halt(reason="lunch break", actor="ana"))
        assert ack.accepted, ack.reason
    finally:
        await first.stop()

    app = DeskApp(InProcessClient(Engine(config)), config)
    async with app.run_test(size=(120, 40)) as pilot:

        def wait(condition: Callable[[], object]) -> Awaitable[None]:
            return wait_for(pilot, condition, START_TIMEOUT_S, settle=False)

        await wait(lambda: isinstance(app.screen, MarketScreen))
        header = app.screen.header
        await wait(lambda: header.text_of("header-risk") == " HALTED (restored: lunch break) ")
        assert header.query_one("#header-risk").has_class("-halted")

        await pilot.press("2")
        await wait(lambda: isinstance(app.screen, TradingScreen) and app.screen.view is not None)
        screen = app.screen
        assert isinstance(screen, TradingScreen)
        assert screen.view is not None and screen.view.risk_state == "halted"
        screen.open_orders.focus()
        await pilot.press("R")
        await wait(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait(lambda: screen.header.text_of("header-risk") == "")
        assert screen.view is not None
        await wait(lambda: screen.view is not None and screen.view.risk_state == "active")
        await pilot.press("q")
    assert app.return_code == 0
