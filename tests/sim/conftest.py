"""Simulators for the simulator's own tests, each on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import config


@pytest.fixture
async def sim() -> AsyncIterator[OkxSimulator]:
    async with OkxSimulator(config()) as simulator:
        yield simulator


@pytest.fixture
async def paused() -> AsyncIterator[OkxSimulator]:
    """A simulator whose market moves only by ``step_market`` + ``publish``."""
    async with OkxSimulator(config(update_interval=3600)) as simulator:
        simulator.pause()
        yield simulator
