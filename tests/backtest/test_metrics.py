"""Metrics against values worked out by hand on small fixed series."""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from desk.backtest.book import N_TRADE_COLS, T_OPEN, T_PNL
from desk.backtest.metrics import compute_metrics, json_safe, sort_key

DAY_NS = 86_400 * 1_000_000_000


def trades_with(pnls, open_last=False):
    t = np.zeros((len(pnls), N_TRADE_COLS))
    t[:, T_PNL] = pnls
    if open_last:
        t[-1, T_OPEN] = 1.0
    return t


def test_hand_computed_daily_series() -> None:
    equity = np.array([110.0, 99.0, 121.0, 121.0])
    position = np.array([1.0, 1.0, 0.0, 0.0])
    m = compute_metrics(
        equity,
        position,
        trades_with([10.0, -4.0, 6.0, 3.0], open_last=True),
        cash=100.0,
        bar_ns=DAY_NS,
        fees=1.5,
    )
    r = [F(1, 10), F(-1, 10), F(2, 9), F(0)]  # 110/100, 99/110, 121/99, 121/121
    mean = sum(r) / 4  # 1/18
    var = sum((x - mean) ** 2 for x in r) / 3
    std = math.sqrt(var)
    assert mean == F(1, 18)
    assert m["total_return"] == pytest.approx(0.21)
    assert m["cagr"] == pytest.approx(1.21 ** (365 / 4) - 1)
    assert m["volatility"] == pytest.approx(std * math.sqrt(365))
    assert m["sharpe"] == pytest.approx(float(mean) / std * math.sqrt(365))
    # downside deviation: sqrt((0.1^2) / 4) = 0.05
    assert m["sortino"] == pytest.approx(float(mean) / 0.05 * math.sqrt(365))
    assert m["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert m["max_drawdown_bars"] == 1
    assert m["max_drawdown_duration_s"] == 86_400
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.1)
    # closed trades: +10, -4, +6 (the open +3 is not counted)
    assert m["trades"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(16 / 4)
    assert m["avg_trade"] == pytest.approx(4.0)
    assert m["exposure"] == 0.5
    assert m["fees"] == 1.5
    assert m["final_equity"] == 121.0
    assert m["bars"] == 4


def test_drawdown_not_recovered_by_the_end() -> None:
    m = compute_metrics(
        np.array([100.0, 90.0, 95.0, 99.0, 101.0, 98.0]),
        np.zeros(6),
        trades_with([]),
        cash=100.0,
        bar_ns=60_000_000_000,
        fees=0.0,
    )
    assert m["max_drawdown"] == pytest.approx(0.1)
    assert m["max_drawdown_bars"] == 3  # 90, 95, 99 under 100; 101 a new peak; 98 one bar
    assert m["max_drawdown_duration_s"] == 180
    assert math.isnan(m["win_rate"]) and math.isnan(m["profit_factor"])
    assert math.isnan(m["avg_trade"]) and m["trades"] == 0


def test_flat_curve_has_no_ratios() -> None:
    m = compute_metrics(
        np.full(5, 100.0), np.zeros(5), trades_with([]), cash=100.0, bar_ns=DAY_NS, fees=0.0
    )
    assert m["total_return"] == 0.0 and m["cagr"] == 0.0 and m["volatility"] == 0.0
    assert math.isnan(m["sharpe"]) and math.isnan(m["sortino"]) and math.isnan(m["calmar"])
    assert m["max_drawdown"] == 0.0 and m["exposure"] == 0.0


def test_profit_factor_without_losses_is_infinite_and_json_safe() -> None:
    m = compute_metrics(
        np.array([101.0, 102.0]), np.zeros(2), trades_with([1.0, 1.0]), cash=100.0,
        bar_ns=DAY_NS, fees=0.0,
    )  # fmt: skip
    assert m["profit_factor"] == math.inf
    safe = json_safe(m)
    assert safe["profit_factor"] is None and safe["sortino"] is None


def test_a_blown_account_has_cagr_minus_one() -> None:
    m = compute_metrics(
        np.array([50.0, -10.0, -20.0]), np.ones(3), trades_with([]), cash=100.0, bar_ns=DAY_NS,
        fees=0.0,
    )  # fmt: skip
    assert m["cagr"] == -1.0
    assert m["max_drawdown"] == pytest.approx(1.2)


def test_sort_key_ranks_better_first() -> None:
    assert sort_key("sharpe", 2.0) < sort_key("sharpe", 1.0) < sort_key("sharpe", math.nan)
    assert sort_key("max_drawdown", 0.1) < sort_key("max_drawdown", 0.2)
