"""Built-in strategies and the registry that creates them by name (for configs and the UI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk.signals.strategies.bollinger_breakout import BollingerBreakout
from desk.signals.strategies.combination import Combination
from desk.signals.strategies.ma_crossover import MaCrossover
from desk.signals.strategies.macd_trend import MacdTrend
from desk.signals.strategies.rsi_mean_reversion import RsiMeanReversion
from desk.signals.strategy import BaseStrategy

STRATEGIES: dict[str, type[BaseStrategy]] = {
    cls.name: cls
    for cls in (MaCrossover, RsiMeanReversion, MacdTrend, BollingerBreakout, Combination)
}

__all__ = [
    "STRATEGIES",
    "BollingerBreakout",
    "Combination",
    "MaCrossover",
    "MacdTrend",
    "RsiMeanReversion",
    "create_strategy",
]


def create_strategy(name: str, parameters: Mapping[str, Any] | None = None) -> BaseStrategy:
    """A new strategy of the registered ``name``; ValueError for an unknown name or bad params."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise ValueError(f"unknown strategy {name!r}; known: {known}") from None
    return cls(parameters)
