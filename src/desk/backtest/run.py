"""One backtest: a strategy by name, its parameters, candles and a config -> a result.

:func:`backtest` returns everything (curves, trades, metrics); :func:`evaluate` is the lean
path the sweeps call once per parameter set (metrics, and the equity curve only on request).
Both run the same steps: the strategy's batch signals -> :func:`~desk.backtest.kernel.simulate`
-> :func:`~desk.backtest.metrics.compute_metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from desk.backtest.book import REASON_SIGNAL, REASONS, T_REASON, TRADE_COLUMNS
from desk.backtest.config import ATR_PERIOD, BacktestConfig, BacktestError
from desk.backtest.data import Candles
from desk.backtest.events import events_from_codes
from desk.backtest.filters import strategy_codes
from desk.backtest.kernel import KernelOutput, simulate
from desk.backtest.metrics import metrics_from_stats
from desk.signals import indicators as ind
from desk.signals.strategies import STRATEGIES, create_strategy
from desk.signals.strategy import BaseStrategy


@cache
def parameter_names(strategy: str) -> tuple[str, ...]:
    """The parameters ``strategy`` takes (BacktestError for an unknown strategy)."""
    cls = _strategy_class(strategy)
    return tuple(f.name for f in msgspec.structs.fields(cls.Params))


def _strategy_class(name: str) -> type[BaseStrategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise BacktestError(f"unknown strategy {name!r}; known: {known}") from None


def make_strategy(name: str, params: Mapping[str, Any]) -> BaseStrategy:
    """The registered strategy ``name`` with ``params``; BacktestError naming what is wrong."""
    cls = _strategy_class(name)
    unknown = sorted(set(params) - set(parameter_names(name)))
    if unknown:
        raise BacktestError(
            f"{name} has no parameter {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(parameter_names(name))}"
        )
    try:
        return create_strategy(cls.name, params)
    except ValueError as exc:
        raise BacktestError(str(exc)) from None


def parse_value(text: str) -> Any:
    """A parameter value from the command line: int, float, bool, JSON list/object, or text."""
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    if t[:1] in "[{":
        try:
            return json.loads(t)
        except json.JSONDecodeError as exc:
            raise BacktestError(f"bad JSON value {t!r}: {exc}") from None
    return t


def parse_params(text: str | None) -> dict[str, Any]:
    """``fast=10,slow=30`` (or a JSON object) as a dict of typed values."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BacktestError(f"--params is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise BacktestError("--params as JSON must be an object")
        return value
    out: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise BacktestError(f"--params entries are name=value, got {part.strip()!r}")
        out[name.strip()] = parse_value(value)
    return out


def atr_series(candles: Candles | Mapping[str, np.ndarray]) -> np.ndarray:
    """ATR(14) per bar, the series the bots size with."""
    a = candles.arrays() if isinstance(candles, Candles) else candles
    return ind.atr(a["high"], a["low"], a["close"], ATR_PERIOD)


@dataclass
class BacktestResult:
    """A finished run: what was asked, the curves from ``start`` on, the trades, the metrics."""

    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    candles: Candles
    start: int
    end: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    equity: np.ndarray
    trades: np.ndarray
    metrics: dict[str, float]
    signals: int
    fills: int
    skipped: int

    def trades_frame(self) -> pd.DataFrame:
        """One row per round trip, with fill times (see :func:`trade_frame`)."""
        return trade_frame(self.trades, self.candles, self.config, self.start)

    def equity_frame(self) -> pd.DataFrame:
        """Per bar: end stamp, equity, cash, position and drawdown (a fraction <= 0)."""
        peak = np.maximum.accumulate(np.maximum(self.equity, self.config.cash))
        return pd.DataFrame(
            {
                "end": self.end,
                "equity": self.equity,
                "cash": self.cash,
                "position": self.position,
                "drawdown": self.equity / peak - 1.0,
            }
        )


