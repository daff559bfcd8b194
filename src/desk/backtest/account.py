"""One parameter set's orders and fills on local variables: pass 1 of the lockstep kernel.

:func:`account` walks one set's bars as the single-run kernel does
(:func:`desk.backtest.kernel.simulate_arrays`: pending fill at the open, exits inside the
bar, the signal at the close) with the same rules (:mod:`desk.backtest.orders`) and the
book of :func:`desk.backtest.book.apply_fill` written out on local variables, and skips the
bars where nothing can happen. It leaves the marks and statistics to
:mod:`desk.backtest.batch`, which it tells the bars where the set's cash and position
change. Keeping the account in locals (not a state array shared with the trades table, and
no array handed to a compiled call) makes a fill a few tens of nanoseconds instead of a few
hundred.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from desk.backtest.book import (
    REASON_END,
    REASON_SIGNAL,
    REASON_STOP,
    S_CASH,
    S_FEES,
    S_FILLS,
    S_NTR,
    S_POS,
    S_SKIPPED,
    T_ENTRY_BAR,
    T_ENTRY_PX,
    T_EXIT_BAR,
    T_EXIT_PX,
    T_FEES,
    T_OPEN,
    T_PNL,
    T_REASON,
    T_SIDE,
    T_SIZE,
    _snap_position,
)
from desk.backtest.kernel import (
    C_ATR_MULT,
    C_CASH,
    C_FILL_CLOSE,
    C_FRACTION,
    C_LEVERAGE,
    C_LIMIT,
    C_LOT,
    C_MAKER,
    C_MIN,
    C_RISK,
    C_SIZE,
    C_SIZING,
    C_SLIP_BPS,
    C_SLIP_RANGE,
    C_START,
    C_STOP,
    C_TAKE,
    C_TAKER,
    C_TICK,
    next_state,
)
from desk.backtest.orders import EV_FLAT, exit_at, fill_price, order_size

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def account(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    codes: np.ndarray,
    cfg: np.ndarray,
    st: np.ndarray,
    trades: np.ndarray,
    at: np.ndarray,
    cash_at: np.ndarray,
    pos_at: np.ndarray,
) -> None:
    """Pass 1 for one set: its orders and fills over the bars.

    The single-run kernel's steps in its order (:mod:`desk.backtest.kernel`: pending fill,
    exits, signal), with its rules (:mod:`desk.backtest.orders`) and the book of
    :func:`~desk.backtest.book.apply_fill` written out on local variables (no array is
    passed to a compiled call on the way: see :mod:`desk.backtest.orders`), visiting only
    the bars where something can happen. Each bar with a fill goes into ``at`` with the cash
    and position it closes with, then the bar count as an end mark; the set's totals go into
    ``st`` (its N_STATE layout) and its round trips into ``trades``.
    """
    n = close.shape[0]
    start = int(cfg[C_START])
    fill_close = cfg[C_FILL_CLOSE] > 0.0
    market = cfg[C_LIMIT] == 0.0
    stop, take = cfg[C_STOP], cfg[C_TAKE]
    exits = stop > 0.0 or take > 0.0
    sizing, size_cap, fraction = cfg[C_SIZING], cfg[C_SIZE], cfg[C_FRACTION]
    risk, atr_mult, leverage = cfg[C_RISK], cfg[C_ATR_MULT], cfg[C_LEVERAGE]
    lot, min_size, tick = cfg[C_LOT], cfg[C_MIN], cfg[C_TICK]
    slip_bps, slip_range = cfg[C_SLIP_BPS], cfg[C_SLIP_RANGE]
    taker, maker = cfg[C_TAKER], cfg[C_MAKER]
    has_atr = atr.shape[0]
    cash = cfg[C_CASH]
    pos = side = eqty = evalue = xqty = xval = tfees = fees = open_fee = 0.0
    ebar = fills = skipped = ntr = m = 0
    state = 0
    pending = 0.0
    i = -1
    while i + 1 < n:
        i += 1
        if pending == 0.0 and not (exits and pos != 0.0):
            # Nothing can happen before the next candidate code: skip to it, 8 bars a step.
            while i + 8 <= n and (
                codes[i] | codes[i + 1] | codes[i + 2] | codes[i + 3]
                | codes[i + 4] | codes[i + 5] | codes[i + 6] | codes[i + 7]
            ) == 0:  # fmt: skip
                i += 8
            while i < n and codes[i] == 0:
                i += 1
            if i == n:
                break
        code = codes[i]
        filled = False
        # Three chances to trade on a bar, in the kernel's order: the pending order at the
        # open, an exit inside the bar, the signal at the close. One fill step serves all.
        for phase in range(3):
            qty = 0.0
            base = 0.0
            mkt = market
            reason = REASON_SIGNAL
            if phase == 0:
                if pending == 0.0:
                    continue
                qty, base = pending, open_[i]
                pending = 0.0
            elif phase == 1:
                if not exits or pos == 0.0 or abs(pos) < min_size:
                    continue
                reason, base = exit_at(pos, evalue / eqty, open_[i], high[i], low[i], stop, take)
                if reason < 0:
                    continue
                qty, mkt = -pos, reason == REASON_STOP
            else:
                if code == 0:
                    break
                new = next_state(state, code)
                if new == 9:
                    break
                state = new
                if i < start:
                    break
                a = atr[i] if i < has_atr else math.nan  # no ATR series: empty
                q, refused = order_size(
                    pos, cash, EV_FLAT if new == 0 else new, close[i], a, sizing, size_cap,
                    fraction, risk, atr_mult, leverage, lot, min_size,
                )  # fmt: skip
                if refused:
                    skipped += 1
                if q == 0.0:
                    break
                if not fill_close:
                    if i + 1 < n:
                        pending = q
                    break
                qty, base = q, close[i]
            # The fill: kernel._execute, then book.apply_fill.
            price, fee = fill_price(
                qty, base, high[i] - low[i], mkt, slip_bps, slip_range, taker, maker, tick
            )
            new_pos = _snap_position(pos + qty, pos, qty, lot)
            cash -= qty * price + fee
            fees += fee
            fills += 1
            filled = True
            size = abs(qty)
            closes = False
            opens = 0.0
            if pos == 0.0:
                opens, open_fee = qty, fee
            elif (pos > 0.0) == (qty > 0.0):
                eqty += size
                evalue += size * price
                tfees += fee
            elif new_pos == 0.0 or (new_pos > 0.0) == (pos > 0.0):
                xqty += size
                xval += size * price
                tfees += fee
                closes = new_pos == 0.0
            else:
                closed = abs(pos)
                part = closed / size
                xqty += closed
                xval += closed * price
                tfees += fee * part
                closes = True
                opens, open_fee = new_pos, fee * (1.0 - part)
            if closes:
                _write_trade(trades, ntr, ebar, i, side, eqty, evalue, xqty, xval, tfees, 0.0)
                trades[ntr, T_REASON] = reason
                ntr += 1
            if opens != 0.0:
                side = 1.0 if opens > 0 else -1.0
                eqty = abs(opens)
                evalue = abs(opens) * price
                xqty = xval = 0.0
                tfees = open_fee
                ebar = i
            pos = new_pos
        if filled:
            if m > 0 and at[m - 1] == i:
                m -= 1  # a second fill on the bar: the bar closes with the last
            at[m] = i
            cash_at[m] = cash
            pos_at[m] = pos
            m += 1
    at[m] = n
    if pos != 0.0 and n > 0:
        size = abs(pos)
        xqty += size
        xval += size * close[n - 1]
        _write_trade(trades, ntr, ebar, n - 1, side, eqty, evalue, xqty, xval, tfees, 1.0)
        trades[ntr, T_REASON] = REASON_END
        ntr += 1
    st[S_CASH] = cash
    st[S_POS] = pos
    st[S_FEES] = fees
    st[S_FILLS] = fills
    st[S_SKIPPED] = skipped
    st[S_NTR] = ntr


@numba.njit(inline="always", **_JIT)
def _write_trade(
    trades: np.ndarray,
    k: int,
    entry_bar: int,
    exit_bar: int,
    side: float,
    eqty: float,
    evalue: float,
    xqty: float,
    xval: float,
    tfees: float,
    is_open: float,
) -> None:
    """Row ``k`` of the trades table, as :func:`~desk.backtest.book.close_trade` writes it."""
    trades[k, T_ENTRY_BAR] = entry_bar
    trades[k, T_EXIT_BAR] = exit_bar
    trades[k, T_SIDE] = side
    trades[k, T_SIZE] = eqty
    trades[k, T_ENTRY_PX] = evalue / eqty
    trades[k, T_EXIT_PX] = xval / xqty
    trades[k, T_PNL] = side * (xval - evalue) - tfees
    trades[k, T_FEES] = tfees
    trades[k, T_OPEN] = is_open
