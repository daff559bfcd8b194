"""The backtest kernel: signal events -> target positions -> fills -> cash, position, equity.

Its input is one *event* per bar (:mod:`desk.backtest.events`: the strategies' own batch
signals): :data:`EV_LONG`, :data:`EV_SHORT`, :data:`EV_FLAT` (a signal in that direction was
decided on the bar's close) or :data:`EV_NONE`; or the strategy's candidate *codes*
(:meth:`~desk.signals.strategy.BaseStrategy.batch_codes`), which the kernel turns into events
as it goes by the strategy API's state machine (:func:`next_state`), saving a pass.

The kernel walks the bars once (numba, ``cache=True``, ``nogil=True``). In each bar:

1. **Pending order** (``fill: open``): the order decided on the previous bar's close fills at
   this bar's open.
2. **Exits** (optional): with ``stop_loss``/``take_profit`` set and a position open, the bar's
   range is checked against ``entry x (1 -/+ stop_loss)`` and ``entry x (1 +/- take_profit)``
   (entry = the position's average entry price). A bar that opens beyond a level exits at the
   open; when both levels lie inside one bar the stop is assumed first (the conservative
   reading). A stop is a market order (taker fee, slippage); a take-profit a resting limit
   (maker fee, no slippage). The strategy's state is untouched: it re-enters on its next signal.
3. **Signal** at the close: the target position and the order that reaches it are sized now
   (see below) and filled at this close (``fill: close``) or at the next bar's open (default:
   a signal on bar t's close cannot trade at that close). A signal on the last bar with
   ``fill: open`` never fills.
4. **Marks**: cash, position and equity = cash + position x close, kept per bar when asked
   (a sweep does not), and the equity statistics of :mod:`desk.backtest.stats` from bar
   ``start`` on, from which :func:`~desk.backtest.metrics.metrics_from_stats` makes the metrics.

The rules below (sizing, fill prices and fees, exits) are compiled once, on plain numbers,
in :mod:`desk.backtest.orders`; this kernel and the lockstep one of
:mod:`desk.backtest.lockstep` both call them.

Sizing, as a bot's order goes through :class:`~desk.execution.bot_orders.OmsSink`,
:func:`~desk.execution.sizing.size_for` and risk:

* FLAT targets 0. LONG/SHORT target +/- a size: ``fixed``: ``size`` as is; ``fraction``:
  ``equity x fraction / close`` (equity marked at the signal's close; refused when equity < 0);
  ``atr``: ``risk_budget / (atr_multiple x ATR(14))`` (refused while the ATR is not > 0); both
  capped at ``size``, rounded *down* to the lot and refused when that is below the minimum
  size (or 0). The backtest's ``leverage`` then caps |target| x close at leverage x equity
  (rounded down to the lot).
* The order is target - position, its size rounded down to the lot (risk does this for a
  bot's order) and refused when below the minimum size. A refused signal trades nothing and
  the position stays (as live, where the signal's fate is FILTERED_RISK); it is counted in
  ``skipped``.

Fills: a market order's price moves against it by ``slippage_bps`` of the price plus
``slippage_range`` x (high - low) of the fill bar; prices go onto the tick (buys up, sells down,
a value within 1e-9 ticks of the grid counts as on it, as :mod:`desk.market.instruments`
does). Fees are ``|qty| x price x bps / 10,000`` in quote currency, taken from cash. Cash may
go negative (a short's proceeds are cash; a margin account, as the paper venue keeps it).

Sizes are floats here, not Decimals: a size within float noise of a lot multiple (1e-9 steps,
or a few ulps of a large count) counts as that multiple, and orders are worked out in whole
lots, so they are the exact differences live trading sends.

Trades are round trips: one opens when the position leaves 0 (or flips), and closes when it is
back at 0 (or flips again; a flip's fee is split pro rata between the two). Each row holds
entry/exit bar, side, size, average entry/exit price, PnL net of fees, fees, whether it is still
open at the end (then marked at the last close, no exit fee) and the exit reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numba
import numpy as np

from desk.backtest import stats as bar_stats
from desk.backtest.book import (
    N_STATE,
    N_TRADE_COLS,
    REASON_END,
    REASON_SIGNAL,
    REASON_STOP,
    S_CASH,
    S_EQTY,
    S_EVAL,
    S_FEES,
    S_FILLS,
    S_NTR,
    S_POS,
    S_SKIPPED,
    S_XQTY,
    S_XVAL,
    apply_fill,
    close_trade,
)
from desk.backtest.config import SIZING_CODES, BacktestConfig
from desk.backtest.orders import (
    EV_FLAT,
    EV_NONE,
    exit_at,
    fill_price,
    order_size,
)
from desk.backtest.orders import EV_LONG as EV_LONG  # the event codes, re-exported
from desk.backtest.orders import EV_SHORT as EV_SHORT

_JIT = {"cache": True, "nogil": True}


# The config vector (floats; see config_vector).
C_CASH, C_SIZING, C_SIZE, C_FRACTION, C_RISK, C_ATR_MULT = 0, 1, 2, 3, 4, 5
C_MAKER, C_TAKER, C_LIMIT, C_SLIP_BPS, C_SLIP_RANGE, C_FILL_CLOSE = 6, 7, 8, 9, 10, 11
C_LEVERAGE, C_STOP, C_TAKE, C_TICK, C_LOT, C_MIN, C_START = 12, 13, 14, 15, 16, 17, 18
N_CFG = 19


class KernelOutput(NamedTuple):
    """Per-bar marks (at each close; empty when not asked for), the trades of one run, and
    the equity statistics from its first traded bar (:mod:`desk.backtest.stats`)."""

    cash: np.ndarray
    position: np.ndarray
    equity: np.ndarray
    trades: np.ndarray  # (n_trades, N_TRADE_COLS) float64
    fees: float
    fills: int
    skipped: int
    stats: np.ndarray


def config_vector(config: BacktestConfig, start: int = 0) -> np.ndarray:
    """``config`` as the kernel's float vector; ``start``: first bar whose signals trade."""
    c = np.zeros(N_CFG, dtype=np.float64)
    c[C_CASH] = config.cash
    c[C_SIZING] = SIZING_CODES[config.sizing]
    c[C_SIZE] = config.size
    c[C_FRACTION] = config.fraction
    c[C_RISK] = config.risk_budget
    c[C_ATR_MULT] = config.atr_multiple
    c[C_MAKER] = config.maker_bps
    c[C_TAKER] = config.taker_bps
    c[C_LIMIT] = 1.0 if config.order_type == "limit" else 0.0
    c[C_SLIP_BPS] = config.slippage_bps
    c[C_SLIP_RANGE] = config.slippage_range
    c[C_FILL_CLOSE] = 1.0 if config.fill == "close" else 0.0
    c[C_LEVERAGE] = config.leverage or 0.0
    c[C_STOP] = config.stop_loss or 0.0
    c[C_TAKE] = config.take_profit or 0.0
    c[C_TICK] = config.tick
    c[C_LOT] = config.lot
    c[C_MIN] = config.min_size
    c[C_START] = start
    return c


