"""Orders, fills and positions: the execution vocabulary every part of desk shares.

The OMS keeps every order it handles (and risk reads them on every order), so orders, requests
and fills are not tracked by the cyclic garbage collector (``gc=False``: their fields are plain
values and can hold no reference cycle); a collection never rescans them.

Quantities and prices that money depends on are ``decimal.Decimal`` (exact; msgspec encodes them
as strings), never floats: a position summed over thousands of fills must not drift. Times are
integer ns since the epoch.

One state machine for every order, bot or manual (DESIGN.md section 5)::

    PENDING_NEW -> LIVE -> PARTIALLY_FILLED -> FILLED
         |          |            |
         |          +------------+--> CANCELED / EXPIRED
         +--> REJECTED / CANCELED / EXPIRED / FILLED / PARTIALLY_FILLED (fast venues skip LIVE)

A terminal order never changes again.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

import msgspec

from desk.core.enums import Side
from desk.core.events import Event

MANUAL_ACCOUNT = "manual"
"""The ``bot_id`` of orders an operator places by hand."""

CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9]{1,32}")
"""OKX's rule for clOrdId: case-sensitive letters and digits, 1-32 characters."""


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    POST_ONLY = "post_only"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def open(self) -> bool:
        return self not in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a bot or an operator asks for, before risk and the OMS have seen it.

    ``price`` is None for MARKET orders and required otherwise. ``client_order_id`` is empty
    when the caller lets the OMS assign one; a caller that must be idempotent across a crash
    (a bot acting on one signal) passes its own, deterministic one.
    """

    symbol: str
    side: Side
    order_type: OrderType
    size: Decimal
    price: Decimal | None = None
    bot_id: str = MANUAL_ACCOUNT
    client_order_id: str = ""
    reduce_only: bool = False
    venue: str = "okx"


class Order(Event, frozen=True, kw_only=True, gc=False):
    """An order's state at one instant; published on ``trade_updates:{bot_id}`` on each change.

    ``filled`` and ``avg_price`` are cumulative; ``fee`` is the total charged so far in
    ``fee_ccy`` (positive = paid, negative = rebate). ``reason`` says why an order was rejected,
    canceled or expired ("risk: max order notional 10000 exceeded", "venue 51008: ...").
    """

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    size: Decimal
    filled: Decimal
    avg_price: Decimal
    status: OrderStatus
    bot_id: str
    venue: str
    fee: Decimal = Decimal(0)
    fee_ccy: str = ""
    reason: str = ""
    created_ns: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled


class Fill(Event, frozen=True, kw_only=True, gc=False):
    """One execution of one order; applied to positions exactly once (key: venue, trade_id).

    ``fee`` is positive when charged, negative for a rebate, in ``fee_ccy``.
    """

    client_order_id: str
    venue_order_id: str
    trade_id: str
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_ccy: str
    liquidity: Liquidity
    bot_id: str
    venue: str


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """One account's (a bot's, or manual) position in one symbol, marked at ``mark_price``.

    ``size`` > 0 long, < 0 short. ``realized_pnl`` and ``fees`` are in the quote currency;
    ``unrealized_pnl`` = (mark - avg) * size.
    """

    bot_id: str
    symbol: str
    size: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    venue: str = "okx"
    """Where the position is held (a venue trades a symbol apart from the others)."""

    @property
    def notional(self) -> Decimal:
        return abs(self.size) * self.mark_price
