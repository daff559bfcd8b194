"""The health mode shows the latency distributions live: exchange-to-receive per venue and the
bots' tick-to-order, p50/p90/p99/max, how many, and a bar histogram on a shared log axis."""

from __future__ import annotations

from textual.pilot import Pilot

from desk.bridge.views import LatencyView
from desk.screens.health import HealthScreen
from desk.widgets.health_latency import LatencyTable
from desk.widgets.latency_bars import fmt_latency_ns, latency_row
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient, latency

MS = 1_000_000


async def _health(pilot: Pilot) -> HealthScreen:
    await settled(pilot)
    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HealthScreen))
    screen = pilot.app.screen
    assert isinstance(screen, HealthScreen)
    await wait_for(pilot, lambda: bool(screen.latency.latency_rows))
    await settled(pilot)
    return screen


def _cells(table: LatencyTable, key: str) -> dict[str, str]:
    return {c.key: table.cell_text(key, c.key) for c in table.COLUMNS}


async def test_each_distribution_is_a_row_with_its_percentiles_and_a_bar() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _health(pilot)
        table = screen.latency
        assert table.border_title == "latency · since the engine started"
        for view in fake.latencies:
            row = latency_row(view)
            cells = _cells(table, f"{view.path}:{view.name}")
            assert cells["name"] == view.name
            assert (cells["p50"], cells["p90"], cells["p99"], cells["max"]) == tuple(
                fmt_latency_ns(v) for v in (row.p50, row.p90, row.p99, row.max)
            )
            assert cells["n"] == str(view.count)
            assert cells["dist"].strip(), "a histogram is drawn"
        okx = _cells(table, "exchange:okx")
        bots = _cells(table, "tick_to_order:bots")
        assert okx["path"] == "exch→recv" and bots["path"] == "tick→order"
        assert okx["max"] == fmt_latency_ns(fake.latencies[0].max_ns)


async def test_a_distribution_without_samples_says_so() -> None:
    fake = FakeEngineClient()
    fake.latencies = [fake.latencies[0], LatencyView(name="bots", path="tick_to_order")]
    app = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _health(pilot)
        cells = _cells(screen.latency, "tick_to_order:bots")
        assert (cells["p50"], cells["n"], cells["dist"]) == ("—", "0", "no samples yet")


async def test_after_a_minute_of_history_the_figures_are_the_last_minutes() -> None:
    """The engine's counts are since its start; the screen shows now minus a minute ago."""
    fake = FakeEngineClient()
    base = [1 * MS] * 200
    fake.latencies = [latency("okx", "exchange", base)]
    app = make_app(fake, refresh_hz=60)  # a health sample per refresh: 61 of them, quickly
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _health(pilot)
        for second in range(1, 62):
            if second == 61:  # the last minute brought seven slow ones
                fake.latencies = [latency("okx", "exchange", base + [40 * MS] * 7)]
            fake.step_health()
            await wait_for(
                pilot, lambda n=second: len(screen.history.latency) == n + 1, settle=False
            )
        await settled(pilot)
        table = screen.latency
        assert table.border_title == "latency · last 60s"
        cells = _cells(table, "exchange:okx")
        assert cells["n"] == "7"
        assert (cells["p50"], cells["p99"], cells["max"]) == ("40ms", "40ms", "40ms")
