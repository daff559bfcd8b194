"""Walk-forward analysis: optimise on window k, evaluate the winner on window k+1.

The bars are cut into ``windows + 1`` consecutive windows of (nearly) equal length. For each
k in 0..windows-1 the grid is swept over window k (in-sample) and the best combination by the
metric is then run, untouched, over window k+1 (out-of-sample). Indicators see all the bars
before a window as warm-up (the same values a single run over the whole data computes), but
trading starts flat at the window's first bar and only its bars are measured.

The report sets each window's in-sample figure beside its out-of-sample one; a strategy whose
out-of-sample figures collapse was fitted to noise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.data import Candles
from desk.backtest.grid import Grid
from desk.backtest.run import backtest
from desk.backtest.sweep import Progress, sweep


@dataclass
class WindowResult:
    """One step: where it optimised, where it tested, what won, and both sets of metrics."""

    k: int
    train: tuple[int, int]  # (start_ns, end_ns)
    test: tuple[int, int]
    params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.k,
            "train": list(self.train),
            "test": list(self.test),
            "params": self.params,
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
        }


@dataclass
class WalkForwardResult:
    strategy: str
    metric: str
    grid: Grid
    config: BacktestConfig
    candles: Candles
    windows: list[WindowResult]

    def summary(self) -> dict[str, float]:
        """Mean in- and out-of-sample metric, and the out-of-sample return compounded."""
        ins = np.array([w.in_sample[self.metric] for w in self.windows], dtype=float)
        outs = np.array([w.out_of_sample[self.metric] for w in self.windows], dtype=float)
        growth = np.prod([1.0 + w.out_of_sample["total_return"] for w in self.windows])
        return {
            f"in_sample_{self.metric}": float(np.nanmean(ins)) if ins.size else float("nan"),
            f"out_of_sample_{self.metric}": float(np.nanmean(outs)) if outs.size else float("nan"),
            "out_of_sample_return": float(growth - 1.0),
        }


def bounds(n: int, windows: int) -> list[int]:
    """Bar positions cutting ``n`` bars into ``windows + 1`` windows."""
    return [round(k * n / (windows + 1)) for k in range(windows + 2)]


def walk_forward(
    candles: Candles,
    strategy: str,
    grid: Grid,
    config: BacktestConfig,
    *,
    windows: int = 4,
    base: Mapping[str, Any] | None = None,
    metric: str = "sharpe",
    on_window: Callable[[int, int], None] | None = None,
    progress: Progress | None = None,
    **sweep_options: Any,
) -> WalkForwardResult:
    """Walk forward over ``windows`` optimise/test steps (module docstring).

    ``sweep_options`` go to :func:`~desk.backtest.sweep.sweep` (backend, workers, scheduler,
    sample, seed); ``on_window(k, windows)`` is called as each step starts.
    """
    if windows < 1:
        raise BacktestError(f"walk-forward needs at least 1 window step, got {windows}")
    cut = bounds(len(candles), windows)
    if min(b - a for a, b in itertools.pairwise(cut)) < 2:
        raise BacktestError(f"{len(candles)} candles are too few for {windows} walk-forward steps")
    out: list[WindowResult] = []
    for k in range(windows):
        if on_window is not None:
            on_window(k, windows)
        lo, mid, hi = cut[k], cut[k + 1], cut[k + 2]
        found = sweep(
            candles.window(0, mid),
            strategy,
            grid,
            config,
            base=base,
            metric=metric,
            start=lo,
            progress=progress,
            **sweep_options,
        )
        best = found.best()
        tested = backtest(candles.window(0, hi), strategy, best["params"], config, start=mid)
        out.append(
            WindowResult(
                k=k,
                train=(int(candles.end[lo]) - candles.bar_ns, int(candles.end[mid - 1])),
                test=(int(candles.end[mid]) - candles.bar_ns, int(candles.end[hi - 1])),
                params=best["params"],
                in_sample=best["metrics"],
                out_of_sample=tested.metrics,
            )
        )
    return WalkForwardResult(strategy, metric, grid, config, candles, out)
