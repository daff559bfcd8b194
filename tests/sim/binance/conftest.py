"""Binance simulators for the simulator's own tests, each on a free loopback port.

These ``sim``/``paused`` fixtures replace the OKX ones of ``tests/sim/conftest.py`` here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from desk.sim.binance.simulator import BinanceSimulator
from tests.sim.binance.client import config


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator(config()) as simulator:
        yield simulator


@pytest.fixture
async def paused() -> AsyncIterator[BinanceSimulator]:
    """A simulator whose market moves only by ``step_market`` + ``publish``."""
    async with BinanceSimulator(config(update_interval=3600)) as simulator:
        simulator.pause()
        yield simulator
