"""The standard indicator set over many (symbol, timeframe) series: one thread vs every core.

Prints the time for ``indicator_table`` with ``workers=1`` (the reference, same run) and with
one thread per core, and the speed-up. The kernels release the GIL, so threads scale with cores.

    .venv/bin/python bench/indicator_grid.py [--series 24] [--bars 500000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from desk.signals.batch import indicator_table


def make_series(count: int, bars: int) -> dict[int, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    out = {}
    for key in range(count):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, bars)))
        spread = np.abs(rng.normal(0, 0.05, bars))
        out[key] = {"close": close, "high": close + spread, "low": close - spread}
    return out


def best_of(runs: int, series: dict, workers: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        indicator_table(series, workers=workers)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=24, help="e.g. 3 symbols x 8 timeframes")
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    series = make_series(args.series, args.bars)
    indicator_table({0: series[0]}, workers=1)  # load the compiled kernels
    cores = os.cpu_count() or 1
    one = best_of(args.runs, series, 1)
    many = best_of(args.runs, series, cores)
    total = args.series * args.bars
    print(f"{args.series} series x {args.bars:,} bars, 12 indicators each, best of {args.runs}")
    print(f"  1 thread  (reference): {one * 1e3:8.0f} ms  {total / one / 1e6:6.1f} M bars/s")
    print(f"  {cores} threads          : {many * 1e3:8.0f} ms  {total / many / 1e6:6.1f} M bars/s")
    print(f"  speed-up: {one / many:.2f}x on {cores} cores")


if __name__ == "__main__":
    main()
