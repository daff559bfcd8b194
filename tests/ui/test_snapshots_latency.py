"""The health mode's latency histograms on a frozen state, pinned as an SVG snapshot
(update: --snapshot-update): three venues' exchange-to-receive and the bots' tick-to-order."""

from __future__ import annotations

import random

from textual.pilot import Pilot

from desk.screens.health import HealthScreen
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient, latency


def _venues() -> FakeEngineClient:
    """OKX as the fake has it, a slower Binance with a second mode, a Coinbase that lags."""
    fake = FakeEngineClient()
    rng = random.Random(1616)
    binance = [int(rng.lognormvariate(15.2, 0.4)) for _ in range(3000)]
    binance += [int(rng.lognormvariate(17.5, 0.3)) for _ in range(400)]
    coinbase = [int(rng.lognormvariate(18.6, 0.9)) for _ in range(800)]
    okx, bots = fake.latencies
    fake.latencies = [
        okx,
        latency("binance", "exchange", binance),
        latency("coinbase", "exchange", coinbase),
        bots,
    ]
    return fake


def test_health_mode_latency_histograms_at_120x34(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HealthScreen))
        screen = pilot.app.screen
        assert isinstance(screen, HealthScreen)
        await wait_for(pilot, lambda: len(screen.latency.latency_rows) == 4)
        await settled(pilot)

    assert snap_compare(make_app(_venues()), terminal_size=(120, 34), run_before=run_before)