def trade_frame(
    trades: np.ndarray, candles: Candles, config: BacktestConfig, start: int = 0
) -> pd.DataFrame:
    """Trades as a table. Times: a signal's fill at an open is stamped with that bar's start,
    at a close with its end; a stop, take-profit or end-of-data exit with the bar's end."""
    frame = pd.DataFrame(trades, columns=list(TRADE_COLUMNS))
    entry = frame["entry_bar"].to_numpy(dtype=np.int64)
    exit_ = frame["exit_bar"].to_numpy(dtype=np.int64)
    shift = candles.bar_ns if config.fill == "open" else 0
    frame["entry_time"] = candles.end[entry] - shift if len(frame) else np.zeros(0, np.int64)
    by_signal = trades[:, T_REASON] == REASON_SIGNAL if len(frame) else np.zeros(0, bool)
    frame["exit_time"] = (
        candles.end[exit_] - np.where(by_signal, shift, 0) if len(frame) else np.zeros(0, np.int64)
    )
    frame["entry_bar"] = entry - start
    frame["exit_bar"] = exit_ - start
    frame["side"] = np.where(frame["side"] > 0, "long", "short")
    frame["open"] = frame["open"] > 0
    frame["reason"] = [REASONS[int(r)] for r in frame["reason"]]
    return frame[
        [
            "entry_time",
            "exit_time",
            "side",
            "size",
            "entry_price",
            "exit_price",
            "pnl",
            "fees",
            "open",
            "reason",
            "entry_bar",
            "exit_bar",
        ]
    ]


def _run(
    arrays: Mapping[str, np.ndarray],
    strategy: BaseStrategy,
    config: BacktestConfig,
    start: int,
    atr: np.ndarray | None,
    *,
    curves: bool = True,
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, KernelOutput]:
    """(the candidate codes of the signals the bot would send, the kernel's output)."""
    if config.sizing == "atr" and atr is None:
        atr = atr_series(arrays)
    codes = strategy_codes(strategy, arrays, config, start)
    out = simulate(
        arrays, codes, config, atr=atr, start=start, buffers=buffers, codes=True, curves=curves
    )
    return codes, out


def backtest(
    candles: Candles,
    strategy: str,
    params: Mapping[str, Any],
    config: BacktestConfig,
    *,
    start: int = 0,
    atr: np.ndarray | None = None,
) -> BacktestResult:
    """Run ``strategy`` with ``params`` over ``candles``; bars before ``start`` only warm up.

    The instrument's tick, lot and minimum size apply unless ``config`` sets its own (a
    non-zero ``tick``, ``lot`` or ``min_size``).
    """
    if not 0 <= start < len(candles):
        raise BacktestError(f"start bar {start} is outside the {len(candles)} candles")
    config = with_rules(config, candles)
    strat = make_strategy(strategy, params)
    codes, out = _run(candles.arrays(), strat, config, start, atr)
    equity, position = out.equity[start:], out.position[start:]
    metrics = metrics_from_stats(
        out.stats, out.trades, cash=config.cash, bar_ns=candles.bar_ns, fees=out.fees
    )
    return BacktestResult(
        strategy=strategy,
        params=dict(params),
        config=config,
        candles=candles,
        start=start,
        end=candles.end[start:],
        cash=out.cash[start:],
        position=position,
        equity=equity,
        trades=out.trades,
        metrics=metrics,
        signals=int(np.count_nonzero(events_from_codes(codes)[start:])),
        fills=out.fills,
        skipped=out.skipped,
    )


def with_rules(config: BacktestConfig, candles: Candles) -> BacktestConfig:
    """``config`` with the candles' instrument rules where it sets none of its own."""
    inst = candles.instrument
    if inst is None or (config.tick or config.lot or config.min_size):
        return config
    return config.with_instrument(inst)


def evaluate(
    arrays: Mapping[str, np.ndarray],
    strategy: str,
    params: Mapping[str, Any],
    config: BacktestConfig,
    *,
    bar_ns: int,
    start: int = 0,
    atr: np.ndarray | None = None,
    curve: bool = False,
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, float], np.ndarray | None]:
    """Metrics of one parameter set (and its equity curve from ``start`` if ``curve``).

    Without ``curve`` the kernel keeps no per-bar curve at all (the metrics come from the
    statistics it accumulates). ``buffers``: see :func:`~desk.backtest.kernel.simulate`
    (the curve returned is a copy).
    """
    strat = make_strategy(strategy, params)
    _, out = _run(arrays, strat, config, start, atr, curves=curve, buffers=buffers)
    metrics = metrics_from_stats(
        out.stats, out.trades, cash=config.cash, bar_ns=bar_ns, fees=out.fees
    )
    return metrics, (out.equity[start:].copy() if curve else None)
