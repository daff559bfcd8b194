"""The kernel's account: its state vector, the trade rows, and booking one fill.

Compiled helpers of :mod:`desk.backtest.kernel` (see its docstring for the rules): a fill moves
cash and the position and opens, grows, shrinks, closes or flips the round trip it belongs
to; a closed round trip becomes one row of the trades table.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True}

# Exit reasons (trade column T_REASON).
REASON_SIGNAL = 0
REASON_STOP = 1
REASON_TAKE = 2
REASON_END = 3
REASONS = {REASON_SIGNAL: "signal", REASON_STOP: "stop_loss", REASON_TAKE: "take_profit"}
REASONS[REASON_END] = "end"

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
REL_TOL = 4 * 2.0**-52
"""Plus this share of the count: the float noise of a count of many steps (4 ulps)."""


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
def close_trade(st: np.ndarray, trades: np.ndarray, bar: int, reason: int, is_open: bool) -> None:
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
def apply_fill(
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
            close_trade(st, trades, bar, reason, False)
    else:
        closed = abs(pos)
        part = closed / a
        st[S_XQTY] += closed
        st[S_XVAL] += closed * price
        st[S_TFEES] += fee * part
        close_trade(st, trades, bar, reason, False)
        _open_trade(st, new, price, fee * (1.0 - part), bar)
    st[S_POS] = new
