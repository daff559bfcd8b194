"""One execution client in front of several venues: the primary one and paper venues.

The OMS talks to one :class:`~desk.execution.venue.ExecutionClient`. With more than one venue
enabled, this router is that client: an order whose ``request.venue`` names a paper venue
(Binance, Coinbase: paper only in this version) goes to the :class:`PaperVenue` that fills
against *that* venue's live local book; every other order goes to the primary client (OKX
itself, the simulator's OKX API, or OKX's paper venue). Cancels and status queries follow the
order to the venue it was sent to. Trades fill resting paper orders only on their own venue.

Reconciliation reads the primary's open orders and balances plus the paper venues' open
orders (a paper venue starts empty each run, so it never has any to reconcile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from desk.core.events import Trade
from desk.core.orders import Order, OrderRequest
from desk.execution.oms import OrderManager
from desk.execution.venue import ExecutionClient, VenueOrder, VenueReport


class VenueRouter:
    """An ExecutionClient that sends each order to the client of its venue (module docstring).

    ``primary_venue`` names the venue the primary client serves (``okx``); ``paper`` maps each
    other venue to its paper client.
    """

    def __init__(
        self, primary: ExecutionClient, paper: Mapping[str, Any], primary_venue: str = "okx"
    ) -> None:
        self.primary = primary
        self.paper = dict(paper)
        self.primary_venue = primary_venue
        self.name = primary.name
        self._venue_of: dict[str, str] = {}  # client order id -> venue it was sent to

    def client(self, venue: str) -> Any:
        """The client of ``venue`` (the primary for its own venue and any unknown one)."""
        return self.paper.get(venue, self.primary)

    def venue_names(self) -> list[str]:
        return [self.primary_venue, *self.paper]

    # -- ExecutionClient ---------------------------------------------------------------------

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self.primary.set_report_handler(handler)
        for client in self.paper.values():
            client.set_report_handler(handler)

    async def connect(self) -> None:
        await self.primary.connect()
        for client in self.paper.values():
            await client.connect()

    async def close(self) -> None:
        for client in self.paper.values():
            await client.close()
        await self.primary.close()

    async def submit(self, request: OrderRequest) -> None:
        venue = request.venue if request.venue in self.paper else self.primary_venue
        self._venue_of[request.client_order_id] = venue
        await self.client(venue).submit(request)

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        venue = self._venue_of.get(client_order_id, self.primary_venue)
        await self.client(venue).cancel(client_order_id, symbol)

    async def open_orders(self) -> list[VenueOrder]:
        orders = list(await self.primary.open_orders())
        for client in self.paper.values():
            orders += await client.open_orders()
        return orders

    async def balances(self) -> dict[str, Decimal]:
        """The primary venue's balances (the paper venues' are paper money of their own)."""
        return await self.primary.balances()

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        venue = self._venue_of.get(client_order_id, self.primary_venue)
        return await self.client(venue).order_status(client_order_id, symbol)

    # -- market ------------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        """A trade fills resting paper orders of its own venue only."""
        client = self.paper.get(trade.venue)
        if client is None:
            if trade.venue != self.primary_venue:
                return
            client = self.primary
        on_trade = getattr(client, "on_trade", None)
        if on_trade is not None:
            on_trade(trade)


class RoutingOrderManager(OrderManager):
    """The OMS of a desk with paper venues beside the primary one.

    ``OrderManager`` stamps every order with its one venue name; here an order whose
    ``request.venue`` is one of ``paper_venues`` keeps that venue (so the router sends it to
    that venue's paper client, and its fills and position carry it). Everything else is the
    primary venue's, as before.
    """

    paper_venues: frozenset[str] = frozenset()

    def submit(self, request: OrderRequest) -> Order:
        if request.venue not in self.paper_venues or request.venue == self.venue_name:
            return super().submit(request)
        primary, self.venue_name = self.venue_name, request.venue
        try:  # submit is synchronous: the name is back before anything else runs
            return super().submit(request)
        finally:
            self.venue_name = primary
