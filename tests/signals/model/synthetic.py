"""Synthetic market series for the model's tests: random walks and planted structure."""

from __future__ import annotations

import numpy as np

from desk.signals.model.config import ModelConfig, TrainConfig, TrainSpec
from desk.signals.model.data import MarketSeries
from desk.signals.model.labels import LabelConfig

NS_PER_MIN = 60 * 1_000_000_000
START_NS = 1_704_067_200 * 1_000_000_000

TINY = ModelConfig(hidden=16, layers=1, attention=8, head=8, window=8, burn_in=8, dropout=0.0)


def tiny_spec(**train: object) -> TrainSpec:
    """A small model and label setup that trains in a second or two."""
    options = {"epochs": 6, "batch_size": 64, "patience": 2, "learning_rate": 3e-3, **train}
    return TrainSpec(
        model=TINY,
        labels=LabelConfig(horizon=1, dead_band_bps=4.0),
        train=TrainConfig(**options),  # type: ignore[arg-type]
    )


def _series(
    returns_bps: np.ndarray, rng: np.random.Generator, flow: np.ndarray, symbol: str, book: bool
) -> MarketSeries:
    n = len(returns_bps)
    close = 100.0 * np.exp(np.cumsum(returns_bps) * 1e-4)
    wiggle = np.abs(rng.normal(0.0, 5e-4, (2, n)))
    opens = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(opens, close) * (1.0 + wiggle[0])
    low = np.minimum(opens, close) * (1.0 - wiggle[1])
    volume = rng.exponential(10.0, n)
    extra: dict[str, np.ndarray] = {}
    if book:
        half = close * rng.uniform(0.2e-4, 1.0e-4, n)
        extra = {
            "bid_sizes": rng.exponential(1.0, (n, 5)),
            "ask_sizes": rng.exponential(1.0, (n, 5)),
            "bid": close - half,
            "ask": close + half,
            "buy_volume": volume * (1.0 + flow) / 2.0,
            "sell_volume": volume * (1.0 - flow) / 2.0,
        }
    ends = START_NS + NS_PER_MIN * np.arange(1, n + 1, dtype=np.int64)
    return MarketSeries(symbol, "1m", "synthetic", ends, opens, high, low, close, volume, **extra)


def random_walk(n: int, seed: int = 1, symbol: str = "RW-USDT", book: bool = True) -> MarketSeries:
    """Log-normal random walk, 10 bps per bar, with random book and flow inputs: no edge."""
    rng = np.random.default_rng(seed)
    flow = rng.uniform(-1.0, 1.0, n)
    return _series(rng.normal(0.0, 10.0, n), rng, flow, symbol, book)


def planted(n: int, seed: int = 2, lag: int = 3, symbol: str = "PL-USDT") -> MarketSeries:
    """The bar after t moves 20 bps in the direction of the trade flow ``lag`` bars before t.

    A sequence model can remember the flow; the bar's own features (what the logistic baseline
    sees) and the last move (persistence) carry nothing of it.
    """
    rng = np.random.default_rng(seed)
    flow = rng.uniform(-1.0, 1.0, n)
    r = rng.normal(0.0, 6.0, n)
    r[lag + 1 :] += 20.0 * np.sign(flow[: n - lag - 1])
    return _series(r, rng, flow, symbol, book=True)
