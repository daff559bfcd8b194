"""The paper venue: orders filled against the live local order book, with fees and latency.

Fill rules
----------
* Taking liquidity (MARKET, IOC, FOK, and the marketable part of a LIMIT) walks the opposite
  side of the local book best level first, filling ``min(remaining, level size)`` at each
  level's price, while the level is at or better than the limit (MARKET: no limit). One
  :class:`FillReport` per level, taker fee.

  - MARKET: what the book cannot fill is canceled ("book exhausted").
  - IOC: the remainder is canceled.
  - FOK: all or nothing: if the levels within the limit hold less than the size, nothing
    fills and the order is canceled.
  - LIMIT: the unfilled rest rests on the paper venue.
  - POST_ONLY: canceled if it would cross the book (buy >= best ask, sell <= best bid);
    otherwise it rests.
* Resting orders fill when the market trades through them: :meth:`PaperVenue.on_trade` with a
  trade printing at or below a resting buy's price (at or above a sell's) fills it at its own
  limit price, maker fee, for at most the traded size. One trade's size is shared among the
  resting orders it reaches in price-time priority, so a 0.1 print never fills 5 BTC of bids.
* Our fills do not deplete the local book (it belongs to the feed): two market orders in a row
  see the same liquidity. The book crossing a resting order without a trade fills nothing.

Money
-----
Fees are in the quote currency: ``price x size x bps / 10,000``, exact Decimal; a negative
maker fee is a rebate. Balances start from ``initial_balances`` and move with every fill
(buy: base +size, quote -(notional + fee)); they are not checked before an order (paper may go
negative, as a margin account would), so ``balances()`` shows what the strategy would have spent.

Latency
-------
Matching happens at ``submit``/``cancel``/``on_trade`` time against the book as it is then;
the reports are delivered ``latency_ms`` later by the event loop (0 = on the next loop
iteration), in the order they were produced. Outside a running loop they are delivered at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import msgspec

from desk.core.clock import Clock
from desk.core.enums import Side
from desk.core.events import Trade
from desk.core.orders import Liquidity, OrderRequest, OrderStatus, OrderType
from desk.execution.sizing import to_decimal
from desk.execution.venue import (
    CancelRejected,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueError,
    VenueOrder,
    VenueReport,
)
from desk.market.book import OrderBook
from desk.market.instruments import Instrument

log = logging.getLogger(__name__)

ZERO = Decimal(0)
BPS = Decimal(10_000)


class PaperConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    maker_fee_bps: Decimal = Decimal(2)
    """Fee for resting orders that get filled, in basis points of notional (< 0: a rebate)."""
    taker_fee_bps: Decimal = Decimal(5)
    """Fee for orders that take liquidity, in basis points of notional, >= 0."""
    latency_ms: float = 0.0
    """Delay before reports reach the OMS, >= 0 (0: the next event-loop iteration)."""
    initial_balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Starting balance per currency, e.g. {"USDT": Decimal(10000)}."""

    def __post_init__(self) -> None:
        if self.taker_fee_bps < 0:
            raise ValueError(f"@taker_fee_bps: must be >= 0, got {self.taker_fee_bps}")
        if not self.latency_ms >= 0:
            raise ValueError(f"@latency_ms: must be >= 0, got {self.latency_ms}")


class _Resting:
    """A paper order on the venue; ``seq`` gives time priority."""

    __slots__ = ("filled", "request", "seq", "venue_order_id")

    def __init__(self, request: OrderRequest, venue_order_id: str, seq: int) -> None:
        self.request = request
        self.venue_order_id = venue_order_id
        self.seq = seq
        self.filled = ZERO

    @property
    def price(self) -> Decimal:
        assert self.request.price is not None  # only priced orders rest
        return self.request.price

    @property
    def remaining(self) -> Decimal:
        return self.request.size - self.filled


