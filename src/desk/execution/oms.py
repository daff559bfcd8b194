"""The order manager: one state machine for every order, bot or manual (DESIGN.md section 5).

Flow of an order: :meth:`OrderManager.submit` assigns a client order id, validates the
request, passes it through the pre-trade ``check`` (risk; no order reaches the venue without
it), records and publishes PENDING_NEW, and hands the request to the venue in a task. The
PENDING_NEW row is durable before that task exists: written to the store's order journal
(``journal_order``, a copy into a mapped file) so that after a crash the restarted OMS knows
every order the venue may know. With the journal off, the task first waits until the row is
committed to SQLite. The venue's verdict arrives as reports (:meth:`OrderManager.on_report`),
which may be duplicated or out of order.

The order table and its state machine are in order_state.py, how each report moves an order
(the transitions) in reports.py, reconciliation and the catch-up after a restart in
reconcile.py; :class:`OrderManager` puts them together.

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
from collections import deque
from collections.abc import Callable
from decimal import Decimal

import msgspec

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Side
from desk.core.orders import MANUAL_ACCOUNT, Fill, Order, OrderRequest, OrderStatus, OrderType
from desk.execution.config import OrderHistoryConfig
from desk.execution.order_history import Bounded, DoneOrders
from desk.execution.order_ids import ClientOrderIdFactory, is_valid_client_order_id
from desk.execution.order_state import (
    PENDING_NEW,
    ZERO,
    OrderStore,
    StoredOrder,
    Tracked,
    request_of,
)
from desk.execution.portfolio import FillKey, Portfolio, fill_key
from desk.execution.reconcile import Reconciler, Reconciliation
from desk.execution.venue import ExecutionClient, VenueError

log = logging.getLogger(__name__)

RiskCheck = Callable[[OrderRequest], OrderRequest | str]


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


class OrderManager(Reconciler):
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
        history: OrderHistoryConfig | None = None,
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
        self._orders: dict[str, Tracked] = {}
        self._open: dict[str, None] = {}  # client order ids of open orders, oldest first
        self._open_by_account: dict[tuple[str, str, Side], Decimal] = {}
        self._open_by_symbol: dict[tuple[str, Side], Decimal] = {}
        self._by_venue_id: dict[str, str] = {}
        self._seen_fills: set[FillKey] = set()
        self._done = DoneOrders(history)
        self._fills: deque[Fill] = deque(maxlen=recent_fills)
        self._tasks: set[asyncio.Task[None]] = set()
        self._discard = self._tasks.discard
        self._topics: dict[str, str] = {}
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
        if self.portfolio is not None:
            self.portfolio.restore(fills)
        self._adopt_fills(fills)
        self._fills.extend(fills[-(self._fills.maxlen or 0) :])
        self._started = True
        self._prune_done()
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
        tracked = Tracked(order, request_of(order, reduce_only=stored.reduce_only))
        tracked.notional = stored.notional
        # A PENDING_NEW order from a previous run: it may or may not have reached the venue.
        tracked.outcome_unknown = order.status is OrderStatus.PENDING_NEW
        self._register(tracked)
        if order.venue_order_id:
            self._by_venue_id[order.venue_order_id] = order.client_order_id

    def bounded(self) -> list[Bounded]:
        """The OMS's bounded histories, for the health mode."""
        return self._done.health()

    def _adopt_fills(self, fills: list[Fill]) -> None:
        """Each stored fill's key goes with its order; the fills of orders from before the
        lookback are not kept: those orders count as pruned (a late report for one is known)."""
        older: set[FillKey] = set()
        older_orders: dict[str, str] = {}
        for fill in fills:
            key = fill_key(fill)
            tracked = self._orders.get(fill.client_order_id)
            if tracked is None:
                older.add(key)
                older_orders[fill.client_order_id] = fill.venue_order_id
                continue
            self._seen_fills.add(key)
            tracked.fill_keys = (*(tracked.fill_keys or ()), key)
        for client_order_id, venue_order_id in older_orders.items():
            self._done.forget(client_order_id, venue_order_id)
        if older and self.portfolio is not None:
            self.portfolio.forget_fills(older)

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
        self._prune_done()
        if request.client_order_id and self._done.was_pruned(request.client_order_id):
            log.info("order %s is a done order's id: not sent again", request.client_order_id)
            return self._order_of(
                request,
                OrderStatus.REJECTED,
                "invalid: client order id already used by a done order",
            )
        if not request.client_order_id:
            request = msgspec.structs.replace(
                request, client_order_id=self._new_id(), venue=self.venue_name
            )
        elif request.venue != self.venue_name:
            request = msgspec.structs.replace(request, venue=self.venue_name)
        reason = validate(request)
        if reason:
            return self._refuse(request, f"invalid: {reason}")
        if request.bot_id != MANUAL_ACCOUNT and self.trading_blocked:
            return self._refuse(request, "blocked: reconciliation with the venue pending")
        if self.check is not None:
            checked = self._run_check(request)
            if isinstance(checked, str):
                return self._refuse(request, checked)
            request = checked
        try:
            tracked = self._track(request, PENDING_NEW, "")
        except OSError as exc:  # the journal could not take it: never send what may be forgotten
            log.error("order %s not journalled: %s", request.client_order_id, exc)
            return self._refuse(request, f"storage: the order could not be made durable: {exc}")
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
        if verdict is request:
            return request  # passed as it came (validated already)
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

    def _refuse(self, request: OrderRequest, reason: str) -> Order:
        log.info("order %s refused: %s", request.client_order_id, reason)
        return self._track(request, OrderStatus.REJECTED, reason).order

    def _order_of(self, request: OrderRequest, status: OrderStatus, reason: str) -> Order:
        now = self.clock.now_ns()
        return Order(
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

    def _track(self, request: OrderRequest, status: OrderStatus, reason: str) -> Tracked:
        order = self._order_of(request, status, reason)
        now = order.created_ns
        tracked = Tracked(order, request)
        journalled = recorded = False
        if status is PENDING_NEW and self._durable:
            # Durable from here on (or, with the journal off, queued: _send waits for its commit).
            journalled = self.store.journal_order(
                order, reduce_only=request.reduce_only, notional=ZERO, updated_ns=now
            )
            recorded = True
        self._register(tracked)
        self._emit(tracked, recorded=recorded)
        if self._durable and not journalled:
            tracked.durable_at = getattr(self.store, "rows_enqueued", 0)
        return tracked

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

    def cancel_all(self, bot_id: str | None = None, symbol: str | None = None) -> int:
        """Cancel every open order (of one account and/or symbol); how many are being canceled
        (an order whose cancel is already on its way counts, but is not asked twice)."""
        return sum(self.cancel(order.client_order_id) for order in self.open_orders(bot_id, symbol))
