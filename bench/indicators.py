"""Indicator kernels on 10M bars beside numpy/pandas references; start-up cost; live update cost.

Prints figures only (never asserts):

* each desk.signals.indicators function on ``--bars`` bars (ms, best of ``--runs`` after a
  warm-up call), next to a numpy or pandas computation of the same thing measured in the same
  run, with the largest difference where the reference computes the same definition ("~" marks
  a reference with a different seed, comparable in cost only);
* start-up: importing the API, importing numba, and the first calls in a fresh interpreter with
  a cold numba cache (an empty temporary NUMBA_CACHE_DIR: everything compiles) and a warm one;
* rounding error of the rolling windows against a two-pass computation of each window, for
  desk, pandas rolling and a cumsum difference, on the first million bars;
* the streaming updaters: microseconds per ``update`` (one candle), best of ``--runs``;
* with TA-Lib installed (the ``bench`` extra: ``pip install -e '.[bench]'``), RSI, MACD,
  BBANDS, EMA, SMA and ATR beside TA-Lib's C on the same arrays, as desk/TA-Lib time ratios
  (below 1.0x: desk is faster), the two measured alternately, best of ``--runs``; and, as the
  reference for SMA, a plain running sum compiled with numba (TA-Lib's method) against TA-Lib.

    .venv/bin/python bench/indicators.py [--bars 10000000] [--runs 5] [--stream-bars 100000]
        [--talib-only] [--cpu-time]

``--cpu-time`` times with this thread's CPU time instead of the wall clock: on a shared,
loaded machine the wall clock also counts the time other processes hold the core, which
swamps the kernels' differences (the page faults of a new output array still count: they are
this thread's system time).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from desk.signals import indicators as ind
from desk.signals import streaming as live

Series = np.ndarray
clock = time.perf_counter
"""What the tables time with (``--cpu-time``: :func:`time.thread_time`)."""


def best_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: compile or load the kernel, fault the pages in
    best = math.inf
    for _ in range(runs):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best * 1e3


def make_bars(size: int, seed: int = 1) -> dict[str, Series]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, size)))
    return {
        "close": close,
        "high": close * (1.0 + np.abs(rng.normal(0.0, 5e-4, size))),
        "low": close * (1.0 - np.abs(rng.normal(0.0, 5e-4, size))),
        "volume": rng.exponential(1.0, size),
        "bid": rng.exponential(10.0, size),
        "ask": rng.exponential(10.0, size),
    }


# --- numpy / pandas references --------------------------------------------------------------


def sma_cumsum(x: Series, n: int) -> Series:
    c = np.cumsum(x)
    out = np.full_like(x, np.nan)
    out[n - 1] = c[n - 1] / n
    out[n:] = (c[n:] - c[:-n]) / n
    return out


def wilder_pandas(s: pd.Series, n: int) -> pd.Series:
    return s.ewm(alpha=1.0 / n, adjust=False).mean()


def rsi_pandas(x: Series, n: int) -> Series:
    d = pd.Series(x).diff()
    gain, loss = wilder_pandas(d.clip(lower=0), n), wilder_pandas(-d.clip(upper=0), n)
    return (100.0 - 100.0 / (1.0 + gain / loss)).to_numpy()


def macd_pandas(x: Series) -> tuple[Series, Series, Series]:
    s = pd.Series(x)
    line = s.ewm(span=12, adjust=False).mean() - s.ewm(span=26, adjust=False).mean()
    signal = line.ewm(span=9, adjust=False).mean()
    return line.to_numpy(), signal.to_numpy(), (line - signal).to_numpy()


def bollinger_pandas(x: Series, n: int, k: float) -> tuple[Series, Series, Series]:
    r = pd.Series(x).rolling(n)
    mid, std = r.mean(), r.std(ddof=0)
    return (mid + k * std).to_numpy(), mid.to_numpy(), (mid - k * std).to_numpy()


def atr_pandas(h: Series, lo: Series, c: Series, n: int) -> Series:
    cp = np.concatenate([[np.nan], c[:-1]])
    tr = np.fmax(h - lo, np.fmax(np.abs(h - cp), np.abs(lo - cp)))
    return wilder_pandas(pd.Series(tr), n).to_numpy()


def vwap_numpy(p: Series, v: Series, n: int | None) -> Series:
    pv, vol = np.cumsum(p * v), np.cumsum(v)
    if n is None:
        return pv / vol
    out = np.full_like(p, np.nan)
    out[n - 1] = pv[n - 1] / vol[n - 1]
    out[n:] = (pv[n:] - pv[:-n]) / (vol[n:] - vol[:-n])
    return out


def zscore_pandas(x: Series, n: int) -> Series:
    r = pd.Series(x).rolling(n)
    return ((pd.Series(x) - r.mean()) / r.std(ddof=0)).to_numpy()


def rv_pandas(x: Series, n: int, annualize: float) -> Series:
    r = np.log(pd.Series(x)).diff().rolling(n).std()
    return (r * math.sqrt(annualize)).to_numpy()


# --- the table ------------------------------------------------------------------------------


def max_diff(a: object, b: object) -> float:
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = ~(np.isnan(a_arr) | np.isnan(b_arr))
    return float(np.max(np.abs(a_arr[both] - b_arr[both]))) if both.any() else math.nan


def sma_pandas(x: Series, n: int) -> Series:
    return pd.Series(x).rolling(n).mean().to_numpy()


def ema_pandas(x: Series, n: int) -> Series:
    return pd.Series(x).ewm(span=n, adjust=False).mean().to_numpy()


def imbalance_numpy(bid: Series, ask: Series) -> Series:
    if bid.ndim == 2:
        bid, ask = bid.sum(axis=1), ask.sum(axis=1)
    return (bid - ask) / (bid + ask)


def kernel_table(bars: dict[str, Series], runs: int) -> None:
    c, h, lo, v = bars["close"], bars["high"], bars["low"], bars["volume"]
    b, a = bars["bid"], bars["ask"]
    rng = np.random.default_rng(2)
    bids, asks = rng.exponential(1.0, (1_000_000, 10)), rng.exponential(1.0, (1_000_000, 10))
    # (label, desk function, its arguments, reference label, reference, same definition?)
    rows: list[tuple[str, Callable[..., object], tuple, str, Callable[..., object], bool]] = [
        ("sma(20)", ind.sma, (c, 20), "numpy cumsum", sma_cumsum, True),
        ("sma(20)", ind.sma, (c, 20), "pandas rolling", sma_pandas, True),
        ("ema(20)", ind.ema, (c, 20), "~pandas ewm", ema_pandas, False),
        ("rsi(14)", ind.rsi, (c, 14), "~pandas ewm", rsi_pandas, False),
        ("macd(12,26,9)", ind.macd, (c,), "~pandas ewm", macd_pandas, False),
        ("bollinger(20,2)", ind.bollinger, (c, 20, 2.0), "pandas rolling", bollinger_pandas, True),
        ("atr(14)", ind.atr, (h, lo, c, 14), "~numpy+pandas ewm", atr_pandas, False),
        ("vwap", ind.vwap, (c, v, None), "numpy cumsum", vwap_numpy, True),
        ("vwap(100)", ind.vwap, (c, v, 100), "numpy cumsum", vwap_numpy, True),
        ("zscore(20)", ind.zscore, (c, 20), "pandas rolling", zscore_pandas, True),
        ("realized_vol(20)", ind.realized_vol, (c, 20, 365.0), "pandas rolling", rv_pandas, True),
        ("book_imbalance", ind.book_imbalance, (b, a), "numpy", imbalance_numpy, True),
        ("book_imbalance 1Mx10", ind.book_imbalance, (bids, asks), "numpy", imbalance_numpy, True),
    ]  # fmt: skip
    print(f"[kernels on {len(c):,} bars, ms, best of {runs} after a warm-up call]")
    print(f"  {'indicator':<22}{'desk':>9}  {'reference':<19}{'ref':>9}{'ref/desk':>9}  max |diff|")
    for name, desk_fn, fn_args, ref_name, ref_fn, same in rows:
        t_desk = best_ms(lambda f=desk_fn, a=fn_args: f(*a), runs)
        t_ref = best_ms(lambda f=ref_fn, a=fn_args: f(*a), runs)
        diff = "-"
        if same:
            gap = max_diff(np.column_stack(desk_fn(*fn_args)), np.column_stack(ref_fn(*fn_args)))
            diff = f"{gap:.1e}"
        ratio = t_ref / t_desk
        print(f"  {name:<22}{t_desk:9.1f}  {ref_name:<19}{t_ref:9.1f}{ratio:8.1f}x  {diff}")


def best_pair_ms(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Best times of two calls measured alternately (a noisy neighbour hits both alike)."""
    first()
    second()
    best = [math.inf, math.inf]
    for _ in range(runs):
        for k, fn in enumerate((first, second)):
            t0 = clock()
            fn()
            best[k] = min(best[k], clock() - t0)
    return best[0] * 1e3, best[1] * 1e3


