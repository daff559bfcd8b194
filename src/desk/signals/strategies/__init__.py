"""Built-in strategies, registered by name in :mod:`desk.signals.strategies.registry`.

``lstm`` (:mod:`.lstm`) is registered like the others; importing it loads no torch (the
first lstm bot to start does). ``arbitrage`` (:mod:`.arbitrage`) trades a cross-venue spread
with two legs of its own; it has no candle path (no backtest).
"""

from __future__ import annotations

from desk.signals.strategies.arbitrage import ArbitrageStrategy
from desk.signals.strategies.bollinger_breakout import BollingerBreakout
from desk.signals.strategies.combination import Combination
from desk.signals.strategies.lstm import LstmStrategy
from desk.signals.strategies.ma_crossover import MaCrossover
from desk.signals.strategies.macd_trend import MacdTrend
from desk.signals.strategies.registry import STRATEGIES, create_strategy
from desk.signals.strategies.rsi_mean_reversion import RsiMeanReversion

STRATEGIES.update(
    {
        cls.name: cls
        for cls in (
            MaCrossover,
            RsiMeanReversion,
            MacdTrend,
            BollingerBreakout,
            Combination,
            LstmStrategy,
            ArbitrageStrategy,
        )
    }
)

__all__ = [
    "STRATEGIES",
    "ArbitrageStrategy",
    "BollingerBreakout",
    "Combination",
    "LstmStrategy",
    "MaCrossover",
    "MacdTrend",
    "RsiMeanReversion",
    "create_strategy",
]
