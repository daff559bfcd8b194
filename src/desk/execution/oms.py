"""The order manager: one state machine for every order, bot or manual (DESIGN.md section 5).

Flow of an order: :meth:`OrderManager.submit` assigns a client order id, validates the
request, passes it through the pre-trade ``check`` (risk; no order reaches the venue without
it), records and publishes PENDING_NEW, and hands the request to the venue in a task. That task
first waits until the PENDING_NEW row is committed to SQLite, so that after a crash the
restarted OMS knows every order the venue may know. The venue's verdict arrives as reports
(:meth:`OrderManager.on_report`), which may be duplicated or out of order.

Transitions (a terminal status never changes; see :data:`TRANSITIONS` for the table):

* OrderAccepted: PENDING_NEW -> LIVE; anywhere else only fills in a missing venue order id.
* FillReport: applied exactly once per (venue, client_order_id, trade_id), also across restarts.
  An open order becomes PARTIALLY_FILLED or FILLED (even from PENDING_NEW: a fill may beat the
  acceptance). A fill for a terminal order (a cancel that crossed a fill) still counts: filled,
  avg price, fee and the portfolio change, the status does not.
* OrderCanceled: an open order -> CANCELED (or EXPIRED); late on a FILLED order it is ignored.
* OrderRejected: PENDING_NEW (nothing filled) -> REJECTED; a "duplicate clOrdId" refusal means
  the order is already at the venue and keeps it PENDING_NEW, marked for reconciliation.
* CancelRejected: no change; recorded in the order's history.

Idempotency: a request whose client order id is already known returns the known order and sends
nothing. A send whose outcome is unknown (timeout, connection lost mid-request) leaves the order
PENDING_NEW and marks it for reconciliation; :meth:`OrderManager.resubmit_pending` re-sends such
orders with the same id (the venue refuses a duplicate pending id, which is treated as "already
there").

Until a reconciliation with the venue is clean or accepted, :attr:`OrderManager.trading_blocked`
is True and bot orders are refused (manual orders still go, so an operator can act).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Protocol

import msgspec

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Side
from desk.core.orders import (
    MANUAL_ACCOUNT,
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from desk.execution.order_ids import ClientOrderIdFactory, is_valid_client_order_id
from desk.execution.portfolio import FillKey, Portfolio, fill_key
from desk.execution.venue import (
    CancelRejected,
    ExecutionClient,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueError,
    VenueOrder,
    VenueReport,
)

if TYPE_CHECKING:
    from desk.storage.sqlite import StoredOrder

log = logging.getLogger(__name__)

ZERO = Decimal(0)
_EXACT = Context(prec=80)  # sums of prices x sizes: far more digits than any venue sends
_AVG = Context(prec=34)
_DUPLICATE_ID = re.compile(r"51016|duplicat\w*\s+(cl\s*ord\s*id|client\s*order\s*id)", re.I)

RiskCheck = Callable[[OrderRequest], OrderRequest | str]

S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_NEW: frozenset(
        {S.LIVE, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED}
    ),
    S.LIVE: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
"""Allowed status changes (core/orders.py); anything else in a report is ignored and logged."""


class OrderStore(Protocol):
    """The part of :class:`~desk.storage.sqlite.SqliteStore` the OMS uses."""

    def record_order(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> None: ...

    def record_order_event(
        self, *, ts_ns: int, client_order_id: str, status: str, filled: Decimal, reason: str
    ) -> None: ...

    def record_fill(self, fill: Fill) -> None: ...

    async def load_open_orders(self) -> list[StoredOrder]: ...

    async def load_orders(
        self, *, since_ns: int = 0, limit: int | None = None
    ) -> list[StoredOrder]: ...

    async def load_fills(self, *, since_ns: int = 0, limit: int | None = None) -> list[Fill]: ...

    async def wait_committed(self, upto: int | None = None) -> None: ...


class OrderDifference(msgspec.Struct, frozen=True, kw_only=True):
    """One field on which the venue and desk disagree about an order both know."""

    client_order_id: str
    field: str
    local: str
    venue: str


class Reconciliation(msgspec.Struct, frozen=True, kw_only=True):
    """Local open orders and positions compared with the venue's view.

    ``missing_at_venue``: open locally (not being sent right now) but not open at the venue.
    ``unknown_locally``: open at the venue, unknown to desk. ``differences``: size, filled or
    status disagreements. ``balance_drift``: per base currency, how far the venue's balance
    (available + locked in open sells) moved apart from desk's fills since the last accepted
    reconciliation (the first one sets that baseline).
    """

    ts: int
    missing_at_venue: tuple[Order, ...] = ()
    unknown_locally: tuple[VenueOrder, ...] = ()
    differences: tuple[OrderDifference, ...] = ()
    balance_drift: dict[str, Decimal] = {}
    balances: dict[str, Decimal] = {}
    observed_offsets: dict[str, Decimal] = {}
    venue_orders: tuple[VenueOrder, ...] = ()
    recovered: tuple[str, ...] = ()
    """What the venue told us that we had missed while down (fills, cancels, orders it never
    received), already applied; informational, it does not make the reconciliation unclean."""

    @property
    def clean(self) -> bool:
        return not (
            self.missing_at_venue or self.unknown_locally or self.differences or self.balance_drift
        )


class _Tracked:
    """An order plus what the OMS needs beyond :class:`Order` to manage it.

    Setting ``order`` tells the OMS (``on_change``), which keeps its open-order index and
    open sizes up to date incrementally: risk asks for them on every order.
    """

    __slots__ = (
        "_order",
        "cancel_sent",
        "cancel_wanted",
        "durable_at",
        "notional",
        "on_change",
        "outcome_unknown",
        "request",
        "sending",
    )

    def __init__(self, order: Order, request: OrderRequest, notional: Decimal = ZERO) -> None:
        self._order = order
        self.on_change: Callable[[Order | None, Order], None] | None = None
        self.request = request
        self.notional = notional
        self.sending = False
        self.outcome_unknown = False
        self.cancel_sent = False
        self.cancel_wanted = False  # asked while the order was still on its way to the venue
        self.durable_at = 0  # the store's row count once this order's first rows were queued

    @property
    def order(self) -> Order:
        return self._order

    @order.setter
    def order(self, new: Order) -> None:
        old, self._order = self._order, new
        if self.on_change is not None:
            self.on_change(old, new)


def request_of(order: Order, *, reduce_only: bool = False) -> OrderRequest:
    """The request that produced ``order`` (to resend it unchanged)."""
    return OrderRequest(
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        size=order.size,
        price=order.price,
        bot_id=order.bot_id,
        client_order_id=order.client_order_id,
        reduce_only=reduce_only,
        venue=order.venue,
    )


def validate(request: OrderRequest) -> str:
    """Why ``request`` cannot be sent ("" when it can)."""
    if not is_valid_client_order_id(request.client_order_id):
        return f"client order id {request.client_order_id!r} is not 1-32 letters/digits"
    if not request.symbol:
        return "no symbol"
    if not request.size.is_finite() or request.size <= 0:
        return f"size must be positive, got {request.size}"
    if request.order_type is OrderType.MARKET:
        if request.price is not None and (not request.price.is_finite() or request.price <= 0):
            return f"price must be positive, got {request.price}"
        return ""
    if request.price is None:
        return f"{request.order_type} order needs a price"
    if not request.price.is_finite() or request.price <= 0:
        return f"price must be positive, got {request.price}"
    return ""


def is_duplicate_id_refusal(reason: str) -> bool:
    """Whether the venue refused an order because its client order id is already pending."""
    return _DUPLICATE_ID.search(reason) is not None


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed send may still have reached the venue (timeout, cut connection).

    The contract's VenueError carries no such flag; a timeout anywhere in its cause chain, or an
    ``outcome_unknown``/``timeout`` attribute set by the venue client, says so.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError) or getattr(seen, "outcome_unknown", False):
            return True
        if getattr(seen, "timeout", False) is True:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class OrderManager:
    """Tracks every order's state, applies fills once, and keeps SQLite and the bus informed."""

    def __init__(
        self,
        bus: Bus,
        store: OrderStore,
        venue: ExecutionClient,
        clock: Clock,
        *,
        check: RiskCheck | None = None,
        portfolio: Portfolio | None = None,
        venue_name: str = "okx",
        id_prefix: str | None = None,
        lookback_ns: int = 7 * 86_400 * NS_PER_S,
        recent_fills: int = 1000,
        durable_before_send: bool = True,
    ) -> None:
        self.bus = bus
        self.store = store
        self.venue = venue
        self.clock = clock
        self.check = check
        self.portfolio = portfolio
        self.venue_name = venue_name
        self._ids = ClientOrderIdFactory(id_prefix, now_ns=clock.now_ns())
        self._lookback_ns = lookback_ns
        self._durable = durable_before_send
        self._orders: dict[str, _Tracked] = {}
        self._open: dict[str, None] = {}  # client order ids of open orders, oldest first
        self._open_by_account: dict[tuple[str, str, Side], Decimal] = {}
        self._open_by_symbol: dict[tuple[str, Side], Decimal] = {}
        self._by_venue_id: dict[str, str] = {}
        self._seen_fills: set[FillKey] = set()
        self._fills: deque[Fill] = deque(maxlen=recent_fills)
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._reconciled = False
        self._unexplained = False
        self._last_reconciliation: Reconciliation | None = None
        self._balance_offsets: dict[str, Decimal] | None = None
        self.last_cancel_reason = ""
        self.duplicate_fills = 0
        self.unknown_reports = 0
        self.ignored_reports = 0

    # ---- lifecycle ----

    async def start(self) -> None:
        """Load what SQLite knows, connect the venue and reconcile with it."""
        self.venue.set_report_handler(self.on_report)
        now = self.clock.now_ns()
        for stored in await self.store.load_orders(since_ns=now - self._lookback_ns):
            self._adopt_stored(stored)
        for stored in await self.store.load_open_orders():
            self._adopt_stored(stored)
        fills = await self.store.load_fills()
        for fill in fills:
            self._seen_fills.add(fill_key(fill))
        self._fills.extend(fills[-(self._fills.maxlen or 0) :])
        if self.portfolio is not None:
            self.portfolio.restore(fills)
        self._started = True
        log.info(
            "OMS loaded %d orders (%d open) and %d fills",
            len(self._orders),
            len(self.open_orders()),
            len(fills),
        )
        await self.venue.connect()
        try:
            await self.reconcile()
        except VenueError as exc:
            log.warning("reconciliation at start failed, trading stays blocked: %s", exc)

    def _adopt_stored(self, stored: StoredOrder) -> None:
        order = stored.order
        tracked = _Tracked(order, request_of(order, reduce_only=stored.reduce_only))
        tracked.notional = stored.notional
        # A PENDING_NEW order from a previous run: it may or may not have reached the venue.
        tracked.outcome_unknown = order.status is OrderStatus.PENDING_NEW
        self._register(tracked)
        if order.venue_order_id:
            self._by_venue_id[order.venue_order_id] = order.client_order_id

    async def stop(self, timeout: float = 5.0) -> None:
        """Let in-flight requests finish (up to ``timeout``), then close the venue."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self._started = False
        await self.venue.close()

    # ---- orders in ----

    def submit(self, request: OrderRequest) -> Order:
        """Accept a request from a bot or an operator; the order as it now stands.

        Never raises for a bad or denied request: that gives a REJECTED order with a reason.
        """
        if not self._started:
            raise RuntimeError("OrderManager.submit before start()")
        known = self._orders.get(request.client_order_id) if request.client_order_id else None
        if known is not None:
            log.info("order %s already known: not sent again", request.client_order_id)
            return known.order
        if not request.client_order_id:
            request = msgspec.structs.replace(request, client_order_id=self._new_id())
        if request.venue != self.venue_name:
            request = msgspec.structs.replace(request, venue=self.venue_name)
        reason = validate(request)
        if reason:
            return self._refuse(request, f"invalid: {reason}")
        if self.trading_blocked and request.bot_id != MANUAL_ACCOUNT:
            return self._refuse(request, "blocked: reconciliation with the venue pending")
        if self.check is not None:
            checked = self._run_check(request)
            if isinstance(checked, str):
                return self._refuse(request, checked)
            request = checked
        tracked = self._track(request, OrderStatus.PENDING_NEW, "")
        tracked.sending = True  # from now: a cancel must wait until the venue has the order
        self._spawn(self._send(tracked, request), f"submit-{request.client_order_id}")
        return tracked.order

    def _run_check(self, request: OrderRequest) -> OrderRequest | str:
        """The risk verdict, fail-closed; a passed request may differ only in size and price."""
        assert self.check is not None
        try:
            verdict = self.check(request)
        except Exception as exc:
            log.exception("risk check failed on %s", request.client_order_id)
            return f"risk: check failed: {exc}"
        if isinstance(verdict, str):
            return verdict if verdict.startswith("risk:") else f"risk: {verdict}"
        if not verdict.client_order_id:
            verdict = msgspec.structs.replace(verdict, client_order_id=request.client_order_id)
        changed = [
            name
            for name in ("client_order_id", "symbol", "side", "bot_id", "order_type", "venue")
            if getattr(verdict, name) != getattr(request, name)
        ]
        if changed:
            return f"invalid: risk check changed {', '.join(changed)}"
        reason = validate(verdict)
        return f"invalid: {reason} (after risk check)" if reason else verdict

    def _new_id(self) -> str:
        while True:
            client_order_id = self._ids.next()
            if client_order_id not in self._orders:
                return client_order_id

    def _refuse(self, request: OrderRequest, reason: str) -> Order:
        log.info("order %s refused: %s", request.client_order_id, reason)
        return self._track(request, OrderStatus.REJECTED, reason).order

    def _track(self, request: OrderRequest, status: OrderStatus, reason: str) -> _Tracked:
        now = self.clock.now_ns()
        order = Order(
            ts_exchange=0,
            ts_recv=now,
            client_order_id=request.client_order_id,
            venue_order_id="",
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=request.price,
            size=request.size,
            filled=ZERO,
            avg_price=ZERO,
            status=status,
            bot_id=request.bot_id,
            venue=request.venue,
            reason=reason,
            created_ns=now,
        )
        tracked = _Tracked(order, request)
        self._register(tracked)
        self._emit(tracked)
        tracked.durable_at = getattr(self.store, "rows_enqueued", 0)
        return tracked

    def _register(self, tracked: _Tracked) -> None:
        self._orders[tracked.order.client_order_id] = tracked
        tracked.on_change = self._order_changed
        self._order_changed(None, tracked.order)

    def _order_changed(self, old: Order | None, new: Order) -> None:
        """Keep the open index and the open sizes per account/symbol and side exact."""
        for order, sign in ((old, -1), (new, 1)):
            if order is None or not order.status.open:
                continue
            remaining = order.size - order.filled
            if remaining <= 0:
                continue
            by_account = (order.bot_id, order.symbol, order.side)
            by_symbol = (order.symbol, order.side)
            self._open_by_account[by_account] = (
                self._open_by_account.get(by_account, ZERO) + sign * remaining
            )
            self._open_by_symbol[by_symbol] = (
                self._open_by_symbol.get(by_symbol, ZERO) + sign * remaining
            )
        cid = new.client_order_id
        if new.status.open:
            self._open.setdefault(cid, None)
        else:
            self._open.pop(cid, None)

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, tracked: _Tracked, request: OrderRequest) -> None:
        tracked.sending = True
        try:
            if self._durable:
                # Only this order's own rows: later orders' rows must not hold it back.
                await self.store.wait_committed(tracked.durable_at or None)
            await self.venue.submit(request)
        except VenueError as exc:
            if is_duplicate_id_refusal(str(exc)):
                self._mark_unknown(tracked, f"already at the venue: {exc}")
            elif outcome_unknown(exc):
                self._mark_unknown(tracked, f"outcome unknown: {exc}")
            else:
                self._reject(tracked, f"venue: {exc}", ts_exchange=0)
        except asyncio.CancelledError:
            self._mark_unknown(tracked, "send interrupted")
            raise
        except Exception as exc:
            log.exception("venue submit of %s failed", request.client_order_id)
            self._mark_unknown(tracked, f"outcome unknown: {exc!r}")
        finally:
            tracked.sending = False
            self._cancel_deferred(tracked)

    def _cancel_deferred(self, tracked: _Tracked) -> None:
        """Send a cancel that was asked for while the order was on its way."""
        if not tracked.cancel_wanted or tracked.cancel_sent or tracked.order.status.terminal:
            return
        tracked.cancel_wanted = False
        tracked.cancel_sent = True
        self._spawn(self._send_cancel(tracked), f"cancel-{tracked.order.client_order_id}")

    def _mark_unknown(self, tracked: _Tracked, why: str) -> None:
        if tracked.order.status is not OrderStatus.PENDING_NEW:
            return  # a report already told us what happened
        tracked.outcome_unknown = True
        log.warning("order %s: %s; left for reconciliation", tracked.order.client_order_id, why)
        self.store.record_order_event(
            ts_ns=self.clock.now_ns(),
            client_order_id=tracked.order.client_order_id,
            status=str(tracked.order.status),
            filled=tracked.order.filled,
            reason=why,
        )

    def _reject(self, tracked: _Tracked, reason: str, *, ts_exchange: int) -> None:
        order = tracked.order
        if order.status is not OrderStatus.PENDING_NEW or order.filled:
            log.warning(
                "reject of %s (%s) ignored: %s", order.client_order_id, reason, order.status
            )
            self.ignored_reports += 1
            return
        tracked.outcome_unknown = False
        self._update(tracked, ts_exchange, status=OrderStatus.REJECTED, reason=reason)

    def resubmit_pending(self) -> int:
        """Re-send every PENDING_NEW order whose outcome is unknown, with the same id.

        Each still passes ``check`` first (risk may have halted since); one it denies is not
        sent and stays for reconciliation. Returns how many were sent.
        """
        sent = 0
        for tracked in list(self._orders.values()):
            order = tracked.order
            if order.status is not OrderStatus.PENDING_NEW or not tracked.outcome_unknown:
                continue
            if tracked.sending:
                continue
            if self.check is not None:
                verdict = self._run_check(tracked.request)
                if isinstance(verdict, str):
                    log.warning("not resending %s: %s", order.client_order_id, verdict)
                    continue
            tracked.sending = True
            self._spawn(self._send(tracked, tracked.request), f"resubmit-{order.client_order_id}")
            sent += 1
        return sent

    # ---- cancels ----

    def cancel(self, client_order_id: str) -> bool:
        """Ask the venue to cancel one order; False (reason in ``last_cancel_reason``) if it is
        unknown or already terminal. The outcome arrives as a report."""
        tracked = self._orders.get(client_order_id)
        if tracked is None:
            return self._no_cancel(f"unknown order {client_order_id!r}")
        order = tracked.order
        if order.status.terminal:
            return self._no_cancel(f"order {client_order_id} is {order.status}")
        self.last_cancel_reason = ""
        if tracked.cancel_sent or tracked.cancel_wanted:
            return True
        if tracked.sending or (
            order.status is OrderStatus.PENDING_NEW and not order.venue_order_id
        ):
            # The venue may not know the order yet: a cancel now would be refused as unknown
            # and the order would then rest. Cancel as soon as the venue has it.
            tracked.cancel_wanted = True
            if not tracked.sending:
                self._cancel_deferred(tracked)
            return True
        tracked.cancel_sent = True
        self._spawn(self._send_cancel(tracked), f"cancel-{client_order_id}")
        return True

    def _no_cancel(self, reason: str) -> bool:
        self.last_cancel_reason = reason
        log.info("cancel refused: %s", reason)
        return False

    async def _send_cancel(self, tracked: _Tracked) -> None:
        order = tracked.order
        try:
            await self.venue.cancel(order.client_order_id, order.symbol)
        except Exception as exc:
            tracked.cancel_sent = False
            if not isinstance(exc, VenueError):
                log.exception("venue cancel of %s failed", order.client_order_id)
            self._note(tracked, f"cancel failed: venue: {exc}")

    def cancel_all(self, bot_id: str | None = None, symbol: str | None = None) -> int:
        """Cancel every open order (of one account and/or symbol); how many are being canceled
        (an order whose cancel is already on its way counts, but is not asked twice)."""
        return sum(self.cancel(order.client_order_id) for order in self.open_orders(bot_id, symbol))

    # ---- venue reports ----

    def on_report(self, report: VenueReport) -> None:
        """Apply one report from the venue (the handler installed on the venue client)."""
        tracked = self._find(report.client_order_id, getattr(report, "venue_order_id", ""))
        if tracked is None:
            self.unknown_reports += 1
            if isinstance(report, FillReport):
                # Money moved on an order desk does not know: positions are now unexplained.
                self._unexplained = True
                log.error("fill for unknown order %s: trading blocked", report.client_order_id)
            else:
                log.warning("report for unknown order: %r", report)
            return
        if isinstance(report, FillReport):
            self._on_fill(tracked, report)
        elif isinstance(report, OrderAccepted):
            self._on_accepted(tracked, report)
        elif isinstance(report, OrderCanceled):
            self._on_canceled(tracked, report)
        elif isinstance(report, OrderRejected):
            self._on_rejected(tracked, report)
        elif isinstance(report, CancelRejected):
            tracked.cancel_sent = False
            self._note(tracked, f"cancel rejected: {report.reason}")

    def _find(self, client_order_id: str, venue_order_id: str) -> _Tracked | None:
        tracked = self._orders.get(client_order_id) if client_order_id else None
        if tracked is None and venue_order_id:
            known = self._by_venue_id.get(venue_order_id)
            tracked = self._orders.get(known) if known else None
        return tracked

    def _on_accepted(self, tracked: _Tracked, report: OrderAccepted) -> None:
        order = tracked.order
        tracked.outcome_unknown = False
        changes: dict[str, object] = {}
        if report.venue_order_id and order.venue_order_id != report.venue_order_id:
            changes["venue_order_id"] = report.venue_order_id
            self._by_venue_id[report.venue_order_id] = order.client_order_id
        if order.status is OrderStatus.PENDING_NEW:
            changes["status"] = OrderStatus.LIVE
        if changes:
            self._update(tracked, report.ts, **changes)
        self._cancel_deferred(tracked)

    def _on_rejected(self, tracked: _Tracked, report: OrderRejected) -> None:
        if is_duplicate_id_refusal(report.reason):
            self._mark_unknown(tracked, f"already at the venue: {report.reason}")
            return
        tracked.outcome_unknown = False
        reason = report.reason if report.reason.startswith("venue") else f"venue: {report.reason}"
        self._reject(tracked, reason, ts_exchange=report.ts)

    def _on_canceled(self, tracked: _Tracked, report: OrderCanceled) -> None:
        order = tracked.order
        tracked.outcome_unknown = False
        tracked.cancel_sent = False
        status = OrderStatus.EXPIRED if report.expired else OrderStatus.CANCELED
        if order.status.terminal:
            if order.status is not status:
                log.info("late %s of %s ignored: %s", status, order.client_order_id, order.status)
                self.ignored_reports += 1
            return
        changes: dict[str, object] = {"status": status, "reason": report.reason}
        if report.venue_order_id and not order.venue_order_id:
            changes["venue_order_id"] = report.venue_order_id
            self._by_venue_id[report.venue_order_id] = order.client_order_id
        self._update(tracked, report.ts, **changes)

    def _on_fill(self, tracked: _Tracked, report: FillReport) -> None:
        order = tracked.order
        fill = Fill(
            ts_exchange=report.ts,
            ts_recv=self.clock.now_ns(),
            client_order_id=order.client_order_id,
            venue_order_id=report.venue_order_id or order.venue_order_id,
            trade_id=report.trade_id,
            symbol=order.symbol,
            side=order.side,
            price=report.price,
            size=report.size,
            fee=report.fee,
            fee_ccy=report.fee_ccy,
            liquidity=report.liquidity,
            bot_id=order.bot_id,
            venue=order.venue,
        )
        key = fill_key(fill)
        if key in self._seen_fills:
            self.duplicate_fills += 1
            log.debug("duplicate fill %s ignored", key)
            return
        self._seen_fills.add(key)
        tracked.outcome_unknown = False
        filled = _EXACT.add(order.filled, report.size)
        tracked.notional = _EXACT.add(tracked.notional, _EXACT.multiply(report.price, report.size))
        changes: dict[str, object] = {
            "filled": filled,
            "avg_price": _AVG.divide(tracked.notional, filled),
        }
        if report.fee:
            if not order.fee_ccy or order.fee_ccy == report.fee_ccy:
                changes["fee"] = _EXACT.add(order.fee, report.fee)
                changes["fee_ccy"] = report.fee_ccy
            else:
                log.warning(
                    "order %s: fee in %s besides %s not added to the order's fee (the "
                    "portfolio has it)",
                    order.client_order_id,
                    report.fee_ccy,
                    order.fee_ccy,
                )
        if fill.venue_order_id and not order.venue_order_id:
            changes["venue_order_id"] = fill.venue_order_id
            self._by_venue_id[fill.venue_order_id] = order.client_order_id
        if order.status.open:
            changes["status"] = OrderStatus.FILLED if filled >= order.size else S.PARTIALLY_FILLED
        else:
            log.warning(
                "fill %s on %s order %s applied; status stays",
                report.trade_id,
                order.status,
                order.client_order_id,
            )
        if filled > order.size:
            log.error("order %s overfilled: %s of %s", order.client_order_id, filled, order.size)
        if self.portfolio is not None:
            self.portfolio.apply_fill(fill)
        self._fills.append(fill)
        self.store.record_fill(fill)
        self.bus.publish(topics.trade_updates(order.bot_id), fill)
        self._update(tracked, report.ts, **changes)

    # ---- state changes ----

    def _update(self, tracked: _Tracked, ts_exchange: int, **changes: object) -> None:
        """Apply ``changes`` to the order, record and publish it.

        A status change outside :data:`TRANSITIONS` is dropped (logged); other fields still
        apply (a fill on a canceled order still counts).
        """
        order = tracked.order
        status = changes.get("status")
        if (
            status is not None
            and status is not order.status
            and status not in TRANSITIONS[order.status]
        ):
            log.warning(
                "order %s: %s -> %s not allowed, ignored",
                order.client_order_id,
                order.status,
                status,
            )
            self.ignored_reports += 1
            del changes["status"]
        tracked.order = msgspec.structs.replace(
            order, ts_exchange=ts_exchange, ts_recv=self.clock.now_ns(), **changes
        )
        if tracked.order.status.terminal:
            tracked.outcome_unknown = False
        self._emit(tracked)

    def _note(self, tracked: _Tracked, reason: str) -> None:
        """Record something that happened to an order without changing it."""
        order = tracked.order
        log.info("order %s: %s", order.client_order_id, reason)
        self.store.record_order_event(
            ts_ns=self.clock.now_ns(),
            client_order_id=order.client_order_id,
            status=str(order.status),
            filled=order.filled,
            reason=reason,
        )

    def _emit(self, tracked: _Tracked) -> None:
        """Record the order's new state and its history row, and publish it."""
        order = tracked.order
        self.store.record_order(
            order,
            reduce_only=tracked.request.reduce_only,
            notional=tracked.notional,
            updated_ns=order.ts_recv,
        )
        self.store.record_order_event(
            ts_ns=order.ts_recv,
            client_order_id=order.client_order_id,
            status=str(order.status),
            filled=order.filled,
            reason=order.reason,
        )
        self.bus.publish(topics.trade_updates(order.bot_id), order)

    # ---- queries ----

    def order(self, client_order_id: str) -> Order | None:
        tracked = self._orders.get(client_order_id)
        return tracked.order if tracked else None

    def open_orders(self, bot_id: str | None = None, symbol: str | None = None) -> list[Order]:
        """Open orders, oldest first (of one account and/or symbol)."""
        orders = (self._orders[cid].order for cid in self._open)
        return [
            o
            for o in orders
            if (bot_id is None or o.bot_id == bot_id) and (symbol is None or o.symbol == symbol)
        ]

    def orders(self, limit: int = 200) -> list[Order]:
        """The most recent orders, newest first."""
        ordered = sorted(
            (t.order for t in self._orders.values()),
            key=lambda o: (o.created_ns, o.client_order_id),
            reverse=True,
        )
        return ordered[:limit]

    def fills(self, limit: int = 200) -> list[Fill]:
        """The most recent fills, newest first."""
        recent = list(self._fills)[-limit:] if limit > 0 else []
        recent.reverse()
        return recent

    def unresolved(self) -> list[Order]:
        """PENDING_NEW orders whose fate is unknown (a send that timed out, or from before a
        restart): what :meth:`resubmit_pending` and reconciliation deal with."""
        return [t.order for t in self._orders.values() if t.outcome_unknown]

    def open_size(self, bot_id: str, symbol: str, side: Side) -> Decimal:
        """Unfilled size of one account's open orders on ``side`` (risk's OpenOrdersView)."""
        return self._open_by_account.get((bot_id, symbol, side), ZERO)

    def symbol_open_size(self, symbol: str, side: Side) -> Decimal:
        """Unfilled size of all accounts' open orders on ``side`` (risk's OpenOrdersView)."""
        return self._open_by_symbol.get((symbol, side), ZERO)

    # ---- reconciliation ----

    @property
    def trading_blocked(self) -> bool:
        """True until a reconciliation came back clean or was accepted, and after a fill for
        an order desk does not know."""
        return not self._reconciled or self._unexplained

    @property
    def last_reconciliation(self) -> Reconciliation | None:
        return self._last_reconciliation

    async def reconcile(self) -> Reconciliation:
        """Compare open orders and balances with the venue; unblock trading if they agree."""
        venue_orders = await self.venue.open_orders()
        venue_by_id = {vo.client_order_id: vo for vo in venue_orders if vo.client_order_id}
        recovered = await self._recover(venue_orders, venue_by_id)
        balances = await self.venue.balances()
        missing: list[Order] = []
        for tracked in self._orders.values():
            order = tracked.order
            if (
                order.status.open
                and not tracked.sending
                and order.client_order_id not in venue_by_id
                and not self._venue_lists(order, venue_orders)
            ):
                missing.append(order)
        unknown: list[VenueOrder] = []
        differences: list[OrderDifference] = []
        for vo in venue_orders:
            tracked = self._find(vo.client_order_id, vo.venue_order_id)
            if tracked is None:
                unknown.append(vo)
                continue
            differences.extend(_differences(tracked.order, vo))
        offsets = self._balance_offsets_now(balances)
        drift: dict[str, Decimal] = {}
        if self._balance_offsets is not None:
            for ccy, offset in offsets.items():
                moved = offset - self._balance_offsets.get(ccy, offset)
                if moved:
                    drift[ccy] = moved
        rec = Reconciliation(
            ts=self.clock.now_ns(),
            missing_at_venue=tuple(missing),
            unknown_locally=tuple(unknown),
            differences=tuple(differences),
            balance_drift=drift,
            balances=dict(balances),
            observed_offsets=offsets,
            venue_orders=tuple(venue_orders),
            recovered=tuple(recovered),
        )
        for line in recovered:
            log.warning("reconciliation recovered: %s", line)
        self._last_reconciliation = rec
        if rec.clean:
            self._reconciled = True
            self._unexplained = False
            # The first clean look (and each currency seen for the first time) sets the baseline.
            self._balance_offsets = {**offsets, **(self._balance_offsets or {})}
            log.info("reconciliation clean")
        else:
            self._reconciled = False
            log.warning(
                "reconciliation: %d missing at venue, %d unknown locally, %d differences, drift %s",
                len(missing),
                len(unknown),
                len(differences),
                drift,
            )
        return rec

    async def _recover(
        self, venue_orders: list[VenueOrder], venue_by_id: dict[str, VenueOrder]
    ) -> list[str]:
        """Catch up with what happened at the venue while desk was down.

        An order open here but not at the venue is looked up: its missed fills are applied
        (one fill for the missing size at the price that makes the venue's average), its end
        (filled / canceled) recorded; one the venue never received is rejected as such (after
        a restart its connection is gone, so it can no longer arrive). Fills the venue reports
        on still-open orders are caught up the same way.
        """
        lines: list[str] = []
        lookup = getattr(self.venue, "order_status", None)
        for tracked in list(self._orders.values()):
            order = tracked.order
            if not order.status.open or tracked.sending or order.client_order_id in venue_by_id:
                continue
            if self._venue_lists(order, venue_orders) or lookup is None:
                continue
            venue_order = await lookup(order.client_order_id, order.symbol)
            if venue_order is None:
                if order.status is OrderStatus.PENDING_NEW and not order.venue_order_id:
                    self._reject(
                        tracked, "venue never received it (found after a restart)", ts_exchange=0
                    )
                    lines.append(f"{order.client_order_id}: never reached the venue; rejected")
                continue
            lines += self._catch_up(tracked, venue_order)
        for venue_order in venue_orders:
            tracked = self._find(venue_order.client_order_id, venue_order.venue_order_id)
            if (
                tracked is not None
                and venue_order.filled > tracked.order.filled
                and venue_order.avg_price > 0
            ):
                lines += self._catch_up(tracked, venue_order)
        return lines

    def _catch_up(self, tracked: _Tracked, vo: VenueOrder) -> list[str]:
        """Apply the venue's view of one order through the normal report path."""
        order, now = tracked.order, self.clock.now_ns()
        cid, lines = order.client_order_id, []
        if vo.venue_order_id and not order.venue_order_id:
            self.on_report(
                OrderAccepted(client_order_id=cid, venue_order_id=vo.venue_order_id, ts=now)
            )
        missing = vo.filled - tracked.order.filled
        if missing > 0 and vo.avg_price > 0:  # without the venue's average, leave it a difference
            here = tracked.order.avg_price * tracked.order.filled
            price = _AVG.divide(
                _EXACT.subtract(_EXACT.multiply(vo.avg_price, vo.filled), here), missing
            )
            fee = (
                vo.fee - tracked.order.fee
                if vo.fee_ccy in ("", tracked.order.fee_ccy) or not tracked.order.fee_ccy
                else vo.fee
            )
            self.on_report(
                FillReport(
                    client_order_id=cid,
                    venue_order_id=vo.venue_order_id,
                    trade_id=f"recovered{vo.venue_order_id}x{vo.filled}",
                    price=price,
                    size=missing,
                    fee=fee,
                    fee_ccy=vo.fee_ccy or tracked.order.fee_ccy,
                    liquidity=Liquidity.TAKER,
                    ts=now,
                )
            )
            lines.append(f"{cid}: {missing} filled at {price} while desk was down")
        if vo.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED) and tracked.order.status.open:
            self.on_report(
                OrderCanceled(
                    client_order_id=cid,
                    venue_order_id=vo.venue_order_id,
                    reason="canceled at the venue while desk was down",
                    ts=now,
                    expired=vo.status is OrderStatus.EXPIRED,
                )
            )
            lines.append(f"{cid}: {vo.status} at the venue while desk was down")
        return lines

    @staticmethod
    def _venue_lists(order: Order, venue_orders: list[VenueOrder]) -> bool:
        return bool(order.venue_order_id) and any(
            vo.venue_order_id == order.venue_order_id for vo in venue_orders
        )

    def _balance_offsets_now(self, balances: dict[str, Decimal]) -> dict[str, Decimal]:
        """Per base currency: venue balance (+ locked by open sells) - what desk's fills hold.

        Constant while only desk trades; a change means the venue knows of trades (or
        transfers) desk does not. Only plain BASE-QUOTE symbols and currencies the venue lists
        are compared.
        """
        if self.portfolio is None:
            return {}
        symbols_of: dict[str, set[str]] = {}
        for _bot_id, symbol in self.portfolio.accounts():
            base, _quote = self.portfolio.currencies(symbol)
            if symbol.count("-") == 1 and base in balances:
                symbols_of.setdefault(base, set()).add(symbol)
        offsets: dict[str, Decimal] = {}
        for base, symbols in symbols_of.items():
            held = sum((self.portfolio.symbol_position(s) for s in symbols), ZERO)
            held -= self.portfolio.fees_in(base)
            locked = sum(
                (
                    max(o.remaining, ZERO)
                    for o in self.open_orders()
                    if o.side is Side.SELL and o.symbol in symbols
                ),
                ZERO,
            )
            offsets[base] = balances[base] + locked - held
        return offsets

    def accept_reconciliation(self, reconciliation: Reconciliation | None = None) -> int:
        """Adopt the venue's view of the last (or given) reconciliation; unblocks trading.

        Orders open locally but not at the venue are canceled; orders only the venue has are
        adopted (as manual orders); size/filled/status differences take the venue's values;
        the balance baseline is reset. Each change is recorded. Returns how many orders changed.
        Fills the venue has and desk missed are not in the contract's reach (the venue client
        has no fill history): the portfolio keeps desk's fills.
        """
        rec = reconciliation or self._last_reconciliation
        if rec is None:
            raise RuntimeError("accept_reconciliation without a reconciliation")
        changed = 0
        for order in rec.missing_at_venue:
            tracked = self._orders.get(order.client_order_id)
            if tracked is None or tracked.order.status.terminal or tracked.sending:
                continue
            tracked.outcome_unknown = False
            self._update(
                tracked, 0, status=OrderStatus.CANCELED, reason="reconcile: not open at venue"
            )
            changed += 1
        for vo in rec.unknown_locally:
            if self._find(vo.client_order_id, vo.venue_order_id) is None:
                self._adopt_venue_order(vo)
                changed += 1
        listed = {vo.client_order_id: vo for vo in rec.venue_orders}
        for client_order_id in dict.fromkeys(d.client_order_id for d in rec.differences):
            tracked = self._orders.get(client_order_id)
            vo = listed.get(client_order_id)
            if tracked is not None and vo is not None:
                self._take_venue_values(tracked, vo)
                changed += 1
        self._balance_offsets = dict(rec.observed_offsets)
        self._reconciled = True
        self._unexplained = False
        log.warning("reconciliation accepted: %d orders changed", changed)
        return changed

    def _adopt_venue_order(self, vo: VenueOrder) -> None:
        client_order_id = vo.client_order_id or self._new_id()
        now = self.clock.now_ns()
        avg = vo.price or ZERO
        order = Order(
            ts_exchange=0,
            ts_recv=now,
            client_order_id=client_order_id,
            venue_order_id=vo.venue_order_id,
            symbol=vo.symbol,
            side=vo.side,
            order_type=vo.order_type,
            price=vo.price,
            size=vo.size,
            filled=vo.filled,
            avg_price=avg if vo.filled else ZERO,
            status=vo.status,
            bot_id=MANUAL_ACCOUNT,
            venue=self.venue_name,
            reason="reconcile: adopted from venue",
            created_ns=now,
        )
        tracked = _Tracked(order, request_of(order), notional=_EXACT.multiply(avg, vo.filled))
        self._register(tracked)
        if vo.venue_order_id:
            self._by_venue_id[vo.venue_order_id] = client_order_id
        self._emit(tracked)

    def _take_venue_values(self, tracked: _Tracked, vo: VenueOrder) -> None:
        order = tracked.order
        if vo.filled != order.filled and vo.filled:
            # Keep the notional consistent with the adopted filled size at the known average.
            avg = order.avg_price or vo.price or ZERO
            tracked.notional = _EXACT.multiply(avg, vo.filled)
        tracked.outcome_unknown = False
        tracked.order = msgspec.structs.replace(
            order,
            ts_exchange=0,
            ts_recv=self.clock.now_ns(),
            size=vo.size,
            filled=vo.filled,
            status=vo.status,
            venue_order_id=vo.venue_order_id or order.venue_order_id,
            reason="reconcile: venue's view adopted",
        )
        if vo.venue_order_id:
            self._by_venue_id[vo.venue_order_id] = order.client_order_id
        self._emit(tracked)


def _differences(order: Order, vo: VenueOrder) -> list[OrderDifference]:
    found: list[OrderDifference] = []

    def differ(field: str, local: object, venue: object) -> None:
        found.append(
            OrderDifference(
                client_order_id=order.client_order_id,
                field=field,
                local=str(local),
                venue=str(venue),
            )
        )

    if order.status.terminal:
        differ("status", order.status, vo.status)
    if vo.size != order.size:
        differ("size", order.size, vo.size)
    if vo.filled != order.filled:
        differ("filled", order.filled, vo.filled)
    return found
