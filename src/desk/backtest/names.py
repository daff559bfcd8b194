"""Names the command line, the UI and the library share, without the library's imports.

``desk`` builds its argument parser (and the UI its backtest form) on every start; importing
the metrics or the store for these few names would load numba, pandas and pyarrow each time.
"""

from __future__ import annotations

import math
from typing import Any

DEFAULT_ROOT = "data/backtests"
"""Where runs are saved (``desk backtest --runs``)."""

METRIC_NAMES = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_bars",
    "max_drawdown_duration_s",
    "calmar",
    "win_rate",
    "profit_factor",
    "avg_trade",
    "exposure",
    "trades",
    "fees",
    "final_equity",
    "bars",
)
HIGHER_IS_BETTER = {name: True for name in METRIC_NAMES}
HIGHER_IS_BETTER.update(
    max_drawdown=False,
    max_drawdown_bars=False,
    max_drawdown_duration_s=False,
    fees=False,
    volatility=False,
)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN/inf)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def sort_key(metric: str, value: float) -> float:
    """A key that ranks better values of ``metric`` first (NaN last)."""
    if math.isnan(value):
        return math.inf
    return -value if HIGHER_IS_BETTER.get(metric, True) else value