def columns(result: object) -> Series:
    """One indicator's output(s) as a (bars, outputs) array."""
    return np.column_stack(result if isinstance(result, tuple | list) else (result,))


def talib_table(bars: dict[str, Series], runs: int) -> None:
    """desk against TA-Lib's C on the same float64 arrays (TA-Lib: the ``bench`` extra)."""
    try:
        import talib  # type: ignore[import-not-found]
    except ImportError:
        print("[vs TA-Lib: not installed; pip install -e '.[bench]' to print desk/TA-Lib ratios]")
        return
    c, h, lo = bars["close"], bars["high"], bars["low"]
    rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("RSI(14)", lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        ("MACD(12,26,9)", lambda: ind.macd(c, 12, 26, 9), lambda: talib.MACD(c, 12, 26, 9)),
        ("BBANDS(20,2)", lambda: ind.bollinger(c, 20, 2.0), lambda: talib.BBANDS(c, 20, 2.0, 2.0)),
        ("EMA(20)", lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20)),
        ("SMA(20)", lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        ("ATR(14)", lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
    ]
    version = getattr(talib, "__version__", "?")
    print(f"[vs TA-Lib {version} on {len(c):,} bars, ms, best of {runs}, measured alternately]")
    head = f"  {'indicator':<16}{'desk':>9}{'TA-Lib':>9}{'desk/TA-Lib':>13}"
    print(head + "  max |diff| (bar 200 on)")
    for name, desk_fn, ta_fn in rows:
        t_desk, t_ta = best_pair_ms(desk_fn, ta_fn, runs)
        gap = max_diff(columns(desk_fn())[200:], columns(ta_fn())[200:])
        print(f"  {name:<16}{t_desk:9.1f}{t_ta:9.1f}{t_desk / t_ta:12.2f}x  {gap:.1e}")
    t_plain, t_ta = best_pair_ms(lambda: sma_running_sum(c, 20), lambda: talib.SMA(c, 20), runs)
    print(
        f"  reference: SMA(20) as one running sum in numba, TA-Lib's way: {t_plain:.1f} ms,"
        f" {t_plain / t_ta:.2f}x TA-Lib's {t_ta:.1f}\n"
        "    (desk's SMA also computes each block of n values afresh, so no error builds up and a"
        " flat\n    window reads exactly flat, and checks the values' range for its exact"
        " division: those passes\n    are what it costs more)"
    )


@functools.cache
def _running_sum_kernel() -> Callable[[Series, int, Series], None]:
    from numba import njit

    @njit(error_model="numpy", nogil=True)
    def running_sum_into(x: Series, n: int, out: Series) -> None:
        total = 0.0
        for i in range(min(n - 1, x.shape[0])):
            total += x[i]
            out[i] = np.nan
        for i in range(n - 1, x.shape[0]):
            total += x[i]
            out[i] = total / n
            total -= x[i - n + 1]

    return running_sum_into  # type: ignore[no-any-return]


def sma_running_sum(x: Series, n: int) -> Series:
    """SMA as TA-Lib computes it: one running sum, plus the value coming in, minus the one
    leaving; compiled on first use."""
    out = np.empty(x.shape[0])
    _running_sum_kernel()(x, n, out)
    return out


def accuracy_table(close: Series, n: int = 20) -> None:
    """Largest error against the exact-as-possible two-pass computation of every window."""
    windows = sliding_window_view(close, n)
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    z = (close[n - 1 :] - mean) / std
    upper, middle, _ = ind.bollinger(close, n, 1.0)
    p_upper, p_middle, _ = bollinger_pandas(close, n, 1.0)
    rows = {
        f"sma({n})": (ind.sma(close, n), sma_pandas(close, n), sma_cumsum(close, n), mean),
        f"bollinger({n}) width": (upper - middle, p_upper - p_middle, None, std),
        f"zscore({n})": (ind.zscore(close, n), zscore_pandas(close, n), None, z),
    }
    print(f"[max |error| against two-pass windows, {len(close):,} bars]")
    print(f"  {'indicator':<22}{'desk':>10}{'pandas':>10}{'cumsum':>10}")
    for name, (desk, pandas, cumsum, exact) in rows.items():
        errs = [
            f"{max_diff(a[n - 1 :], exact):10.1e}" if a is not None else f"{'-':>10}"
            for a in (desk, pandas, cumsum)
        ]
        print(f"  {name:<22}" + "".join(errs))


# --- start-up -------------------------------------------------------------------------------

FIRST_CALLS = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import desk.signals.indicators as ind
t1 = time.perf_counter()
numba_at_import = "numba" in sys.modules
ind.rsi(np.linspace(1.0, 2.0, 50), 14)
t2 = time.perf_counter()
ind.precompile()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "numba_at_import": numba_at_import,
                  "first_rsi": t2 - t1, "all_kernels": t3 - t1}))
