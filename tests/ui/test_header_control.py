"""An attached UI says in the header whether it holds control or only watches."""

from __future__ import annotations

from desk.screens.market import MarketScreen
from tests.ui.conftest import make_app, wait_for
from tests.ui.fakes import FakeEngineClient


async def test_header_shows_read_only_then_control() -> None:
    client = FakeEngineClient()
    client.control_status = "READ-ONLY (held by ana@desk1)"  # type: ignore[attr-defined]
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))
        header = app.screen.header
        await wait_for(pilot, lambda: "READ-ONLY" in header.text_of("header-control"))
        assert header.query_one("#header-control").has_class("-read-only")
        client.control_status = "CONTROL"  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: header.text_of("header-control") == " CONTROL ")
        assert not header.query_one("#header-control").has_class("-read-only")


async def test_an_in_process_desk_shows_no_control_label() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.header.text_of("header-clock") != "")
        assert app.screen.header.text_of("header-control") == ""