# ---- compiled parts ----------------------------------------------------------------------


@numba.njit(inline="always", cache=True, nogil=True)
def next_state(state: int, code: int) -> int:
    """The strategy API's :func:`~desk.signals.strategy.transition`, compiled: the state
    (1, -1, 0) a candidate code moves ``state`` to, or 9 when it moves nothing."""
    if (code == 1 or code == -1) and state != code:
        return code
    if (code == 2 and state == 1) or (code == -2 and state == -1) or (code == 3 and state != 0):
        return 0
    return 9


@numba.njit(**_JIT)
def _execute(
    st: np.ndarray,
    trades: np.ndarray,
    cfg: np.ndarray,
    qty: float,
    base: float,
    bar_range: float,
    bar: int,
    market: bool,
    reason: int,
) -> None:
    """Fill ``qty`` (signed) around ``base``: slippage and taker fee if ``market``, else maker."""
    price, fee = fill_price(
        qty, base, bar_range, market, cfg[C_SLIP_BPS], cfg[C_SLIP_RANGE], cfg[C_TAKER],
        cfg[C_MAKER], cfg[C_TICK],
    )  # fmt: skip
    apply_fill(st, trades, qty, price, fee, bar, reason, cfg[C_LOT])


@numba.njit(**_JIT)
def order_qty(st: np.ndarray, cfg: np.ndarray, event: int, price: float, atr: float) -> float:
    """The signed order a signal on this close sends; 0 with S_SKIPPED bumped when refused
    (:func:`~desk.backtest.orders.order_size`)."""
    q, refused = order_size(
        st[S_POS], st[S_CASH], event, price, atr, cfg[C_SIZING], cfg[C_SIZE], cfg[C_FRACTION],
        cfg[C_RISK], cfg[C_ATR_MULT], cfg[C_LEVERAGE], cfg[C_LOT], cfg[C_MIN],
    )  # fmt: skip
    if refused:
        st[S_SKIPPED] += 1.0
    return q