"""


def fresh_python(code: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup(repeats: int) -> None:
    print("[start-up in a fresh interpreter, ms; warm figures are the best of", repeats, "runs]")
    numba_code = "import json,time; t=time.perf_counter(); import numba; "
    numba_code += "print(json.dumps({'numba': time.perf_counter() - t}))"
    t_numba = min(fresh_python(numba_code, dict(os.environ))["numba"] for _ in range(repeats))
    print(f"  import numba alone                {t_numba * 1e3:8.0f}")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = fresh_python(FIRST_CALLS, env)
        warm = [fresh_python(FIRST_CALLS, env) for _ in range(repeats)]
    imp = min(w["import"] for w in warm)
    print(f"  import desk.signals.indicators    {imp * 1e3:8.0f}   (numba imported: "
          f"{cold['numba_at_import']})")  # fmt: skip
    for key, label in (("first_rsi", "first rsi() call"), ("all_kernels", "first call of all 12")):
        hot = min(w[key] for w in warm)
        print(f"  {label:<22} cold cache {cold[key] * 1e3:8.0f}   warm cache {hot * 1e3:6.0f}")


# --- streaming ------------------------------------------------------------------------------


def streaming_table(bars: dict[str, Series], size: int, runs: int) -> None:
    cols = {k: bars[k][:size].tolist() for k in ("close", "high", "low", "volume")}
    c, h, lo, v = cols["close"], cols["high"], cols["low"], cols["volume"]

    class Noop:
        def update(self, x: float) -> float:
            return x

    one = {
        "(loop + call floor)": Noop,
        "Sma(20)": lambda: live.Sma(20),
        "Ema(20)": lambda: live.Ema(20),
        "Rsi(14)": lambda: live.Rsi(14),
        "Macd(12,26,9)": lambda: live.Macd(),
        "Bollinger(20,2)": lambda: live.Bollinger(20, 2.0),
        "ZScore(20)": lambda: live.ZScore(20),
        "RealizedVol(20)": lambda: live.RealizedVol(20, 365.0),
    }

    def feed_one(make: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            update = make().update  # type: ignore[attr-defined]
            for x in c:
                update(x)

        return run

    def feed(make: Callable[[], object], columns: list[list[float]]) -> Callable[[], None]:
        def run() -> None:
            update = make().update  # type: ignore[attr-defined]
            for values in zip(*columns, strict=True):
                update(*values)

        return run

    timings = {name: feed_one(make) for name, make in one.items()}
    timings["Atr(14)"] = feed(lambda: live.Atr(14), [h, lo, c])
    timings["Vwap"] = feed(live.Vwap, [c, v])
    timings["Vwap(100)"] = feed(lambda: live.Vwap(100), [c, v])
    print(f"[streaming update cost, us per candle over {size:,} candles, best of {runs}]")
    for name, run in timings.items():
        print(f"  {name:<22}{best_ms(run, runs) * 1e3 / size:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stream-bars", type=int, default=100_000)
    parser.add_argument("--talib-only", action="store_true", help="only the TA-Lib table")
    parser.add_argument("--cpu-time", action="store_true", help="time with thread CPU time")
    args = parser.parse_args()
    if args.cpu_time:
        global clock
        clock = time.thread_time
    print(f"numpy {np.__version__}, pandas {pd.__version__}, python {sys.version.split()[0]}")
    if args.talib_only:
        talib_table(make_bars(args.bars), args.runs)
        return
    startup(repeats=3)
    bars = make_bars(max(args.bars, args.stream_bars))
    kernel_table({k: a[: args.bars] for k, a in bars.items()}, args.runs)
    talib_table({k: a[: args.bars] for k, a in bars.items()}, args.runs)
    accuracy_table(bars["close"][:1_000_000])
    streaming_table(bars, args.stream_bars, args.runs)


if __name__ == "__main__":
    main()