class PaperVenue:
    """An ExecutionClient that trades on paper against the live local books."""

    def __init__(
        self,
        *,
        book: Callable[[str], OrderBook | None],
        instruments: Mapping[str, Instrument] | Callable[[str], Instrument | None],
        clock: Clock,
        config: PaperConfig | None = None,
        name: str = "paper",
    ) -> None:
        self.name = name
        self.config = config or PaperConfig()
        self.clock = clock
        self._book = book
        self._instrument = instruments.get if isinstance(instruments, Mapping) else instruments
        self._handler: Callable[[VenueReport], None] | None = None
        self._connected = False
        self._balances: dict[str, Decimal] = dict(self.config.initial_balances)
        self._resting: dict[str, _Resting] = {}  # client order id -> open order
        self._seen_ids: set[str] = set()
        # Ids unique across runs too: fills are de-duplicated by (venue, trade_id) in storage.
        self._session = format(clock.now_ns(), "x")
        self._trade_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._outbox: deque[list[VenueReport]] = deque()  # batches waiting for their latency
        self._timers: deque[asyncio.Handle] = deque()  # one per batch, same order

    # -- ExecutionClient -------------------------------------------------------------------------

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self._handler = handler

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        self._connected = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._outbox.clear()

    async def submit(self, request: OrderRequest) -> None:
        self._require_connected()
        self._deliver(self._execute(request))

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        self._require_connected()
        now = self.clock.now_ns()
        order = self._resting.get(client_order_id)
        if order is None or order.request.symbol != symbol:
            report: VenueReport = CancelRejected(
                client_order_id=client_order_id,
                reason=f"order not open: {client_order_id} on {symbol}",
                ts=now,
            )
        else:
            del self._resting[client_order_id]
            report = OrderCanceled(
                client_order_id=client_order_id,
                venue_order_id=order.venue_order_id,
                reason="canceled by request",
                ts=now,
            )
        self._deliver([report])

    async def open_orders(self) -> list[VenueOrder]:
        return [
            VenueOrder(
                client_order_id=cid,
                venue_order_id=order.venue_order_id,
                symbol=order.request.symbol,
                side=order.request.side,
                order_type=order.request.order_type,
                price=order.request.price,
                size=order.request.size,
                filled=order.filled,
                status=OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.LIVE,
            )
            for cid, order in self._resting.items()
        ]

    async def balances(self) -> dict[str, Decimal]:
        return dict(self._balances)

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """Only resting orders are remembered: a paper venue's history dies with the process."""
        for order in await self.open_orders():
            if order.client_order_id == client_order_id:
                return order
        return None

    # -- market data -----------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        """Fill resting orders the trade printed through (see the module docstring)."""
        price = to_decimal(trade.price)
        size = to_decimal(trade.size)
        buys = [
            o
            for o in self._resting.values()
            if o.request.symbol == trade.symbol and o.request.side is Side.BUY and o.price >= price
        ]
        sells = [
            o
            for o in self._resting.values()
            if o.request.symbol == trade.symbol and o.request.side is Side.SELL and o.price <= price
        ]
        buys.sort(key=lambda o: (-o.price, o.seq))
        sells.sort(key=lambda o: (o.price, o.seq))
        reports: list[VenueReport] = []
        for side_orders in (buys, sells):
            available = size
            for order in side_orders:
                if available <= 0:
                    break
                take = min(order.remaining, available)
                available -= take
                reports.append(self._fill(order, order.price, take, Liquidity.MAKER))
                if order.remaining <= 0:
                    del self._resting[order.request.client_order_id]
        self._deliver(reports)

    # -- matching --------------------------------------------------------------------------------

    def _execute(self, request: OrderRequest) -> list[VenueReport]:
        now = self.clock.now_ns()
        cid = request.client_order_id
        problem = self._refusal(request)
        if problem:
            return [OrderRejected(client_order_id=cid, reason=problem, ts=now)]
        self._seen_ids.add(cid)
        order = _Resting(request, f"{self._session}-o{next(self._order_ids)}", now)
        reports: list[VenueReport] = [
            OrderAccepted(client_order_id=cid, venue_order_id=order.venue_order_id, ts=now)
        ]
        book = self._book(request.symbol)
        kind = request.order_type
        if kind is OrderType.POST_ONLY:
            crossed = self._crosses(request, book)
            if crossed:
                return [*reports, self._canceled(order, f"post-only would cross: {crossed}")]
            self._resting[cid] = order
            return reports
        limit = None if kind is OrderType.MARKET else request.price
        levels = self._levels(request.side, book, limit)
        if kind is OrderType.FOK:
            available = sum((size for _, size in levels), ZERO)
            if available < request.size:
                return [
                    *reports,
                    self._canceled(
                        order,
                        f"fok: only {available} available at or better than {request.price}",
                    ),
                ]
        for price, size in levels:
            if order.remaining <= 0:
                break
            reports.append(self._fill(order, price, min(size, order.remaining), Liquidity.TAKER))
        if order.remaining <= 0:
            return reports
        if kind is OrderType.LIMIT:
            self._resting[cid] = order
            return reports
        why = "book exhausted" if kind is OrderType.MARKET else "ioc remainder"
        return [*reports, self._canceled(order, f"{why}: {order.remaining} unfilled")]

    def _refusal(self, request: OrderRequest) -> str:
        """Why the venue refuses the order outright ("" if it does not)."""
        cid = request.client_order_id
        if not cid:
            return "client_order_id is required"
        if cid in self._seen_ids:
            return f"duplicate client_order_id {cid}"
        instrument = self._instrument(request.symbol)
        if instrument is None:
            return f"unknown instrument {request.symbol}"
        if not instrument.is_live:
            return f"instrument {request.symbol} is {instrument.state}"
        if request.size <= 0:
            return f"size must be > 0, got {request.size}"
        if request.order_type is not OrderType.MARKET and (
            request.price is None or request.price <= 0
        ):
            return f"a {request.order_type} order needs a price > 0"
        return ""

    @staticmethod
    def _levels(
        side: Side, book: OrderBook | None, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """Opposite-side levels a ``side`` order may take, best first, within ``limit``."""
        if book is None:
            return []
        raw: Iterable[tuple[str, str]] = book.raw_asks() if side is Side.BUY else book.raw_bids()
        levels = []
        for px_text, size_text in raw:
            price = Decimal(px_text)
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                break
            levels.append((price, Decimal(size_text)))
        return levels

    @staticmethod
    def _crosses(request: OrderRequest, book: OrderBook | None) -> str:
        """How a post-only order would cross the book ("" if it would not)."""
        price = request.price
        if book is None or price is None:
            return ""
        if request.side is Side.BUY:
            best = book.raw_asks(1)
            if best and price >= Decimal(best[0][0]):
                return f"buy {price} >= best ask {best[0][0]}"
        else:
            best = book.raw_bids(1)
            if best and price <= Decimal(best[0][0]):
                return f"sell {price} <= best bid {best[0][0]}"
        return ""

    def _fill(
        self, order: _Resting, price: Decimal, size: Decimal, liquidity: Liquidity
    ) -> FillReport:
        request = order.request
        bps = (
            self.config.maker_fee_bps if liquidity is Liquidity.MAKER else self.config.taker_fee_bps
        )
        notional = price * size
        fee = notional * bps / BPS
        order.filled += size
        instrument = self._instrument(request.symbol)
        assert instrument is not None  # checked in _refusal
        base, quote = instrument.base, instrument.quote
        balances = self._balances
        if request.side is Side.BUY:
            balances[base] = balances.get(base, ZERO) + size
            balances[quote] = balances.get(quote, ZERO) - notional - fee
        else:
            balances[base] = balances.get(base, ZERO) - size
            balances[quote] = balances.get(quote, ZERO) + notional - fee
        return FillReport(
            client_order_id=request.client_order_id,
            venue_order_id=order.venue_order_id,
            trade_id=f"{self._session}-t{next(self._trade_ids)}",
            price=price,
            size=size,
            fee=fee,
            fee_ccy=quote,
            liquidity=liquidity,
            ts=self.clock.now_ns(),
        )

    def _canceled(self, order: _Resting, reason: str) -> OrderCanceled:
        return OrderCanceled(
            client_order_id=order.request.client_order_id,
            venue_order_id=order.venue_order_id,
            reason=reason,
            ts=self.clock.now_ns(),
        )

    # -- delivery --------------------------------------------------------------------------------

    def _require_connected(self) -> None:
        if not self._connected:
            raise VenueError(f"{self.name} venue is not connected")

    def _deliver(self, reports: list[VenueReport]) -> None:
        """Hand ``reports`` to the OMS after the latency, in production order."""
        if not reports:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._send(reports)
            return
        self._outbox.append(reports)
        delay = self.config.latency_ms / 1000
        if delay > 0:
            self._timers.append(loop.call_later(delay, self._flush_one))
        else:
            self._timers.append(loop.call_soon(self._flush_one))

    def _flush_one(self) -> None:
        """Send the oldest batch; with one latency for all, batches fall due in FIFO order."""
        if self._timers:
            self._timers.popleft()
        if self._outbox:
            self._send(self._outbox.popleft())

    def _send(self, reports: list[VenueReport]) -> None:
        handler = self._handler
        if handler is None:
            log.warning("%s: no report handler; dropped %d reports", self.name, len(reports))
            return
        for report in reports:
            try:
                handler(report)
            except Exception:
                log.exception("%s: report handler failed on %s", self.name, type(report).__name__)
