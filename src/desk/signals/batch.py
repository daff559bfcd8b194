"""The standard indicator set over many series at once, on every core.

Research, backtests and warm-ups need indicators for many (symbol, timeframe) series. The
kernels release the GIL, so one thread per core runs them truly in parallel without the cost of
processes (no pickling of arrays). The live path does not need this: its streaming updaters are
O(1) per candle.

    table = indicator_table({("BTC-USDT", "1m"): {"high": h, "low": l, "close": c}, ...})
    table[("BTC-USDT", "1m")]["rsi_14"]
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from desk.signals import indicators as ind
from desk.signals.indicators import FloatArray

Series = Mapping[str, FloatArray]
K = TypeVar("K", bound=Hashable)


def standard_set(series: Series) -> dict[str, FloatArray]:
    """SMA/EMA 20, RSI 14, MACD 12/26/9, Bollinger 20/2, ATR 14, z-score 20, volatility 20."""
    close = np.ascontiguousarray(series["close"], dtype=np.float64)
    high = np.ascontiguousarray(series.get("high", close), dtype=np.float64)
    low = np.ascontiguousarray(series.get("low", close), dtype=np.float64)
    macd, signal, hist = ind.macd(close)
    upper, middle, lower = ind.bollinger(close, 20, 2.0)
    return {
        "sma_20": ind.sma(close, 20),
        "ema_20": ind.ema(close, 20),
        "rsi_14": ind.rsi(close, 14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "atr_14": ind.atr(high, low, close, 14),
        "zscore_20": ind.zscore(close, 20),
        "vol_20": ind.realized_vol(close, 20),
    }


def indicator_table(
    series: Mapping[K, Series], *, workers: int | None = None
) -> dict[K, dict[str, FloatArray]]:
    """:func:`standard_set` for every series, ``workers`` threads at a time (default: cores).

    ``workers=1`` runs in this thread, one series after another (the same numbers).
    """
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(series) <= 1:
        return {key: standard_set(s) for key, s in series.items()}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="indicators") as pool:
        results = pool.map(standard_set, series.values())
        return dict(zip(series, results, strict=True))
