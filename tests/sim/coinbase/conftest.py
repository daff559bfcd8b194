"""Coinbase simulators for the simulator's own tests, each on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from desk.sim.coinbase.simulator import CoinbaseSimulator
from tests.sim.coinbase.client import config, products


@pytest.fixture
async def coinbase() -> AsyncIterator[CoinbaseSimulator]:
    async with CoinbaseSimulator(config(), products=products()) as simulator:
        yield simulator


@pytest.fixture
async def paused() -> AsyncIterator[CoinbaseSimulator]:
    """A simulator whose market moves only by ``step_market`` + ``publish``."""
    cfg = config(update_interval=3600)
    async with CoinbaseSimulator(cfg, products=products(), trades_interval=3600) as simulator:
        simulator.pause()
        yield simulator
