"""One parameter set's orders and fills over a block of bars: pass 1 of the lockstep kernel.

:func:`account` walks one set's bars as the single-run kernel does
(:func:`desk.backtest.kernel.simulate_arrays`: pending fill at the open, exits inside the
bar, the signal at the close) with the same rules (:mod:`desk.backtest.orders`) and the
book of :func:`desk.backtest.book.apply_fill` written out on local variables, and skips the
bars where nothing can happen. It leaves the marks and statistics to
:mod:`desk.backtest.marks`, which it tells (through :mod:`desk.backtest.lockstep`) the bars
where the set's cash and position change.

It runs one block of bars at a time (the lockstep kernel's block, whose prices are still in
cache: a fill then costs tens of nanoseconds, where a fill at a price fetched from memory
costs a few hundred), keeping its state between blocks in a row of :data:`N_ACCOUNT`
floats. Within a block it keeps that state in locals (no array handed to a compiled call on
the way: see :mod:`desk.backtest.orders`), and finds the next candidate code eight bars a
step (the codes read as 64-bit words).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from desk.backtest.book import (
    N_STATE,
    REASON_END,
    REASON_SIGNAL,
    REASON_STOP,
    S_CASH,
    S_EBAR,
    S_EQTY,
    S_EVAL,
    S_FEES,
    S_FILLS,
    S_NTR,
    S_POS,
    S_SIDE,
    S_SKIPPED,
    S_TFEES,
    S_XQTY,
    S_XVAL,
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

# A set's state between blocks: the book's state vector (desk.backtest.book), then these.
A_STATE, A_PENDING, A_CHANGES = N_STATE, N_STATE + 1, N_STATE + 2
N_ACCOUNT = N_STATE + 3

_ALL = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_BYTE = np.uint64(0xFF)


@numba.njit(inline="always", **_JIT)
def _book(
    qty: float,
    price: float,
    fee: float,
    lot: float,
    cash: float,
    pos: float,
    eqty: float,
    evalue: float,
    xqty: float,
    xval: float,
    tfees: float,
) -> tuple[float, float, float, float, float, float, float, bool, float, float]:
    """:func:`~desk.backtest.book.apply_fill` on numbers: (cash, position, the round trip's
    entry and exit quantities and values and fees, whether it closes, the position a new
    round trip opens with (0: none) and that trip's share of the fee)."""
    new_pos = _snap_position(pos + qty, pos, qty, lot)
    cash -= qty * price + fee
    size = abs(qty)
    closes = False
    opens = open_fee = 0.0
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
    return cash, new_pos, eqty, evalue, xqty, xval, tfees, closes, opens, open_fee


@numba.njit(**_JIT)
def account(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    codes: np.ndarray,
    words: np.ndarray,
    cfg: np.ndarray,
    st: np.ndarray,
    trades: np.ndarray,
    at: np.ndarray,
    cash_at: np.ndarray,
    pos_at: np.ndarray,
    lo: int,
    hi: int,
) -> None:
    """Pass 1 for one set over bars ``[lo, hi)``, from the state ``st`` left by the block
    before (see the lockstep kernel for the first) to the state after it.

    The single-run kernel's steps in its order (:mod:`desk.backtest.kernel`: pending fill,
    exits, signal), with its rules (:mod:`desk.backtest.orders`), visiting only the bars
    where something can happen: with exits, every bar holding a position; without, the bars
    with a candidate code, each order filled as soon as it is decided (its fill at the next
    open is the first thing that happens there). ``codes`` holds the block's candidate
    codes (bar i at ``i - lo``), ``words`` the same memory as 64-bit words. Each bar with a
    fill goes into ``at`` (entry ``st[A_CHANGES]`` on) with the cash and position it closes
    with; the round trips go into ``trades``, and the last block (``hi`` = the bar count)
    closes the one still open.
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
    cash, pos, side = st[S_CASH], st[S_POS], st[S_SIDE]
    eqty, evalue, xqty, xval, tfees = st[S_EQTY], st[S_EVAL], st[S_XQTY], st[S_XVAL], st[S_TFEES]
    fees, pending = st[S_FEES], st[A_PENDING]
    ebar, fills, skipped = int(st[S_EBAR]), int(st[S_FILLS]), int(st[S_SKIPPED])
    ntr, state, m = int(st[S_NTR]), int(st[A_STATE]), int(st[A_CHANGES])
    if not exits and not fill_close:
        # Only a candidate code can trade, and its order fills at the next open with nothing
        # in between: go from code to code, filling each order at once.
        nw = (hi - lo + 7) >> 3
        w = 0
        word = words[0]
        qty, bar = pending, lo  # an order of the block before fills at this one's open
        pending = 0.0
        while True:
            if qty == 0.0:
                while word == 0:
                    w += 1
                    if w >= nw:
                        break
                    word = words[w]
                if word == 0:
                    break
                b = trailing_zeros(word) >> np.uint64(3)
                word &= ~(_BYTE << (b * np.uint64(8)))
                i = lo + w * 8 + int(b)
                if i >= hi:
                    break
                new = next_state(state, codes[i - lo])
                if new == 9:
                    continue
                state = new
                if i < start:
                    continue
                a = atr[i] if i < has_atr else math.nan  # no ATR series: empty
                q, refused = order_size(
                    pos, cash, EV_FLAT if new == 0 else new, close[i], a, sizing, size_cap,
                    fraction, risk, atr_mult, leverage, lot, min_size,
                )  # fmt: skip
                if refused:
                    skipped += 1
                if q == 0.0 or i + 1 == n:
                    continue
                if i + 1 == hi:
                    pending = q  # filled at the next block's first open
                    continue
                qty, bar = q, i + 1
            price, fee = fill_price(
                qty, open_[bar], high[bar] - low[bar], market, slip_bps, slip_range, taker,
                maker, tick,
            )  # fmt: skip
            cash, new_pos, eqty, evalue, xqty, xval, tfees, closes, opens, open_fee = _book(
                qty, price, fee, lot, cash, pos, eqty, evalue, xqty, xval, tfees
            )
            fees += fee
            fills += 1
            if closes:
                _write_trade(trades, ntr, ebar, bar, side, eqty, evalue, xqty, xval, tfees, 0.0,
                             REASON_SIGNAL)  # fmt: skip
                ntr += 1
            if opens != 0.0:
                side, eqty, evalue, xqty, xval, tfees, ebar = _opened(opens, price, open_fee, bar)
            pos = new_pos
            _note(at, cash_at, pos_at, m, bar, cash, pos)
            m += 1
            qty = 0.0
    else:  # every bar where a pending order, an exit or a code can trade
        last_word = (hi - lo - 1) >> 3
        i = lo
        while i < hi:
            if pending == 0.0 and not (exits and pos != 0.0):
                # Nothing can happen before the next candidate code: find it, 8 bars a word.
                w = (i - lo) >> 3
                word = words[w] & (_ALL << np.uint64(((i - lo) & 7) * 8))
                while word == 0 and w < last_word:
                    w += 1
                    word = words[w]
                if word == 0:
                    break
                i = lo + w * 8 + int(trailing_zeros(word) >> np.uint64(3))
                if i >= hi:
                    break
            # Up to three fills on a bar, in the kernel's order: the pending order at its open,
            # an exit inside it, the signal at its close.
            bar_range = high[i] - low[i]
            filled = False
            for phase in range(3):
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
                    reason, base = exit_at(
                        pos, evalue / eqty, open_[i], high[i], low[i], stop, take
                    )
                    if reason < 0:
                        continue
                    qty, mkt = -pos, reason == REASON_STOP
                else:
                    code = codes[i - lo]
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
                            pending = q  # filled when bar i + 1 is visited
                        break
                    qty, base = q, close[i]
                price, fee = fill_price(
                    qty, base, bar_range, mkt, slip_bps, slip_range, taker, maker, tick
                )
                cash, new_pos, eqty, evalue, xqty, xval, tfees, closes, opens, open_fee = _book(
                    qty, price, fee, lot, cash, pos, eqty, evalue, xqty, xval, tfees
                )
                fees += fee
                fills += 1
                filled = True
                if closes:
                    _write_trade(trades, ntr, ebar, i, side, eqty, evalue, xqty, xval, tfees, 0.0,
                                 reason)  # fmt: skip
                    ntr += 1
                if opens != 0.0:
                    side, eqty, evalue, xqty, xval, tfees, ebar = _opened(opens, price, open_fee, i)
                pos = new_pos
            if filled:
                _note(at, cash_at, pos_at, m, i, cash, pos)
                m += 1
            i += 1
    if hi == n and pos != 0.0 and n > 0:
        size = abs(pos)
        xqty += size
        xval += size * close[n - 1]
        _write_trade(trades, ntr, ebar, n - 1, side, eqty, evalue, xqty, xval, tfees, 1.0,
                     REASON_END)  # fmt: skip
        ntr += 1
    st[S_CASH], st[S_POS], st[S_SIDE] = cash, pos, side
    st[S_EQTY], st[S_EVAL], st[S_XQTY], st[S_XVAL], st[S_TFEES] = eqty, evalue, xqty, xval, tfees
    st[S_FEES], st[A_PENDING] = fees, pending
    st[S_EBAR], st[S_FILLS], st[S_SKIPPED] = ebar, fills, skipped
    st[S_NTR], st[A_STATE], st[A_CHANGES] = ntr, state, m


@numba.njit(inline="always", **_JIT)
def _opened(
    opens: float, price: float, fee: float, bar: int
) -> tuple[float, float, float, float, float, float, int]:
    """A round trip opened at ``price`` on ``bar`` with position ``opens`` and that share of
    the fill's fee: (side, entry qty, entry value, exit qty, exit value, fees, entry bar)."""
    return 1.0 if opens > 0 else -1.0, abs(opens), abs(opens) * price, 0.0, 0.0, fee, bar


@numba.njit(inline="always", **_JIT)
def _note(
    at: np.ndarray, cash_at: np.ndarray, pos_at: np.ndarray, m: int, bar: int, cash: float,
    pos: float,
) -> None:  # fmt: skip
    """Change ``m``: bar ``bar`` closes with ``cash`` and ``pos``."""
    at[m] = bar
    cash_at[m] = cash
    pos_at[m] = pos


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
    reason: int,
) -> None:
    """Row ``k`` of the trades table, as :func:`~desk.backtest.book.close_trade` writes it; of
    a table of one column (a sweep's: its metrics need no more), the PnL alone."""
    pnl = side * (xval - evalue) - tfees
    if trades.shape[1] == 1:
        trades[k, 0] = pnl
        return
    trades[k, T_ENTRY_BAR] = entry_bar
    trades[k, T_EXIT_BAR] = exit_bar
    trades[k, T_SIDE] = side
    trades[k, T_SIZE] = eqty
    trades[k, T_ENTRY_PX] = evalue / eqty
    trades[k, T_EXIT_PX] = xval / xqty
    trades[k, T_PNL] = pnl
    trades[k, T_FEES] = tfees
    trades[k, T_OPEN] = is_open
    trades[k, T_REASON] = reason
