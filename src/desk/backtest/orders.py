"""The kernels' order rules on plain numbers: the order a signal sends, a fill's price and
fee, and the stop-loss / take-profit exit inside a bar.

Both bar loops use these (:mod:`desk.backtest.kernel` through its state vector,
:mod:`desk.backtest.account` on local variables), so the rules exist once; see the kernel's
docstring for what they are. They take and return numbers only: a compiled call with array
arguments counts references up and down with atomic instructions, which on the rare bars
that trade cost more than the rules themselves. The two run on every order are inlined
into their callers (a call would also spill the callers' many live values around it).
"""

from __future__ import annotations

import math

import numba

from desk.backtest.book import GRID_TOL, REASON_STOP, REASON_TAKE, REL_TOL

_JIT = {"cache": True, "nogil": True}

EV_NONE = 0
EV_LONG = 1
EV_SHORT = -1
EV_FLAT = 2


@numba.njit(**_JIT)
def on_grid(s: float) -> bool:
    """``s`` (in steps) is a whole number up to float noise: GRID_TOL, or a few ulps of it."""
    return abs(s - math.floor(s + 0.5)) <= GRID_TOL + REL_TOL * abs(s)


@numba.njit(**_JIT)
def floor_units(s: float) -> float:
    """``s`` (in steps) down to a whole number; one within float noise of it counts as it."""
    return math.floor(s + 0.5) if on_grid(s) else math.floor(s)


@numba.njit(**_JIT)
def floor_step(x: float, step: float) -> float:
    """``x`` >= 0 down to a multiple of ``step`` (0: unchanged), float noise forgiven."""
    if step <= 0.0:
        return x
    return floor_units(x / step) * step


@numba.njit(**_JIT)
def round_price(p: float, tick: float, up: bool) -> float:
    """``p`` onto the tick, up for a buy and down for a sell (0 tick: unchanged)."""
    if tick <= 0.0:
        return p
    s = p / tick
    if on_grid(s):
        return math.floor(s + 0.5) * tick
    if up:
        return math.ceil(s) * tick
    return math.floor(s) * tick


@numba.njit(inline="always", **_JIT)
def order_size(
    pos: float,
    cash: float,
    event: int,
    price: float,
    atr: float,
    sizing: float,
    size_cap: float,
    fraction: float,
    risk: float,
    atr_multiple: float,
    leverage: float,
    lot: float,
    min_size: float,
) -> tuple[float, bool]:
    """(the signed order a signal on this close sends, whether it was refused); a refused
    or needless order is 0."""
    target = 0.0
    if event != EV_FLAT:
        equity = cash + pos * price
        if sizing == 0.0:
            size = size_cap
        else:
            if sizing == 1.0:
                if equity < 0.0:
                    return 0.0, True
                size = equity * fraction / price
            else:
                if not atr > 0.0:
                    return 0.0, True
                size = risk / (atr_multiple * atr)
            size = floor_step(min(size, size_cap), lot)
            if size < min_size or size <= 0.0:
                return 0.0, True
        if leverage > 0.0:
            cap = floor_step(leverage * max(equity, 0.0) / price, lot)
            size = min(size, cap)
        target = size if event == EV_LONG else -size
    delta = target - pos
    if delta == 0.0:
        return 0.0, False
    if lot > 0.0:
        # In whole lots, as the exact live arithmetic: the position is on the grid, so the
        # order (target - position, floored to the lot) is floor(target) - position when
        # buying and position - ceil(target) when selling. Float differences of two sizes
        # on the grid would add noise that can cost a lot in the floor.
        held = math.floor(pos / lot + 0.5)
        want = target / lot
        if on_grid(want) and math.floor(want + 0.5) == held:
            return 0.0, False  # already there
        units = floor_units(want) - held if delta > 0.0 else held + floor_units(-want)
        q = units * lot
    else:
        q = abs(delta)
    if q <= 0.0 or q < min_size:
        return 0.0, True
    return (q if delta > 0.0 else -q), False


@numba.njit(inline="always", **_JIT)
def fill_price(
    qty: float,
    base: float,
    bar_range: float,
    market: bool,
    slip_bps: float,
    slip_range: float,
    taker_bps: float,
    maker_bps: float,
    tick: float,
) -> tuple[float, float]:
    """(price, fee) of filling ``qty`` (signed) around ``base``: slippage and taker fee if
    ``market``, else the maker fee; the price on the tick."""
    buy = qty > 0.0
    if market:
        slip = base * slip_bps / 10_000.0 + slip_range * bar_range
        price = base + slip if buy else base - slip
        bps = taker_bps
    else:
        price = base
        bps = maker_bps
    price = round_price(price, tick, buy)
    return price, abs(qty) * price * bps / 10_000.0


@numba.njit(**_JIT)
def exit_at(
    pos: float, entry: float, o: float, h: float, lo: float, stop: float, take: float
) -> tuple[int, float]:
    """Stop-loss / take-profit of the open position ``pos`` inside this bar: (the reason,
    REASON_STOP or REASON_TAKE, or -1 for none; the price level it exits around)."""
    if pos > 0.0:
        sl, tp = entry * (1.0 - stop), entry * (1.0 + take)
        if take > 0.0 and o >= tp:
            return REASON_TAKE, o
        if stop > 0.0 and o <= sl:
            return REASON_STOP, o
        if stop > 0.0 and lo <= sl:
            return REASON_STOP, sl
        if take > 0.0 and h >= tp:
            return REASON_TAKE, tp
    else:
        sl, tp = entry * (1.0 + stop), entry * (1.0 - take)
        if take > 0.0 and o <= tp:
            return REASON_TAKE, o
        if stop > 0.0 and o >= sl:
            return REASON_STOP, o
        if stop > 0.0 and h >= sl:
            return REASON_STOP, sl
        if take > 0.0 and lo <= tp:
            return REASON_TAKE, tp
    return -1, 0.0
