"""Price-time-priority limit order book and matching for one instrument.

Everything is exact integers: prices are tick counts (``price * tick_sz``) and sizes are lot
counts (``size * lot_sz``). The engine knows nothing about strings or venues; the wire servers
format ticks and lots themselves.

Each call (``submit_limit``, ``submit_market``, ``cancel``, ``amend``) returns an ``ExecReport``:
the order as it stands afterwards, the fills it caused (taker side first, in execution order)
and the final state of every price level it touched (``size == 0`` means the level is gone).
Callers that publish a book (the OKX ``books`` channel) fold these level changes; callers that
publish trades fold the fills.

Time in force (``TimeInForce``, see ``desk.sim.orders``): GTC, IOC, FOK, POST_ONLY.

Self-trade prevention is not modelled: a taker may match its own owner's resting orders.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from itertools import count

import msgspec

from desk.core.enums import Side
from desk.sim.orders import ExecReport, Fill, LevelChange, Order, OrderStatus, TimeInForce

__all__ = [
    "BookSide",
    "ExecReport",
    "Fill",
    "Level",
    "LevelChange",
    "MatchingEngine",
    "Order",
    "OrderStatus",
    "TimeInForce",
]


class Level(msgspec.Struct, gc=False):
    """Orders resting at one price, oldest first, with their running total.

    Out of the cyclic collector's view (``gc=False``) like ``Order``: it holds a number and a
    dict of orders, which hold nothing that could lead back to it, and the simulator makes and
    drops levels as its prices move (hundreds alive, in every generation)."""

    price: int
    total: int = 0
    orders: dict[int, Order] = msgspec.field(default_factory=dict)


class BookSide:
    """One side of the book: levels by price plus the prices kept sorted ascending."""

    __slots__ = ("levels", "prices", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.side is Side.BUY else self.prices[0]

    def ordered(self) -> list[int]:
        """Prices best first (bids descending, asks ascending)."""
        return self.prices[::-1] if self.side is Side.BUY else list(self.prices)

    def crosses(self, price: int, limit: int | None) -> bool:
        """Whether a taker from the other side with ``limit`` would trade at ``price``."""
        if limit is None:
            return True
        return price >= limit if self.side is Side.BUY else price <= limit

    def add(self, order: Order) -> Level:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = Level(order.price)
            insort(self.prices, order.price)
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level

    def remove(self, order: Order) -> None:
        level = self.levels[order.price]
        del level.orders[order.order_id]
        level.total -= order.remaining
        if not level.orders:
            self.drop_level(order.price)

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.prices[bisect_left(self.prices, price)]

    def depth(self, n: int | None = None) -> list[tuple[int, int, int]]:
        """(price, lots, orders) best first, at most ``n`` levels."""
        prices = self.prices
        if self.side is Side.BUY:
            chosen = prices[::-1] if n is None else prices[: -n - 1 : -1] if n else []
        else:
            chosen = prices if n is None else prices[:n]
        levels = self.levels
        return [(p, levels[p].total, len(levels[p].orders)) for p in chosen]

    def available(self, limit: int | None, want: int) -> int:
        """Lots that a taker limited to ``limit`` could take, counting up to ``want``."""
        got = 0
        for price in self.ordered():
            if not self.crosses(price, limit) or got >= want:
                break
            got += self.levels[price].total
        return got


class MatchingEngine:
    """Price-time-priority book for one instrument, in integer ticks and lots."""

    def __init__(self, first_trade_id: int = 1, first_order_id: int = 1) -> None:
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        self.orders: dict[int, Order] = {}
        self._trade_ids = count(first_trade_id)
        self._order_ids = count(first_order_id)
        self._last_trade_id = first_trade_id - 1

    # ---- queries -------------------------------------------------------------------------

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY or side == "buy" else self.asks

    def best_bid(self) -> int | None:
        return self.bids.best()

    def best_ask(self) -> int | None:
        return self.asks.best()

    def depth(self, side: Side, n: int | None = None) -> list[tuple[int, int, int]]:
        """(price, lots, order count) best first."""
        return self.side(side).depth(n)

    def level(self, side: Side, price: int) -> tuple[int, int]:
        """(lots, order count) resting at ``price`` on ``side``; (0, 0) when empty."""
        lvl = self.side(side).levels.get(price)
        return (lvl.total, len(lvl.orders)) if lvl else (0, 0)

    def level_orders(self, side: Side, price: int) -> list[Order]:
        """Orders at one level in time priority."""
        lvl = self.side(side).levels.get(price)
        return list(lvl.orders.values()) if lvl else []

    def open_orders(self, owner: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if owner is None or o.owner == owner]

    @property
    def last_trade_id(self) -> int:
        return self._last_trade_id

    def next_order_id(self) -> int:
        return next(self._order_ids)

    # ---- commands ------------------------------------------------------------------------

    def submit_limit(
        self,
        side: Side,
        price: int,
        size: int,
        owner: str = "",
        tif: TimeInForce = TimeInForce.GTC,
        order_id: int | None = None,
    ) -> ExecReport:
        """Match a limit order against the book and rest what is left (for GTC/POST_ONLY).

        Raises ``ValueError`` for a non-positive price or size, or a duplicate open order id.
        """
        if price <= 0:
            raise ValueError(f"price must be a positive tick count, got {price}")
        order = self._new_order(side, price, size, owner, tif, order_id)
        side = order.side
        own, opposite = (self.bids, self.asks) if side is Side.BUY else (self.asks, self.bids)
        best = opposite.best()
        crosses = best is not None and opposite.crosses(best, price)
        if tif is TimeInForce.POST_ONLY and crosses:
            order.status = OrderStatus.REJECTED
            return ExecReport(order, reason="post_only order would take liquidity")
        if tif is TimeInForce.FOK and opposite.available(price, size) < size:
            order.status = OrderStatus.CANCELED
            return ExecReport(order, reason="fok order cannot be filled completely")
        report = ExecReport(order)
        touched: dict[tuple[Side, int], None] = {}
        if crosses:
            self._match(order, price, report, touched)
        if order.remaining and tif in (TimeInForce.GTC, TimeInForce.POST_ONLY):
            own.add(order)
            self.orders[order.order_id] = order
            touched[(side, price)] = None
        elif order.remaining:
            order.status = OrderStatus.CANCELED
        report.changes = self._changes(touched)
        return report

    def submit_market(
        self,
        side: Side,
        size: int,
        owner: str = "",
        order_id: int | None = None,
        limit: int | None = None,
    ) -> ExecReport:
        """Take up to ``size`` lots at any price (or no worse than ``limit``); never rests."""
        order = self._new_order(side, 0, size, owner, TimeInForce.IOC, order_id)
        report = ExecReport(order)
        touched: dict[tuple[Side, int], None] = {}
        self._match(order, limit, report, touched)
        if order.remaining:
            order.status = OrderStatus.CANCELED
            report.reason = "market order not fully filled: book exhausted"
        report.changes = self._changes(touched)
        return report

    def cancel(self, order_id: int) -> ExecReport | None:
        """Cancel a resting order; ``None`` when it is unknown or already done."""
        order = self.orders.pop(order_id, None)
        if order is None:
            return None
        self.side(order.side).remove(order)
        order.status = OrderStatus.CANCELED
        return ExecReport(order, changes=self._changes({(order.side, order.price): None}))

    def cancel_owner(self, owner: str) -> list[ExecReport]:
        """Cancel every resting order of ``owner`` (oldest first)."""
        ids = [o.order_id for o in self.orders.values() if o.owner == owner]
        return [r for r in map(self.cancel, ids) if r is not None]

    def amend(
        self, order_id: int, new_size: int | None = None, new_price: int | None = None
    ) -> ExecReport | None:
        """Change a resting order, OKX style: ``new_size`` is the new *total* size.

        Reducing the size at the same price keeps time priority. A new price or a larger size
        re-queues the order (and may trade if it now crosses; a post-only order that would
        cross is refused with the order left as it was). ``None`` when the order is unknown.
        """
        order = self.orders.get(order_id)
        if order is None:
            return None
        size = order.size if new_size is None else new_size
        price = order.price if new_price is None else new_price
        if size <= order.filled or price <= 0:
            return ExecReport(order, reason="new size must exceed the filled size")
        if price == order.price and size <= order.size:
            level = self.side(order.side).levels[order.price]
            level.total -= order.size - size
            order.size = size
            return ExecReport(order, changes=self._changes({(order.side, price): None}))
        opposite = self.side(_other(order.side))
        best = opposite.best()
        if (
            order.tif is TimeInForce.POST_ONLY
            and best is not None
            and opposite.crosses(best, price)
        ):
            return ExecReport(order, reason="post_only order would take liquidity")
        return self._requeue(order, price, size)

    # ---- internals -----------------------------------------------------------------------

    def _requeue(self, order: Order, price: int, size: int) -> ExecReport:
        self.side(order.side).remove(order)
        del self.orders[order.order_id]
        touched: dict[tuple[Side, int], None] = {(order.side, order.price): None}
        order.price, order.size = price, size
        report = ExecReport(order)
        opposite = self.side(_other(order.side))
        best = opposite.best()
        if best is not None and opposite.crosses(best, price):
            self._match(order, price, report, touched)
        if order.remaining:
            self.side(order.side).add(order)
            self.orders[order.order_id] = order
            touched[(order.side, price)] = None
        report.changes = self._changes(touched)
        return report

    def _new_order(
        self,
        side: Side,
        price: int,
        size: int,
        owner: str,
        tif: TimeInForce,
        order_id: int | None,
    ) -> Order:
        if size <= 0:
            raise ValueError(f"size must be a positive lot count, got {size}")
        if order_id is None:
            order_id = next(self._order_ids)
        elif order_id in self.orders:
            raise ValueError(f"order id {order_id} is already resting")
        if side.__class__ is not Side:
            side = Side(side)
        return Order(order_id, owner, side, price, size, tif)

    def _match(
        self,
        taker: Order,
        limit: int | None,
        report: ExecReport,
        touched: dict[tuple[Side, int], None],
    ) -> None:
        """Fill ``taker`` against the opposite side, best price first, oldest order first."""
        book = self.side(_other(taker.side))
        while taker.remaining:
            price = book.best()
            if price is None or not book.crosses(price, limit):
                break
            level = book.levels[price]
            touched[(book.side, price)] = None
            self._fill_level(taker, level, report)
            if not level.orders:
                book.drop_level(price)
        if taker.filled:
            done = taker.remaining == 0
            taker.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED

    def _fill_level(self, taker: Order, level: Level, report: ExecReport) -> None:
        orders = level.orders
        while taker.remaining and orders:
            maker = next(iter(orders.values()))
            qty = min(taker.remaining, maker.remaining)
            taker.filled += qty
            maker.filled += qty
            level.total -= qty
            if maker.remaining == 0:
                maker.status = OrderStatus.FILLED
                del orders[maker.order_id]
                del self.orders[maker.order_id]
            else:
                maker.status = OrderStatus.PARTIALLY_FILLED
            trade_id = self._last_trade_id = next(self._trade_ids)
            report.fills.append(
                Fill(
                    trade_id,
                    level.price,
                    qty,
                    taker.side,
                    taker.order_id,
                    taker.owner,
                    maker.order_id,
                    maker.owner,
                    maker.remaining,
                )
            )

    def _changes(self, touched: dict[tuple[Side, int], None]) -> list[LevelChange]:
        out = []
        bids, asks = self.bids.levels, self.asks.levels
        for side, price in touched:
            lvl = (bids if side is Side.BUY else asks).get(price)
            if lvl is None:
                out.append(LevelChange(side, price, 0, 0))
            else:
                out.append(LevelChange(side, price, lvl.total, len(lvl.orders)))
        return out


def _other(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY
