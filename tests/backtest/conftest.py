"""Shared candles for the backtest tests: small, seeded random walks with wicks."""

from __future__ import annotations

import numpy as np
import pytest

from desk.backtest.data import Candles
from desk.market.instruments import Instrument

MINUTE_NS = 60_000_000_000


def walk(n: int, seed: int = 0, start: float = 100.0, vol: float = 0.01) -> Candles:
    """A 1-minute random walk: open = previous close, wicks around the body."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    opens = np.concatenate([[start], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol / 2, (2, n))) * close
    return Candles(
        symbol="TEST-USDT",
        timeframe="1m",
        venue="test",
        source="walk",
        end=(np.arange(n, dtype=np.int64) + 1_000_000) * MINUTE_NS,
        open=opens,
        high=np.maximum(opens, close) + wick[0],
        low=np.minimum(opens, close) - wick[1],
        close=close,
        volume=rng.uniform(0.0, 10.0, n),
    )


def bars(opens, highs, lows, closes) -> Candles:
    """Hand-made 1-minute candles."""
    n = len(closes)
    return Candles(
        symbol="TEST-USDT",
        timeframe="1m",
        venue="test",
        source="hand",
        end=(np.arange(n, dtype=np.int64) + 1) * MINUTE_NS,
        open=np.array(opens, dtype=float),
        high=np.array(highs, dtype=float),
        low=np.array(lows, dtype=float),
        close=np.array(closes, dtype=float),
        volume=np.ones(n),
    )


INSTRUMENT = Instrument(
    venue="test",
    symbol="TEST-USDT",
    base="TEST",
    quote="USDT",
    tick_size="0.01",
    lot_size="0.001",
    min_size="0.01",
)


@pytest.fixture(scope="session")
def candles() -> Candles:
    return walk(2_000, seed=3)
