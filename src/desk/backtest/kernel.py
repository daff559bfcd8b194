"""The backtest kernel: signal events -> target positions -> fills -> cash, position, equity.

Its input is one *event* per bar (:mod:`desk.backtest.events`: the strategies' own batch
signals): :data:`EV_LONG`, :data:`EV_SHORT`, :data:`EV_FLAT` (a signal in that direction was
decided on the bar's close) or :data:`EV_NONE`.

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
4. **Marks**: cash, position and equity = cash + position x close.

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

Sizes are floats here, not Decimals: lot rounding uses the same 1e-9-step tolerance, so a
size within float noise of a lot multiple counts as that multiple.

Trades are round trips: one opens when the position leaves 0 (or flips), and closes when it is
back at 0 (or flips again; a flip's fee is split pro rata between the two). Each row holds
entry/exit bar, side, size, average entry/exit price, PnL net of fees, fees, whether it is still
open at the end (then marked at the last close, no exit fee) and the exit reason.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from desk.backtest.config import SIZING_CODES, BacktestConfig

_JIT = {"cache": True, "nogil": True}

EV_NONE = 0
EV_LONG = 1
EV_SHORT = -1
EV_FLAT = 2

# Exit reasons (trade column T_REASON).
REASON_SIGNAL = 0
REASON_STOP = 1
REASON_TAKE = 2
REASON_END = 3
REASONS = {REASON_SIGNAL: "signal", REASON_STOP: "stop_loss", REASON_TAKE: "take_profit"}
REASONS[REASON_END] = "end"

# The config vector (floats; see config_vector).
C_CASH, C_SIZING, C_SIZE, C_FRACTION, C_RISK, C_ATR_MULT = 0, 1, 2, 3, 4, 5
C_MAKER, C_TAKER, C_LIMIT, C_SLIP_BPS, C_SLIP_RANGE, C_FILL_CLOSE = 6, 7, 8, 9, 10, 11
C_LEVERAGE, C_STOP, C_TAKE, C_TICK, C_LOT, C_MIN, C_START = 12, 13, 14, 15, 16, 17, 18
N_CFG = 19

# Trade columns.
T_ENTRY_BAR, T_EXIT_BAR, T_SIDE, T_SIZE, T_ENTRY_PX, T_EXIT_PX = 0, 1, 2, 3, 4, 5
T_PNL, T_FEES, T_OPEN, T_REASON = 6, 7, 8, 9
N_TRADE_COLS = 10
TRADE_COLUMNS = (
    "entry_bar",
    "exit_bar",
    "side",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "fees",
    "open",
    "reason",
)

# Kernel state vector.
S_CASH, S_POS, S_SIDE, S_EQTY, S_EVAL, S_XQTY, S_XVAL, S_TFEES, S_EBAR = 0, 1, 2, 3, 4, 5, 6, 7, 8
S_FEES, S_FILLS, S_SKIPPED, S_NTR = 9, 10, 11, 12
N_STATE = 13

GRID_TOL = 1e-9
"""In steps: a value this close to a multiple of the lot or tick counts as that multiple."""


class KernelOutput(NamedTuple):
    """Per-bar marks (at each close) and the trades of one run."""

    cash: np.ndarray
    position: np.ndarray
    equity: np.ndarray
    trades: np.ndarray  # (n_trades, N_TRADE_COLS) float64
    fees: float
    fills: int
    skipped: int


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


@numba.njit(**_JIT)
def floor_step(x: float, step: float) -> float:
    """``x`` >= 0 down to a multiple of ``step`` (0: unchanged), within GRID_TOL of the grid."""
    if step <= 0.0:
        return x
    s = x / step
    k = math.floor(s + 0.5)
    if abs(s - k) <= GRID_TOL:
        return k * step
    return math.floor(s) * step


@numba.njit(**_JIT)
def round_price(p: float, tick: float, up: bool) -> float:
    """``p`` onto the tick, up for a buy and down for a sell (0 tick: unchanged)."""
    if tick <= 0.0:
        return p
    s = p / tick
    k = math.floor(s + 0.5)
    if abs(s - k) <= GRID_TOL:
        return k * tick
    if up:
        return math.ceil(s) * tick
    return math.floor(s) * tick


@numba.njit(**_JIT)
def _snap_position(x: float, before: float, qty: float, lot: float) -> float:
    """A position back on the lot grid (float noise off); exactly 0 when it closed."""
    if lot > 0.0:
        return math.floor(x / lot + 0.5) * lot
    if abs(x) <= 1e-12 * max(abs(before), abs(qty)):
        return 0.0
    return x


@numba.njit(**_JIT)
def _open_trade(st: np.ndarray, qty: float, price: float, fee: float, bar: int) -> None:
    st[S_SIDE] = 1.0 if qty > 0 else -1.0
    st[S_EQTY] = abs(qty)
    st[S_EVAL] = abs(qty) * price
    st[S_XQTY] = 0.0
    st[S_XVAL] = 0.0
    st[S_TFEES] = fee
    st[S_EBAR] = bar


@numba.njit(**_JIT)
def _close_trade(st: np.ndarray, trades: np.ndarray, bar: int, reason: int, is_open: bool) -> None:
    k = int(st[S_NTR])
    side = st[S_SIDE]
    trades[k, T_ENTRY_BAR] = st[S_EBAR]
    trades[k, T_EXIT_BAR] = bar
    trades[k, T_SIDE] = side
    trades[k, T_SIZE] = st[S_EQTY]
    trades[k, T_ENTRY_PX] = st[S_EVAL] / st[S_EQTY]
    trades[k, T_EXIT_PX] = st[S_XVAL] / st[S_XQTY]
    trades[k, T_PNL] = side * (st[S_XVAL] - st[S_EVAL]) - st[S_TFEES]
    trades[k, T_FEES] = st[S_TFEES]
    trades[k, T_OPEN] = 1.0 if is_open else 0.0
    trades[k, T_REASON] = reason
    st[S_NTR] = k + 1


@numba.njit(**_JIT)
def _apply_fill(
    st: np.ndarray,
    trades: np.ndarray,
    qty: float,
    price: float,
    fee: float,
    bar: int,
    reason: int,
    lot: float,
) -> None:
    """Book one fill: cash, position, and the round trip it opens, grows, shrinks or closes."""
    pos = st[S_POS]
    new = _snap_position(pos + qty, pos, qty, lot)
    st[S_CASH] -= qty * price + fee
    st[S_FEES] += fee
    st[S_FILLS] += 1.0
    a = abs(qty)
    if pos == 0.0:
        _open_trade(st, qty, price, fee, bar)
    elif (pos > 0.0) == (qty > 0.0):
        st[S_EQTY] += a
        st[S_EVAL] += a * price
        st[S_TFEES] += fee
    elif new == 0.0 or (new > 0.0) == (pos > 0.0):
        st[S_XQTY] += a
        st[S_XVAL] += a * price
        st[S_TFEES] += fee
        if new == 0.0:
            _close_trade(st, trades, bar, reason, False)
    else:
        closed = abs(pos)
        part = closed / a
        st[S_XQTY] += closed
        st[S_XVAL] += closed * price
        st[S_TFEES] += fee * part
        _close_trade(st, trades, bar, reason, False)
        _open_trade(st, new, price, fee * (1.0 - part), bar)
    st[S_POS] = new


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
    buy = qty > 0.0
    if market:
        slip = base * cfg[C_SLIP_BPS] / 10_000.0 + cfg[C_SLIP_RANGE] * bar_range
        price = base + slip if buy else base - slip
        bps = cfg[C_TAKER]
    else:
        price = base
        bps = cfg[C_MAKER]
    price = round_price(price, cfg[C_TICK], buy)
    fee = abs(qty) * price * bps / 10_000.0
    _apply_fill(st, trades, qty, price, fee, bar, reason, cfg[C_LOT])


@numba.njit(**_JIT)
def order_qty(st: np.ndarray, cfg: np.ndarray, event: int, price: float, atr: float) -> float:
    """The signed order a signal on this close sends; 0 with S_SKIPPED bumped when refused."""
    pos = st[S_POS]
    lot = cfg[C_LOT]
    min_size = cfg[C_MIN]
    target = 0.0
    if event != EV_FLAT:
        equity = st[S_CASH] + pos * price
        sizing = cfg[C_SIZING]
        if sizing == 0.0:
            size = cfg[C_SIZE]
        else:
            if sizing == 1.0:
                if equity < 0.0:
                    st[S_SKIPPED] += 1.0
                    return 0.0
                size = equity * cfg[C_FRACTION] / price
            else:
                if not atr > 0.0:
                    st[S_SKIPPED] += 1.0
                    return 0.0
                size = cfg[C_RISK] / (cfg[C_ATR_MULT] * atr)
            size = floor_step(min(size, cfg[C_SIZE]), lot)
            if size < min_size or size <= 0.0:
                st[S_SKIPPED] += 1.0
                return 0.0
        if cfg[C_LEVERAGE] > 0.0:
            cap = floor_step(cfg[C_LEVERAGE] * max(equity, 0.0) / price, lot)
            size = min(size, cap)
        target = size if event == EV_LONG else -size
    delta = target - pos
    if delta == 0.0:
        return 0.0
    q = floor_step(abs(delta), lot)
    if q <= 0.0 or q < min_size:
        st[S_SKIPPED] += 1.0
        return 0.0
    return q if delta > 0.0 else -q


@numba.njit(**_JIT)
def _exits(
    st: np.ndarray, trades: np.ndarray, cfg: np.ndarray, o: float, h: float, lo: float, bar: int
) -> None:
    """Stop-loss / take-profit inside this bar for the open position."""
    pos = st[S_POS]
    stop, take = cfg[C_STOP], cfg[C_TAKE]
    entry = st[S_EVAL] / st[S_EQTY]
    qty = -pos
    if abs(qty) < cfg[C_MIN]:
        return
    if pos > 0.0:
        sl, tp = entry * (1.0 - stop), entry * (1.0 + take)
        if take > 0.0 and o >= tp:
            _execute(st, trades, cfg, qty, o, h - lo, bar, False, REASON_TAKE)
        elif stop > 0.0 and o <= sl:
            _execute(st, trades, cfg, qty, o, h - lo, bar, True, REASON_STOP)
        elif stop > 0.0 and lo <= sl:
            _execute(st, trades, cfg, qty, sl, h - lo, bar, True, REASON_STOP)
        elif take > 0.0 and h >= tp:
            _execute(st, trades, cfg, qty, tp, h - lo, bar, False, REASON_TAKE)
    else:
        sl, tp = entry * (1.0 + stop), entry * (1.0 - take)
        if take > 0.0 and o <= tp:
            _execute(st, trades, cfg, qty, o, h - lo, bar, False, REASON_TAKE)
        elif stop > 0.0 and o >= sl:
            _execute(st, trades, cfg, qty, o, h - lo, bar, True, REASON_STOP)
        elif stop > 0.0 and h >= sl:
            _execute(st, trades, cfg, qty, sl, h - lo, bar, True, REASON_STOP)
        elif take > 0.0 and lo <= tp:
            _execute(st, trades, cfg, qty, tp, h - lo, bar, False, REASON_TAKE)


@numba.njit(**_JIT)
def simulate_arrays(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    events: np.ndarray,
    cfg: np.ndarray,
    cash_out: np.ndarray,
    pos_out: np.ndarray,
    equity_out: np.ndarray,
    trades: np.ndarray,
) -> np.ndarray:
    """The bar loop (module docstring); fills the outputs, returns the final state vector."""
    n = close.shape[0]
    st = np.zeros(N_STATE, dtype=np.float64)
    st[S_CASH] = cfg[C_CASH]
    start = int(cfg[C_START])
    fill_close = cfg[C_FILL_CLOSE] > 0.0
    market = cfg[C_LIMIT] == 0.0
    exits = cfg[C_STOP] > 0.0 or cfg[C_TAKE] > 0.0
    keep_cash = cash_out.shape[0] == n  # a sweep passes an empty one: less to write
    pending = 0.0
    for i in range(n):
        if pending != 0.0:
            _execute(st, trades, cfg, pending, open_[i], high[i] - low[i], i, market, REASON_SIGNAL)
            pending = 0.0
        if exits and st[S_POS] != 0.0:
            _exits(st, trades, cfg, open_[i], high[i], low[i], i)
        ev = events[i]
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
        if keep_cash:
            cash_out[i] = st[S_CASH]
        pos_out[i] = st[S_POS]
        equity_out[i] = st[S_CASH] + st[S_POS] * close[i]
    if st[S_POS] != 0.0 and n > 0:
        a = abs(st[S_POS])
        st[S_XQTY] += a
        st[S_XVAL] += a * close[n - 1]
        _close_trade(st, trades, n - 1, REASON_END, True)
    return st


# ---- Python side -------------------------------------------------------------------------


def simulate(
    arrays: dict[str, np.ndarray],
    events: np.ndarray,
    config: BacktestConfig,
    *,
    atr: np.ndarray | None = None,
    start: int = 0,
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> KernelOutput:
    """Run the kernel over ``arrays`` (open/high/low/close) with per-bar ``events``.

    ``atr`` (ATR(14) per bar) is needed for ``sizing: atr``; ``start`` is the first bar whose
    signals may trade (earlier bars are warm-up: flat, equity = cash). ``buffers`` (cash,
    position, equity arrays of the bars' length) are written into instead of new arrays: a
    sweep reuses them from one combination to the next (the output then views them), and
    passes an empty cash array, which is then left unwritten.
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
    if buffers is None:
        cash, pos, equity = np.empty(n), np.empty(n), np.empty(n)
    else:
        cash, pos, equity = buffers
        if not pos.shape == equity.shape == (n,) or cash.shape not in ((n,), (0,)):
            raise ValueError(f"buffers must be arrays of {n} floats (cash may be empty)")
    trades = np.empty((int(np.count_nonzero(ev)) + 1, N_TRADE_COLS))
    st = simulate_arrays(
        np.ascontiguousarray(arrays["open"], dtype=np.float64),
        np.ascontiguousarray(arrays["high"], dtype=np.float64),
        np.ascontiguousarray(arrays["low"], dtype=np.float64),
        close,
        np.ascontiguousarray(atr, dtype=np.float64),
        ev,
        config_vector(config, start),
        cash,
        pos,
        equity,
        trades,
    )
    return KernelOutput(
        cash,
        pos,
        equity,
        trades[: int(st[S_NTR])].copy(),
        float(st[S_FEES]),
        int(st[S_FILLS]),
        int(st[S_SKIPPED]),
    )


_NO_ATR = np.empty(0)
