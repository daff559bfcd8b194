"""Backtest and sweep throughput, compile cost and sweep memory (figures only, never asserts).

On a seeded 1-minute random walk, with MA crossover (SMA), fills at the next open, 5 bps
taker fees, fixed size 1 (no leverage cap):

* **one backtest** of ``--bars`` bars: desk end to end (batch signals + kernel + metrics) and
  the kernel alone (from events, keeping the curves; and as a sweep runs it: from the
  strategy's candidate codes, statistics only), in bars/s (best of ``--runs``, warm), beside
  a bare numba loop (SMA by
  running sums, crossover, fills and fees fused in one loop: the ceiling for one thread) and,
  when ``vectorbt`` imports (``pip install -e '.[bench]'``), vectorbt's
  ``Portfolio.from_signals`` on the same signals with the same semantics (signals shifted one
  bar, filled at the open); the final equity of each is printed, and desk's and vectorbt's
  must agree;
* **a sweep** of ``--bars`` x ``--combos`` parameter sets (fast 5..50 x slow 60..150) on 1 and
  2 loky workers, in bar x combos/s, beside the bare loop over the same grid on one thread and
  vectorbt's own end-to-end sweep of the grid (its MA, crossings and from_signals over all
  columns at once), with how many final equities agree with desk's (desk computes each
  moving average once per worker: the sweep reuses indicators, see
  :func:`desk.signals.indicators.reuse`; and runs a chunk's parameter sets together through
  the lockstep kernel of :mod:`desk.backtest.lockstep`, 16 per SIMD group, making each MA
  crossover's codes from the shared averages as it goes);
* **first call** in a fresh process, compiling (an empty numba cache) and loading the cache,
  beside the warm call: one backtest, and a sweep of 16 parameter sets (one lockstep group)
  in the same process;
* **peak memory** (max RSS of the parent and of any worker) of a ``--peak-combos`` sweep of
  ``--peak-bars`` bars on 2 workers.

    .venv/bin/python bench/backtest.py [--bars 1000000] [--combos 100] [--runs 3]
        [--peak-combos 10000] [--peak-bars 20000] [--skip SECTION ...]

vectorbt is found by a plain import: install the ``bench`` extra, or point PYTHONPATH at a
separate install (``PYTHONPATH=/tmp/vbt .venv/bin/python bench/backtest.py``); it is never a
dependency of desk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numba
import numpy as np

from desk.backtest.config import BacktestConfig
from desk.backtest.data import Candles
from desk.backtest.events import signal_events
from desk.backtest.grid import Grid
from desk.backtest.kernel import simulate
from desk.backtest.run import backtest, make_strategy
from desk.backtest.sweep import sweep

FEE_BPS = 5.0
CASH = 10_000.0
CONFIG = BacktestConfig(
    cash=CASH, sizing="fixed", size=1.0, taker_bps=FEE_BPS, leverage=None, fill="open"
)
PARAMS = {"fast": 10, "slow": 30}


def random_walk(n: int, seed: int = 0) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    opens = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.0005, (2, n))) * close
    return Candles(
        symbol="BENCH-USDT",
        timeframe="1m",
        venue="bench",
        source="random walk",
        end=(np.arange(n, dtype=np.int64) + 1) * 60_000_000_000,
        open=opens,
        high=np.maximum(opens, close) + wick[0],
        low=np.minimum(opens, close) - wick[1],
        close=close,
        volume=rng.uniform(0.0, 10.0, n),
    )


@numba.njit(cache=True, nogil=True)
def bare_loop(open_, close, fast, slow, size, fee, cash):
    """SMA(fast/slow) crossover by running sums, next-open fills, fees: one fused loop."""
    n = close.shape[0]
    sf = 0.0
    ss = 0.0
    prev_f = math.nan
    prev_s = math.nan
    state = 0
    pending = 0.0
    pos = 0.0
    for i in range(n):
        if pending != 0.0:
            px = open_[i]
            cash -= pending * px + abs(pending) * px * fee
            pos += pending
            pending = 0.0
        c = close[i]
        sf += c
        ss += c
        if i >= fast:
            sf -= close[i - fast]
        if i >= slow:
            ss -= close[i - slow]
        f = sf / fast if i >= fast - 1 else math.nan
        s = ss / slow if i >= slow - 1 else math.nan
        want = 0
        if prev_f <= prev_s and f > s:
            want = 1
        elif prev_f >= prev_s and f < s:
            want = -1
        if want != 0 and want != state:
            state = want
            if i + 1 < n:
                pending = want * size - pos
        prev_f = f
        prev_s = s
    return cash + pos * close[n - 1]


def best_of(runs: int, fn) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def vectorbt() -> Any:
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    return vbt


def one_backtest(c: Candles, runs: int) -> None:
    n = len(c)
    print(f"== one backtest: MA crossover {PARAMS}, {n:,} bars, best of {runs} (warm)")
    backtest(c.window(0, 1000), "ma_crossover", PARAMS, CONFIG)  # load the kernels
    t, result = best_of(runs, lambda: backtest(c, "ma_crossover", PARAMS, CONFIG))
    print(f"desk end to end     {t * 1e3:9.1f} ms  {n / t / 1e6:8.1f} M bars/s  "
          f"equity {result.equity[-1]:.6f}  ({int(result.metrics['trades'])} trades)")  # fmt: skip
    strategy = make_strategy("ma_crossover", PARAMS)
    events = signal_events(strategy, c.arrays())
    t, _ = best_of(runs, lambda: simulate(c.arrays(), events, CONFIG))
    print(f"desk kernel alone   {t * 1e3:9.1f} ms  {n / t / 1e6:8.1f} M bars/s  (events, curves)")
    codes = strategy.batch_codes(c.arrays())
    t, _ = best_of(runs, lambda: simulate(c.arrays(), codes, CONFIG, codes=True, curves=False))
    print(f"desk kernel, sweep  {t * 1e3:9.1f} ms  {n / t / 1e6:8.1f} M bars/s  (codes, stats)")
    t, _ = best_of(runs, lambda: strategy.batch_codes(c.arrays()))
    print(f"desk batch codes    {t * 1e3:9.1f} ms  {n / t / 1e6:8.1f} M bars/s  (SMAs, crossings)")
    fee = FEE_BPS / 1e4
    bare_loop(c.open[:100], c.close[:100], 10, 30, 1.0, fee, CASH)
    t, eq = best_of(runs, lambda: bare_loop(c.open, c.close, 10, 30, 1.0, fee, CASH))
    print(f"bare numba loop     {t * 1e3:9.1f} ms  {n / t / 1e6:8.1f} M bars/s  equity {eq:.6f}")
    vbt = vectorbt()
    if vbt is None:
        print("vectorbt            not installed (pip install -e '.[bench]')")
        return
    import pandas as pd

    close = pd.Series(c.close)
    price = pd.Series(c.open)
    longs = pd.Series(events == 1).shift(1, fill_value=False)
    shorts = pd.Series(events == -1).shift(1, fill_value=False)

    def run_vbt():
        pf = vbt.Portfolio.from_signals(
            close, entries=longs, short_entries=shorts, price=price, size=1.0,
            size_type="amount", fees=fee, init_cash=CASH, upon_opposite_entry="reverse",
            freq="1min",
        )  # fmt: skip
        return float(pf.final_value())

    run_vbt()
    t, eq = best_of(runs, run_vbt)
    agree = math.isclose(eq, float(result.equity[-1]), rel_tol=1e-9)
    print(f"vectorbt from_signals {t * 1e3:7.1f} ms  {n / t / 1e6:8.1f} M bars/s  "
          f"equity {eq:.6f}  ({'agrees' if agree else 'DIFFERS'} with desk)")  # fmt: skip


def grid_for(combos: int) -> tuple[Grid, list[tuple[int, int]]]:
    side = max(1, math.isqrt(combos))
    fasts = list(range(5, 5 + 5 * side, 5))
    slows = list(range(60, 60 + 10 * math.ceil(combos / side), 10))
    pairs = [(f, s) for f in fasts for s in slows]
    grid = Grid.parse([f"fast={','.join(map(str, fasts))}", f"slow={','.join(map(str, slows))}"])
    return grid, pairs


def sweep_section(c: Candles, combos: int) -> None:
    n = len(c)
    grid, pairs = grid_for(combos)
    print(f"== sweep: {n:,} bars x {len(pairs)} parameter sets (fast x slow)")
    rates = {}
    desk_eq = None
    for workers in (1, 2):
        sweep(c.window(0, 2000), "ma_crossover", grid, CONFIG, workers=workers)  # warm workers
        t0 = time.perf_counter()
        res = sweep(c, "ma_crossover", grid, CONFIG, workers=workers)
        t = time.perf_counter() - t0
        rates[workers] = n * len(res.indices) / t
        print(
            f"desk, {workers} worker(s)    {t:8.2f} s  {rates[workers] / 1e6:8.1f} M bar*combos/s"
        )
        desk_eq = {tuple(r["params"][k] for k in ("fast", "slow")): r["metrics"]["final_equity"]
                   for r in res.rows()}  # fmt: skip
    fee = FEE_BPS / 1e4
    bare_loop(c.open[:100], c.close[:100], 10, 30, 1.0, fee, CASH)
    t0 = time.perf_counter()
    for f, s in pairs:
        bare_loop(c.open, c.close, f, s, 1.0, fee, CASH)
    t = time.perf_counter() - t0
    bare = n * len(pairs) / t
    print(f"bare numba loop, 1 thread {t:6.2f} s  {bare / 1e6:8.1f} M bar*combos/s")
    vbt = vectorbt()
    if vbt is None:
        print("vectorbt                  not installed")
        return
    import pandas as pd

    def run_vbt(close: Any, price: Any) -> np.ndarray:
        fs = [f for f, _ in pairs]
        ss = [s for _, s in pairs]
        fast = vbt.MA.run(close, fs, short_name="fast", per_column=False, param_product=False)
        slow = vbt.MA.run(close, ss, short_name="slow", per_column=False, param_product=False)
        up = fast.ma_crossed_above(slow.ma.to_numpy()).shift(1, fill_value=False)
        down = fast.ma_crossed_below(slow.ma.to_numpy()).shift(1, fill_value=False)
        pf = vbt.Portfolio.from_signals(
            close, entries=up, short_entries=down, price=price, size=1.0, size_type="amount",
            fees=fee, init_cash=CASH, upon_opposite_entry="reverse", freq="1min",
        )  # fmt: skip
        return np.asarray(pf.final_value())

    run_vbt(pd.Series(c.close[:2000]), pd.Series(c.open[:2000]))  # compile vectorbt's kernels
    t0 = time.perf_counter()
    values = run_vbt(pd.Series(c.close), pd.Series(c.open))
    t = time.perf_counter() - t0
    vrate = n * len(pairs) / t
    agree = sum(
        math.isclose(v, desk_eq.get(p, math.nan), rel_tol=1e-6)
        for v, p in zip(values, pairs, strict=True)
    )
    print(f"vectorbt end to end (warm) {t:5.2f} s  {vrate / 1e6:8.1f} M bar*combos/s  "
          f"({agree}/{len(pairs)} final equities agree with desk)")  # fmt: skip
    print(f"desk / vectorbt: {rates[1] / vrate:.1f}x on 1 worker, {rates[2] / vrate:.1f}x on 2; "
          f"bare loop / vectorbt: {bare / vrate:.1f}x")  # fmt: skip


def first_call_child(bars: int) -> None:
    c = random_walk(bars)
    t = time.perf_counter()
    backtest(c, "ma_crossover", PARAMS, CONFIG)
    first = time.perf_counter() - t
    t = time.perf_counter()
    backtest(c, "ma_crossover", PARAMS, CONFIG)
    warm = time.perf_counter() - t
    grid, _ = grid_for(16)  # one lockstep group, in this process
    t = time.perf_counter()
    sweep(c, "ma_crossover", grid, CONFIG, workers=1)
    sweep_first = time.perf_counter() - t
    t = time.perf_counter()
    sweep(c, "ma_crossover", grid, CONFIG, workers=1)
    sweep_warm = time.perf_counter() - t
    print(json.dumps({"first": first, "warm": warm, "sweep_first": sweep_first,
                      "sweep_warm": sweep_warm}))  # fmt: skip


def first_call(bars: int) -> None:
    print(f"== first call in a fresh process ({bars:,} bars)")
    me = [sys.executable, __file__, "--child-first-call", "--bars", str(bars)]
    with tempfile.TemporaryDirectory() as cold:
        for label, env in (
            ("compile (empty cache)", {**os.environ, "NUMBA_CACHE_DIR": cold}),
            ("cached (numba cache)", {**os.environ, "NUMBA_CACHE_DIR": cold}),
        ):
            out = subprocess.run(me, env=env, capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{label:22s} first {got['first'] * 1e3:9.1f} ms   warm {got['warm'] * 1e3:8.1f} ms"
                f"   | sweep of 16: first {got['sweep_first'] * 1e3:8.1f} ms"
                f"   warm {got['sweep_warm'] * 1e3:8.1f} ms"
            )


def peak_child(bars: int, combos: int) -> None:
    import threading

    import psutil

    c = random_walk(bars, seed=1)
    side = math.isqrt(combos)
    grid = Grid.parse([f"fast=2:{1 + side}", f"slow=200:{199 + math.ceil(combos / side)}"])
    me = psutil.Process()
    base = me.memory_info().rss
    peak = {"self": base, "worker": 0, "total": base}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            own = me.memory_info().rss
            kids = []
            for child in me.children(recursive=True):
                try:
                    kids.append(child.memory_info().rss)
                except psutil.Error:
                    pass
            peak["self"] = max(peak["self"], own)
            peak["worker"] = max([peak["worker"], *kids])
            peak["total"] = max(peak["total"], own + sum(kids))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t = time.perf_counter()
    res = sweep(c, "ma_crossover", grid, CONFIG, workers=2, sample=combos)
    took = time.perf_counter() - t
    done.set()
    watcher.join()
    print(json.dumps({"combos": len(res.indices), "s": took, "base": base, **peak}))


def peak_memory(bars: int, combos: int) -> None:
    print(f"== peak memory: {combos:,} combinations x {bars:,} bars, 2 loky workers")
    me = [sys.executable, __file__, "--child-peak", "--peak-bars", str(bars), "--peak-combos",
          str(combos)]  # fmt: skip
    out = subprocess.run(me, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    mib = {k: got[k] / 2**20 for k in ("base", "self", "worker", "total")}
    print(f"{got['combos']:,} combos in {got['s']:.1f} s ({got['combos'] / got['s']:,.0f}/s)")
    print(f"peak RSS: parent {mib['self']:.0f} MiB (of which {mib['base']:.0f} before the sweep), "
          f"largest worker {mib['worker']:.0f} MiB, all {mib['total']:.0f} MiB")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bars", type=int, default=1_000_000)
    p.add_argument("--combos", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--peak-combos", type=int, default=10_000)
    p.add_argument("--peak-bars", type=int, default=20_000)
    p.add_argument("--skip", nargs="*", default=[], choices=("one", "sweep", "first", "peak"))
    p.add_argument("--child-first-call", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child-peak", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_first_call:
        first_call_child(args.bars)
        return
    if args.child_peak:
        peak_child(args.peak_bars, args.peak_combos)
        return
    print(f"numba {numba.__version__}, {os.cpu_count()} cores")
    c = random_walk(args.bars)
    if "one" not in args.skip:
        one_backtest(c, args.runs)
    if "sweep" not in args.skip:
        sweep_section(c, args.combos)
    if "first" not in args.skip:
        first_call(args.bars)
    if "peak" not in args.skip:
        peak_memory(args.peak_bars, args.peak_combos)


if __name__ == "__main__":
    main()
