"""The one interface the OMS talks to for every venue: paper, the simulator and live OKX.

A venue client sends requests and reports what the venue says, asynchronously, as
:data:`VenueReport` values passed to the handler the OMS installed. ``submit``/``cancel``
return once the request is on its way (or raise :class:`VenueError` when it could not be sent:
the circuit breaker counts those); the venue's verdict arrives later as a report. The venue's
order stream is authoritative: a report may arrive twice, or out of order (a fill before the
acceptance), and the OMS must cope.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import msgspec

from desk.core.enums import Side
from desk.core.orders import Liquidity, OrderRequest, OrderStatus, OrderType


class VenueError(Exception):
    """A request could not be delivered to the venue (network, auth, timeout, 5xx)."""


class OrderAccepted(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    client_order_id: str
    venue_order_id: str
    ts: int


class OrderRejected(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    """The venue refused the order; ``reason`` carries its code and message."""

    client_order_id: str
    reason: str
    ts: int


class OrderCanceled(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    """Canceled by request, by the venue (IOC remainder, post-only would cross), or expired."""

    client_order_id: str
    venue_order_id: str
    reason: str
    ts: int
    expired: bool = False


class CancelRejected(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    """A cancel the venue refused (e.g. the order had already filled)."""

    client_order_id: str
    reason: str
    ts: int


class FillReport(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    """One execution. ``trade_id`` is unique per venue and symbol; ``fee`` > 0 = charged."""

    client_order_id: str
    venue_order_id: str
    trade_id: str
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_ccy: str
    liquidity: Liquidity
    ts: int


VenueReport = OrderAccepted | OrderRejected | OrderCanceled | CancelRejected | FillReport


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the venue lists it (for reconciliation after a restart).

    ``avg_price`` and ``fee`` (> 0 = charged, in ``fee_ccy``) are cumulative over its fills;
    they let a restarted desk recover fills it missed while it was down.
    """

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    size: Decimal
    filled: Decimal
    status: OrderStatus
    avg_price: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_ccy: str = ""


class ExecutionClient(Protocol):
    """What every venue implements."""

    name: str

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        """Where reports go; called by the OMS before ``connect``."""
        ...

    async def connect(self) -> None:
        """Log in and subscribe to the venue's order updates; VenueError if that fails."""
        ...

    async def close(self) -> None: ...

    async def submit(self, request: OrderRequest) -> None:
        """Send a new order (``request.client_order_id`` is always set by then)."""
        ...

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        """Ask the venue to cancel one order."""
        ...

    async def open_orders(self) -> list[VenueOrder]:
        """The venue's open orders for this account (reconciliation)."""
        ...

    async def balances(self) -> dict[str, Decimal]:
        """Available balance per currency (reconciliation and equity)."""
        ...

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """One order, open or finished, as the venue knows it; None if it never got it."""
        ...
