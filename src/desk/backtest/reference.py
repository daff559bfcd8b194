"""A plain-Python reference of the backtest kernel, written for reading, not for speed.

It follows the rules of :mod:`desk.backtest.kernel` step by step with Python floats, lists and
small objects, so a property test can hold the compiled kernel to it on random prices,
signals and settings. It is not used by the backtester itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from desk.backtest.book import GRID_TOL, REL_TOL
from desk.backtest.config import BacktestConfig
from desk.backtest.kernel import EV_FLAT, EV_LONG, EV_NONE


def _whole(steps: float) -> bool:
    return abs(steps - math.floor(steps + 0.5)) <= GRID_TOL + REL_TOL * abs(steps)


def _floor_units(steps: float) -> float:
    return math.floor(steps + 0.5) if _whole(steps) else math.floor(steps)


def _floor_step(x: float, step: float) -> float:
    if step <= 0:
        return x
    return _floor_units(x / step) * step


def _tick(price: float, tick: float, buy: bool) -> float:
    if tick <= 0:
        return price
    steps = price / tick
    if _whole(steps):
        return math.floor(steps + 0.5) * tick
    return (math.ceil(steps) if buy else math.floor(steps)) * tick


@dataclass
class _Trip:
    """One round trip while it is open."""

    side: float
    entry_bar: int
    entry_qty: float
    entry_value: float
    fees: float
    exit_qty: float = 0.0
    exit_value: float = 0.0


@dataclass
class _Book:
    cash: float
    lot: float
    position: float = 0.0
    fees: float = 0.0
    fills: int = 0
    skipped: int = 0
    trip: _Trip | None = None
    trades: list[list[float]] = field(default_factory=list)

    def close_trip(self, bar: int, reason: int, still_open: bool = False) -> None:
        t = self.trip
        assert t is not None
        self.trades.append(
            [
                t.entry_bar,
                bar,
                t.side,
                t.entry_qty,
                t.entry_value / t.entry_qty,
                t.exit_value / t.exit_qty,
                t.side * (t.exit_value - t.entry_value) - t.fees,
                t.fees,
                1.0 if still_open else 0.0,
                reason,
            ]
        )
        self.trip = None

    def fill(self, qty: float, price: float, fee: float, bar: int, reason: int) -> None:
        before = self.position
        after = before + qty
        if self.lot > 0:
            after = math.floor(after / self.lot + 0.5) * self.lot
        elif abs(after) <= 1e-12 * max(abs(before), abs(qty)):
            after = 0.0
        self.cash -= qty * price + fee
        self.fees += fee
        self.fills += 1
        size = abs(qty)
        if before == 0:
            self.trip = _Trip(1.0 if qty > 0 else -1.0, bar, size, size * price, fee)
        elif (before > 0) == (qty > 0):  # adding to the position
            assert self.trip is not None
            self.trip.entry_qty += size
            self.trip.entry_value += size * price
            self.trip.fees += fee
        elif after == 0 or (after > 0) == (before > 0):  # reducing or closing it
            assert self.trip is not None
            self.trip.exit_qty += size
            self.trip.exit_value += size * price
            self.trip.fees += fee
            if after == 0:
                self.close_trip(bar, reason)
        else:  # through zero: close this trip, open the other way with the rest
            assert self.trip is not None
            share = abs(before) / size
            self.trip.exit_qty += abs(before)
            self.trip.exit_value += abs(before) * price
            self.trip.fees += fee * share
            self.close_trip(bar, reason)
            self.trip = _Trip(
                1.0 if after > 0 else -1.0, bar, abs(after), abs(after) * price, fee * (1 - share)
            )
        self.position = after


def reference_simulate(
    arrays: dict[str, np.ndarray],
    events: np.ndarray,
    config: BacktestConfig,
    *,
    atr: np.ndarray | None = None,
    start: int = 0,
) -> tuple[list[float], list[float], list[float], list[list[float]], float, int, int]:
    """(cash, position, equity, trades, fees, fills, skipped), as the kernel computes them."""
    o = [float(x) for x in arrays["open"]]
    h = [float(x) for x in arrays["high"]]
    lo = [float(x) for x in arrays["low"]]
    c = [float(x) for x in arrays["close"]]
    n = len(c)
    atr_list = [math.nan] * n if atr is None else [float(x) for x in atr]
    cfg = config
    book = _Book(cash=cfg.cash, lot=cfg.lot)
    market = cfg.order_type == "market"

    def execute(qty: float, base: float, bar: int, as_market: bool, reason: int) -> None:
        buy = qty > 0
        if as_market:
            slip = base * cfg.slippage_bps / 10_000 + cfg.slippage_range * (h[bar] - lo[bar])
            price, bps = (base + slip if buy else base - slip), cfg.taker_bps
        else:
            price, bps = base, cfg.maker_bps
        price = _tick(price, cfg.tick, buy)
        book.fill(qty, price, abs(qty) * price * bps / 10_000, bar, reason)

    def size_order(event: int, price: float, atr_now: float) -> float:
        target = 0.0
        if event != EV_FLAT:
            equity = book.cash + book.position * price
            if cfg.sizing == "fixed":
                size = cfg.size
            else:
                if cfg.sizing == "fraction":
                    if equity < 0:
                        book.skipped += 1
                        return 0.0
                    raw = equity * cfg.fraction / price
                else:
                    if not atr_now > 0:
                        book.skipped += 1
                        return 0.0
                    raw = cfg.risk_budget / (cfg.atr_multiple * atr_now)
                size = _floor_step(min(raw, cfg.size), cfg.lot)
                if size < cfg.min_size or size <= 0:
                    book.skipped += 1
                    return 0.0
            if cfg.leverage:
                size = min(size, _floor_step(cfg.leverage * max(equity, 0.0) / price, cfg.lot))
            target = size if event == EV_LONG else -size
        delta = target - book.position
        if delta == 0:
            return 0.0
        if cfg.lot > 0:  # whole lots: floor(target) - position buying, position - ceil selling
            held = math.floor(book.position / cfg.lot + 0.5)
            want = target / cfg.lot
            if _whole(want) and math.floor(want + 0.5) == held:
                return 0.0
            units = _floor_units(want) - held if delta > 0 else held + _floor_units(-want)
            q = units * cfg.lot
        else:
            q = abs(delta)
        if q <= 0 or q < cfg.min_size:
            book.skipped += 1
            return 0.0
        return q if delta > 0 else -q

    def exits(bar: int) -> None:
        t = book.trip
        assert t is not None
        entry = t.entry_value / t.entry_qty
        qty = -book.position
        if abs(qty) < cfg.min_size:
            return
        stop, take = cfg.stop_loss or 0.0, cfg.take_profit or 0.0
        long = book.position > 0
        sl = entry * (1 - stop) if long else entry * (1 + stop)
        tp = entry * (1 + take) if long else entry * (1 - take)
        beyond_tp_open = o[bar] >= tp if long else o[bar] <= tp
        beyond_sl_open = o[bar] <= sl if long else o[bar] >= sl
        sl_inside = lo[bar] <= sl if long else h[bar] >= sl
        tp_inside = h[bar] >= tp if long else lo[bar] <= tp
        if take > 0 and beyond_tp_open:
            execute(qty, o[bar], bar, False, 2)
        elif stop > 0 and beyond_sl_open:
            execute(qty, o[bar], bar, True, 1)
        elif stop > 0 and sl_inside:
            execute(qty, sl, bar, True, 1)
        elif take > 0 and tp_inside:
            execute(qty, tp, bar, False, 2)

    cash_out, pos_out, eq_out = [], [], []
    pending = 0.0
    for i in range(n):
        if pending:
            execute(pending, o[i], i, market, 0)
            pending = 0.0
        if (cfg.stop_loss or cfg.take_profit) and book.position != 0:
            exits(i)
        ev = int(events[i])
        if ev != EV_NONE and i >= start:
            qty = size_order(ev, c[i], atr_list[i])
            if qty:
                if cfg.fill == "close":
                    execute(qty, c[i], i, market, 0)
                elif i + 1 < n:
                    pending = qty
        cash_out.append(book.cash)
        pos_out.append(book.position)
        eq_out.append(book.cash + book.position * c[i])
    if book.position != 0 and n:
        assert book.trip is not None
        book.trip.exit_qty += abs(book.position)
        book.trip.exit_value += abs(book.position) * c[n - 1]
        book.close_trip(n - 1, 3, still_open=True)
    return cash_out, pos_out, eq_out, book.trades, book.fees, book.fills, book.skipped
