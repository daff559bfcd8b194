"""The engine's health is fetched between frames, not inside a refresh: building it costs
milliseconds (every feed's latency window), and a market frame has no use for it."""

from __future__ import annotations

from typing import Any

from desk.bridge.views import HealthView
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient


async def test_health_is_fetched_after_a_frame_and_drawn_at_the_next_refresh() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)  # health due at every tick
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        refreshing = False
        fetched_while_refreshing: list[bool] = []
        drawn: list[HealthView | None] = []
        refresh, health, sample = app.refresh_views, fake.health, app.screen.sample

        def spied_refresh() -> None:
            nonlocal refreshing
            refreshing = True
            try:
                refresh()
            finally:
                refreshing = False

        def spied_health() -> HealthView:
            fetched_while_refreshing.append(refreshing)
            return health()

        def spied_sample(ctx: Any) -> None:
            drawn.append(ctx.health)
            sample(ctx)

        app.refresh_views = spied_refresh  # type: ignore[method-assign]
        fake.health = spied_health  # type: ignore[method-assign]
        app.screen.sample = spied_sample  # type: ignore[method-assign]
        await wait_for(pilot, lambda: len(fetched_while_refreshing) >= 3)
        assert not any(fetched_while_refreshing)
        fake.step_health()
        version = fake.health_step + 1
        await wait_for(pilot, lambda: any(h is not None and h.version == version for h in drawn))
