"""Shared pieces of the UI tests: an app on the fake client, and waiting on conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from textual.pilot import Pilot

from desk.app import DeskApp
from desk.config import DeskConfig
from tests.ui.fakes import FakeEngineClient, frozen_clock

WAIT_TIMEOUT_S = 20.0


def make_config(**ui: Any) -> DeskConfig:
    config = DeskConfig()
    return msgspec.structs.replace(config, ui=msgspec.structs.replace(config.ui, **ui))


def make_app(client: FakeEngineClient | None = None, **ui: Any) -> DeskApp:
    """A desk on the fake client with the clock frozen, so every run draws the same picture."""
    return DeskApp(
        client or FakeEngineClient(), make_config(**ui), clock=frozen_clock, health_every_s=0.0
    )


async def wait_for(
    pilot: Pilot[Any],
    condition: Callable[[], object],
    timeout: float = WAIT_TIMEOUT_S,
    settle: bool = True,
) -> None:
    """Let the app run until ``condition()`` is true; fail after a generous ``timeout``.

    ``settle`` then waits for the app to go idle (pointless while a firehose keeps it busy).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
    if settle:
        await pilot.pause()


async def settled(pilot: Pilot[Any]) -> None:
    """Until the screen on top has been sampled twice (first draw done, second a no-op)."""
    app = pilot.app
    start = app.refreshes
    await wait_for(pilot, lambda: app.refreshes >= start + 2 and getattr(app.screen, "samples", 1))
    await pilot.pause()


@pytest.fixture
def fake() -> FakeEngineClient:
    return FakeEngineClient()
