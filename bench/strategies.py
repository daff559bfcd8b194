"""Strategy throughput: batch ``signals(df)`` on 1M candles and the live ``on_candle`` path.

Prints figures only (never asserts), per built-in strategy (default parameters; the
combination confirms MA crossover, MACD and Bollinger with min_agree 2):

* batch: ms for ``signals(df)`` over ``--bars`` candles (best of ``--runs`` after a warm-up
  call that loads the numba kernels), with the number of signals and candles/s;
* streaming: candles/s through ``on_candle`` over ``--stream-bars`` prebuilt closed candles
  (one pass after a warm-up pass, reset between), and microseconds per candle.

    .venv/bin/python bench/strategies.py [--bars 1000000] [--runs 3] [--stream-bars 100000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd

from desk.core.events import Candle
from desk.signals.strategies import create_strategy

CASES: list[tuple[str, dict[str, Any]]] = [
    ("ma_crossover", {}),
    ("rsi_mean_reversion", {}),
    ("macd_trend", {}),
    ("bollinger_breakout", {}),
    (
        "combination",
        {
            "min_agree": 2,
            "children": [
                {"name": "ma_crossover"},
                {"name": "macd_trend"},
                {"name": "bollinger_breakout"},
            ],
        },
    ),
]


def random_walk(n: int, seed: int = 0) -> pd.DataFrame:
    """A 1-minute random walk with wicks and volume."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    opens = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.0005, (2, n))) * close
    return pd.DataFrame(
        {
            "end": (np.arange(n, dtype=np.int64) + 1) * 60_000_000_000,
            "open": opens,
            "high": np.maximum(opens, close) + wick[0],
            "low": np.minimum(opens, close) - wick[1],
            "close": close,
            "volume": rng.uniform(0.0, 10.0, n),
        }
    )


def to_candles(df: pd.DataFrame) -> list[Candle]:
    cols = [df[c].to_numpy() for c in ("end", "open", "high", "low", "close", "volume")]
    return [
        Candle(
            ts_exchange=int(e),
            ts_recv=int(e),
            venue="sim",
            symbol="BTC-USDT",
            timeframe="1m",
            end=int(e),
            open=float(o),
            high=float(h),
            low=float(lo),
            close=float(c),
            volume=float(v),
            quote_volume=float(v * c),
            trades=1,
            closed=True,
        )
        for e, o, h, lo, c, v in zip(*cols, strict=True)
    ]


def bench_batch(df: pd.DataFrame, runs: int) -> None:
    print(f"batch signals(df) on {len(df):,} candles (best of {runs})")
    for name, params in CASES:
        strategy = create_strategy(name, params)
        strategy.signals(df.iloc[:1000])  # load the kernels
        best, count = float("inf"), 0
        for _ in range(runs):
            t0 = time.perf_counter()
            count = len(strategy.signals(df))
            best = min(best, time.perf_counter() - t0)
        rate = len(df) / best / 1e6
        print(f"  {name:20s} {best * 1e3:9.1f} ms  {count:8,} signals  {rate:6.1f} M candles/s")


def bench_stream(bars: list[Candle]) -> None:
    print(f"streaming on_candle over {len(bars):,} candles")
    for name, params in CASES:
        strategy = create_strategy(name, params)
        for bar in bars[:1000]:
            strategy.on_candle(bar)
        strategy.reset()
        t0 = time.perf_counter()
        emitted = sum(strategy.on_candle(bar) is not None for bar in bars)
        dt = time.perf_counter() - t0
        per = dt / len(bars) * 1e6
        print(f"  {name:20s} {len(bars) / dt:11,.0f} candles/s  {per:6.2f} us/candle  {emitted:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream-bars", type=int, default=100_000)
    args = parser.parse_args()
    df = random_walk(args.bars)
    bench_batch(df, args.runs)
    bench_stream(to_candles(df.iloc[: args.stream_bars]))


if __name__ == "__main__":
    main()
