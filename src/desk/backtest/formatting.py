"""How metrics read: their labels, short column names, and values formatted by what they are
(percentages, ratios, money, counts, durations).

Shared by the terminal reports (:mod:`desk.backtest.report`) and the UI's backtest mode; plain
Python, so the UI can import it without the library (numba, pandas).
"""

from __future__ import annotations

import math
from typing import Any

PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure"}
MONEY = {"avg_trade", "fees", "final_equity"}
COUNTS = {"trades", "bars", "max_drawdown_bars"}
HUGE = 1e5
"""Ratios (and percentages past HUGE %) at or above this are written in scientific notation."""
LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "volatility": "Volatility (ann.)",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "Max drawdown",
    "max_drawdown_bars": "Longest drawdown (bars)",
    "max_drawdown_duration_s": "Longest drawdown",
    "calmar": "Calmar",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "avg_trade": "Average trade",
    "exposure": "Exposure",
    "trades": "Trades",
    "fees": "Fees paid",
    "final_equity": "Final equity",
    "bars": "Bars",
}
SHORT = {
    "total_return": "return",
    "max_drawdown": "max dd",
    "win_rate": "win",
    "profit_factor": "pf",
    "final_equity": "equity",
    "max_drawdown_duration_s": "dd time",
}


def duration(seconds: float) -> str:
    """1d 4h, 3h 20m, 45m, 30s."""
    if not math.isfinite(seconds):
        return "-"
    s = round(seconds)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3_600)
    minutes, s = divmod(s, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (s, "s")]
    shown = [f"{v}{u}" for v, u in parts if v][:2]
    return " ".join(shown) or "0s"


def fmt_metric(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    # A few hours annualised (CAGR, and Calmar with it) can reach 1e12: a column of digits
    # nobody reads. Past HUGE the magnitude is what matters: 3 significant digits.
    if name in PERCENT:
        sign = "+" if name in ("total_return", "cagr") else ""
        if abs(value) >= HUGE / 100:
            return f"{value * 100:{sign}.2e}%"
        return f"{value:{sign}.2%}"
    if name in MONEY:
        return f"{value:,.2f}"
    if name in COUNTS:
        return f"{int(value):,}"
    if name == "max_drawdown_duration_s":
        return duration(value)
    return f"{value:.2e}" if abs(value) >= HUGE else f"{value:.3f}"