@numba.njit(**_JIT)
def _exits(
    st: np.ndarray, trades: np.ndarray, cfg: np.ndarray, o: float, h: float, lo: float, bar: int
) -> None:
    """Stop-loss / take-profit inside this bar for the open position."""
    pos = st[S_POS]
    entry = st[S_EVAL] / st[S_EQTY]
    qty = -pos
    if abs(qty) < cfg[C_MIN]:
        return
    reason, base = exit_at(pos, entry, o, h, lo, cfg[C_STOP], cfg[C_TAKE])
    if reason >= 0:
        _execute(st, trades, cfg, qty, base, h - lo, bar, reason == REASON_STOP, reason)


@numba.njit(**_JIT)
def simulate_arrays(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    signals: np.ndarray,
    from_codes: bool,
    cfg: np.ndarray,
    cash_out: np.ndarray,
    pos_out: np.ndarray,
    equity_out: np.ndarray,
    trades: np.ndarray,
    stats_out: np.ndarray,
) -> np.ndarray:
    """The bar loop (module docstring); fills the outputs, returns the final state vector.

    ``signals`` are events, or candidate codes with ``from_codes``. Curves are written when
    their arrays have one slot per bar (a sweep passes empty ones: less to write).
    """
    n = close.shape[0]
    st = np.zeros(N_STATE, dtype=np.float64)
    st[S_CASH] = cfg[C_CASH]
    start = int(cfg[C_START])
    fill_close = cfg[C_FILL_CLOSE] > 0.0
    market = cfg[C_LIMIT] == 0.0
    exits = cfg[C_STOP] > 0.0 or cfg[C_TAKE] > 0.0
    keep_cash = cash_out.shape[0] == n
    keep_curves = equity_out.shape[0] == n
    cash0 = cfg[C_CASH]
    prev = peak = low_eq = cash0
    k = s1 = s2 = down = max_dd = 0.0
    under = longest = exposed = 0
    state = 0
    pending = 0.0
    for i in range(n):
        if pending != 0.0:
            _execute(st, trades, cfg, pending, open_[i], high[i] - low[i], i, market, REASON_SIGNAL)
            pending = 0.0
        if exits and st[S_POS] != 0.0:
            _exits(st, trades, cfg, open_[i], high[i], low[i], i)
        ev = signals[i]
        if ev != EV_NONE and from_codes:
            new = next_state(state, ev)
            if new == 9:
                ev = EV_NONE
            else:
                state = new
                ev = EV_FLAT if new == 0 else new
        if ev != EV_NONE and i >= start:
            a = atr[i] if i < atr.shape[0] else math.nan  # no ATR series: empty
            qty = order_qty(st, cfg, ev, close[i], a)
            if qty != 0.0:
                if fill_close:
                    _execute(
                        st, trades, cfg, qty, close[i], high[i] - low[i], i, market, REASON_SIGNAL
                    )
                elif i + 1 < n:
                    pending = qty
        pos = st[S_POS]
        e = st[S_CASH] + pos * close[i]
        if keep_cash:
            cash_out[i] = st[S_CASH]
        if keep_curves:
            pos_out[i] = pos
            equity_out[i] = e
        if i >= start:
            if i == start:
                k = bar_stats.first_return(e, cash0)
            prev, peak, s1, s2, down, low_eq, max_dd, under, longest, exposed = bar_stats.step(
                e, pos, prev, peak, k, s1, s2, down, low_eq, max_dd, under, longest, exposed
            )
    bar_stats.finish(
        stats_out, max(n - start, 0), prev, peak, k, s1, s2, down, low_eq, max_dd, longest,
        exposed,
    )  # fmt: skip
    if st[S_POS] != 0.0 and n > 0:
        a = abs(st[S_POS])
        st[S_XQTY] += a
        st[S_XVAL] += a * close[n - 1]
        close_trade(st, trades, n - 1, REASON_END, True)
    return st


