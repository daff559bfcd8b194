"""Performance metrics of one run: from its per-bar equity and its trades.

Definitions (``n`` bars, equity ``E_i`` marked at each close, ``E_{-1}`` = starting cash,
``P`` = bars per year = 365 days / bar length: crypto trades every day, all day):

* **total_return** = E_{n-1} / cash - 1; **final_equity** = E_{n-1}.
* **cagr** = (E_{n-1} / cash) ^ (1 / years) - 1 with years = n x bar length / 365 days
  (-1 when the final equity is <= 0).
* bar returns r_i = E_i / E_{i-1} - 1 for i = 0..n-1 (0 once equity is <= 0: the account is
  gone); **volatility** = stdev(r, ddof=1) x sqrt(P); **sharpe** = mean(r) / stdev(r) x sqrt(P)
  (risk-free rate 0); **sortino** = mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(P) (target 0).
* **max_drawdown** = max over i of 1 - E_i / max(cash, E_0..E_i), a fraction (0.25 = -25%);
  **max_drawdown_bars** = the longest run of consecutive bars under a previous peak (the
  longest drawdown, recovered or not), **max_drawdown_duration_s** the same in seconds.
* **calmar** = cagr / max_drawdown.
* Over closed round trips (a trade still open at the end is listed but not counted):
  **trades**, **win_rate** = share with PnL > 0, **profit_factor** = gross profit / gross loss
  (inf with no losing trade), **avg_trade** = mean PnL (net of fees).
* **exposure** = share of bars that close with a position; **fees** = all fees paid.

A figure with no defined value (no trades, a flat curve) is NaN; JSON writes it as null.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from desk.backtest.book import T_OPEN, T_PNL
from desk.backtest.names import HIGHER_IS_BETTER, METRIC_NAMES, json_safe, sort_key
from desk.backtest.stats import N_STATS, ST_BARS, finish, first_return, step

YEAR_NS = 365 * 86_400 * 1_000_000_000


@numba.njit(cache=True, nogil=True)
def equity_stats(equity: np.ndarray, position: np.ndarray, cash: float) -> np.ndarray:
    """The statistics vector of :mod:`desk.backtest.stats` over a stored curve.

    One pass with few branches, by the steps the kernel runs as it goes. The variance comes
    from sums of the returns shifted by the first one (the shifted-data method: bar returns
    are small and their mean tiny next to their spread, so nothing cancels; it agrees with
    Welford's to ~1e-18 on a million bars).
    """
    n = equity.shape[0]
    out = np.empty(N_STATS)
    k = first_return(equity[0], cash) if n else 0.0
    prev = peak = low = cash
    s1 = s2 = down = max_dd = 0.0
    under = longest = exposed = 0
    for i in range(n):
        prev, peak, s1, s2, down, low, max_dd, under, longest, exposed = step(
            equity[i], position[i], prev, peak, k, s1, s2, down, low, max_dd, under, longest,
            exposed,
        )  # fmt: skip
    finish(out, n, prev, peak, k, s1, s2, down, low, max_dd, longest, exposed)
    return out


def _ratio(num: float, den: float) -> float:
    if math.isnan(num) or math.isnan(den) or den == 0.0:
        return math.nan
    return num / den


def compute_metrics(
    equity: np.ndarray,
    position: np.ndarray,
    trades: np.ndarray,
    *,
    cash: float,
    bar_ns: int,
    fees: float,
) -> dict[str, float]:
    """The metrics of the module docstring, by name (floats; counts are whole floats)."""
    if int(equity.shape[0]) == 0:
        raise ValueError("no bars to measure")
    stats = equity_stats(
        np.ascontiguousarray(equity, dtype=np.float64),
        np.ascontiguousarray(position, dtype=np.float64),
        float(cash),
    )
    return metrics_from_stats(stats, trades, cash=cash, bar_ns=bar_ns, fees=fees)


def metrics_from_stats(
    stats: np.ndarray, trades: np.ndarray, *, cash: float, bar_ns: int, fees: float
) -> dict[str, float]:
    """:func:`compute_metrics` from the statistics vector the kernel accumulated."""
    return metrics_from_pnl(stats, closed_pnl(trades), cash=cash, bar_ns=bar_ns, fees=fees)


def closed_pnl(trades: np.ndarray) -> np.ndarray:
    """The PnL of the closed round trips among ``trades`` rows, in order (contiguous)."""
    if not len(trades):
        return np.zeros(0)
    return np.ascontiguousarray(trades[trades[:, T_OPEN] == 0.0, T_PNL])


def metrics_from_pnl(
    stats: np.ndarray, pnl: np.ndarray, *, cash: float, bar_ns: int, fees: float
) -> dict[str, float]:
    """:func:`metrics_from_stats` given the closed trades' PnL (:func:`closed_pnl`)."""
    n = int(stats[ST_BARS])
    if n == 0:
        raise ValueError("no bars to measure")
    mean, std, downside, max_dd, longest, exposed, final = (float(x) for x in stats[:ST_BARS])
    per_year = YEAR_NS / bar_ns
    growth = final / cash
    years = n * bar_ns / YEAR_NS
    cagr = growth ** (1.0 / years) - 1.0 if growth > 0 else -1.0
    wins = pnl > 0
    won = int(np.count_nonzero(wins))
    gross_profit = float(pnl[wins].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if len(pnl) == 0:
        profit_factor = math.nan
    elif gross_loss == 0.0:
        profit_factor = math.inf if gross_profit > 0 else math.nan
    else:
        profit_factor = gross_profit / gross_loss
    root = math.sqrt(per_year)
    return {
        "total_return": growth - 1.0,
        "cagr": cagr,
        "volatility": std * root,
        "sharpe": _ratio(mean, std) * root,
        "sortino": _ratio(mean, downside) * root,
        "max_drawdown": max_dd,
        "max_drawdown_bars": float(longest),
        "max_drawdown_duration_s": longest * bar_ns / 1e9,
        "calmar": _ratio(cagr, max_dd),
        "win_rate": float(won) / len(pnl) if len(pnl) else math.nan,
        "profit_factor": profit_factor,
        "avg_trade": float(pnl.mean()) if len(pnl) else math.nan,
        "exposure": exposed / n,
        "trades": float(len(pnl)),
        "fees": float(fees),
        "final_equity": final,
        "bars": float(n),
    }


__all__ = [
    "HIGHER_IS_BETTER",
    "METRIC_NAMES",
    "YEAR_NS",
    "closed_pnl",
    "compute_metrics",
    "equity_stats",
    "json_safe",
    "metrics_from_pnl",
    "metrics_from_stats",
    "sort_key",
]
