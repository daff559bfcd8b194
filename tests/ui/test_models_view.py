"""The model view on the fake client: reached from the signals mode, latency, scores, drift."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from desk.screens.models import ModelsScreen
from desk.screens.signals import SignalsScreen
from desk.widgets.desk_header import DeskHeader
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient
from tests.ui.test_signals_mode import open_signals


async def open_models(pilot: Pilot[Any]) -> ModelsScreen:
    app = pilot.app
    await open_signals(pilot)
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
    screen = app.screen
    assert isinstance(screen, ModelsScreen)
    await wait_for(pilot, lambda: screen.table.row_count == 2 and screen.drift.row_count > 0)
    return screen


async def test_m_opens_the_models_with_latency_scores_and_drift_and_escape_goes_back() -> None:
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_models(pilot)
        table = screen.table
        btc, eth = "lstm-BTC-USDT-1m@3f2a9c1e", "lstm-ETH-USDT-1m@a1b2c3d4"
        assert [str(row.key.value) for row in table.ordered_rows] == [btc, eth]
        assert (table.cell_text(btc, "p50"), table.cell_text(btc, "p99")) == ("36µs", "88µs")
        assert table.cell_text(eth, "wait") == "52.0ms" and table.cell_text(eth, "late") == "41"
        assert table.cell_text(btc, "hit") == "55%" and table.cell_text(btc, "persist") == "31%"
        assert table.cell_text(btc, "major") == "—"  # majority called flat: no calls
        assert table.cell_text(eth, "warn") == "2" and table.cell_text(btc, "age") == "2h00m"
        detail = str(screen.query_one("#model-detail").render())
        assert "trained 2024-01-01T00:00:00+00:00 → 2024-01-02T00:00:00+00:00" in detail
        assert "persistence acc 39% hit 31% (240 calls)" in detail and "Brier 0.598" in detail
        assert screen.drift.cell_text("spread_bps", "state") == "ok"

        await pilot.press("down")  # the drifting model
        await wait_for(pilot, lambda: screen.drift.cell_text("spread_bps", "state") == "drift")
        assert screen.drift.cell_text("spread_bps", "psi") == "0.71"
        assert screen.drift.cell_text("ret_1", "state") == "ok"
        warnings = str(screen.query_one("#model-warnings").render())
        assert "spread_bps 0.71" in warnings and "late 41/200" in warnings
        assert "no training bins" in str(screen.query_one("#model-detail").render())

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalsScreen))


async def test_model_warnings_show_in_every_header() -> None:
    fake = FakeEngineClient()
    fake.model_warnings = ["up@ab12cd34: drift PSI > 0.25: spread_bps 0.71", "x: late 3/9"]
    app = make_app(fake)
    async with app.run_test(size=(200, 40)) as pilot:
        await settled(pilot)
        header = app.screen.query_one(DeskHeader)
        await wait_for(pilot, lambda: "MODEL" in header.text_of("header-alert"))
        assert header.text_of("header-alert") == (
            " MODEL up@ab12cd34: drift PSI > 0.25: spread_bps 0.71 (+1) "
        )
        fake.model_warnings = []
        await wait_for(pilot, lambda: header.text_of("header-alert") == "")


async def test_no_live_model_says_how_to_get_one() -> None:
    fake = FakeEngineClient()
    fake.model_list = []
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_signals(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await wait_for(
            pilot, lambda: "no live model" in str(screen.query_one("#models-summary").render())
        )
        assert screen.table.row_count == 0 and screen.drift.row_count == 0