# ---- Python side -------------------------------------------------------------------------


def simulate(
    arrays: Mapping[str, np.ndarray],
    events: np.ndarray,
    config: BacktestConfig,
    *,
    atr: np.ndarray | None = None,
    start: int = 0,
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    codes: bool = False,
    curves: bool = True,
) -> KernelOutput:
    """Run the kernel over ``arrays`` (open/high/low/close) with per-bar ``events``.

    ``codes``: ``events`` are a strategy's candidate codes (see the module docstring).
    ``atr`` (ATR(14) per bar) is needed for ``sizing: atr``; ``start`` is the first bar whose
    signals may trade (earlier bars are warm-up: flat, equity = cash; the statistics start
    there). ``curves=False`` keeps no per-bar cash, position and equity (the output's are
    empty): a sweep needs only the statistics. ``buffers`` (cash, position, equity arrays of
    the bars' length) are written into instead of new arrays (the output then views them);
    the cash one may be empty, and is then left unwritten.
    """
    close = np.ascontiguousarray(arrays["close"], dtype=np.float64)
    n = close.shape[0]
    ev = np.ascontiguousarray(events, dtype=np.int8)
    if ev.shape != (n,):
        raise ValueError(f"events must have one entry per bar ({n}), got shape {ev.shape}")
    if atr is None:
        if config.sizing == "atr":
            raise ValueError("atr sizing needs the ATR series")
        atr = _NO_ATR
    if not curves:
        cash, pos, equity = _NO_ATR, _NO_ATR, _NO_ATR
    elif buffers is None:
        cash, pos, equity = np.empty(n), np.empty(n), np.empty(n)
    else:
        cash, pos, equity = buffers
        if not pos.shape == equity.shape == (n,) or cash.shape not in ((n,), (0,)):
            raise ValueError(f"buffers must be arrays of {n} floats (cash may be empty)")
    trades = np.empty((int(np.count_nonzero(ev)) + 1, N_TRADE_COLS))
    stats = np.empty(bar_stats.N_STATS)
    st = simulate_arrays(
        np.ascontiguousarray(arrays["open"], dtype=np.float64),
        np.ascontiguousarray(arrays["high"], dtype=np.float64),
        np.ascontiguousarray(arrays["low"], dtype=np.float64),
        close,
        np.ascontiguousarray(atr, dtype=np.float64),
        ev,
        codes,
        config_vector(config, start),
        cash,
        pos,
        equity,
        trades,
        stats,
    )
    return KernelOutput(
        cash,
        pos,
        equity,
        trades[: int(st[S_NTR])].copy(),
        float(st[S_FEES]),
        int(st[S_FILLS]),
        int(st[S_SKIPPED]),
        stats,
    )


_NO_ATR = np.empty(0)
