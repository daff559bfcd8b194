"""The OMS's order table and the state machine every change to an order goes through.

:class:`OrderStateMachine` keeps each order as a :class:`Tracked` (the order plus what the OMS
needs to manage it) with an index of the open ones and their open sizes, answers the queries on
them, runs the tasks that hand requests and cancels to the venue, and applies every change
through ``_update``: a status change outside :data:`TRANSITIONS` is dropped, every new state is
recorded (:class:`OrderStore`) and published. :class:`~desk.execution.oms.OrderManager` builds
on it, with venue reports (reports.py) and reconciliation (reconcile.py) in between.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Context, Decimal
from typing import Protocol

import msgspec

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import Clock
from desk.core.enums import Side
from desk.core.orders import TERMINAL_STATUSES, Fill, Order, OrderRequest, OrderStatus
from desk.execution.order_history import DoneOrders
from desk.execution.order_ids import ClientOrderIdFactory
from desk.execution.portfolio import FillKey, Portfolio
from desk.execution.venue import ExecutionClient, VenueError

log = logging.getLogger("desk.execution.oms")

ZERO = Decimal(0)
EXACT = Context(prec=80)  # sums of prices x sizes: far more digits than any venue sends
AVG = Context(prec=34)
_DUPLICATE_ID = re.compile(r"51016|duplicat\w*\s+(cl\s*ord\s*id|client\s*order\s*id)", re.I)

# Hot paths test members against module constants: on CPython 3.11 ``OrderStatus.LIVE`` costs
# ~100 ns a lookup and the ``open``/``terminal`` properties as much, a global ~10 ns.
PENDING_NEW = OrderStatus.PENDING_NEW
TERMINAL = TERMINAL_STATUSES

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


class StoredOrder(Protocol):
    """An order as the store gives it back: its last state plus what :class:`Order` lacks."""

    @property
    def order(self) -> Order: ...

    @property
    def reduce_only(self) -> bool: ...

    @property
    def notional(self) -> Decimal: ...


class OrderStore(Protocol):
    """The part of :class:`~desk.storage.sqlite.SqliteStore` the OMS uses."""

    def record_order(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> None: ...

    def journal_order(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> bool: ...

    def record_order_state(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> None: ...

    def record_order_event(
        self, *, ts_ns: int, client_order_id: str, status: str, filled: Decimal, reason: str
    ) -> None: ...

    def record_fill(self, fill: Fill) -> None: ...

    async def load_open_orders(self) -> Sequence[StoredOrder]: ...

    async def load_orders(
        self, *, since_ns: int = 0, limit: int | None = None
    ) -> Sequence[StoredOrder]: ...

    async def load_fills(self, *, since_ns: int = 0, limit: int | None = None) -> list[Fill]: ...

    async def wait_committed(self, upto: int | None = None) -> None: ...


class Tracked(msgspec.Struct, gc=False):
    """An order plus what the OMS needs beyond :class:`Order` to manage it.

    Its order changes only through :meth:`OrderStateMachine._set_order`, which keeps the OMS's
    open-order index and open sizes up to date incrementally: risk asks for them on every order.
    Not tracked by the cyclic garbage collector (``gc=False``): the OMS keeps one per order (up
    to its history), each would otherwise be rescanned by every full collection; it holds no
    reference back to the OMS, so it is never part of a cycle.
    """

    order: Order
    request: OrderRequest
    notional: Decimal = ZERO
    sending: bool = False
    outcome_unknown: bool = False
    cancel_sent: bool = False
    cancel_wanted: bool = False  # asked while the order was still on its way to the venue
    durable_at: int = 0
    """The store's row count to wait for before sending (0: durable already, journalled)."""
    fill_keys: tuple[FillKey, ...] | None = None
    """This order's fills, forgotten with it (a tuple: no list object kept per order)."""


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


class OrderStateMachine:
    """Tracked orders, their open index, and every change to them, recorded and published.

    The attributes are set by :class:`~desk.execution.oms.OrderManager`'s constructor.
    """

    bus: Bus
    store: OrderStore
    venue: ExecutionClient
    clock: Clock
    portfolio: Portfolio | None
    venue_name: str
    ignored_reports: int
    _ids: ClientOrderIdFactory
    _durable: bool
    _orders: dict[str, Tracked]
    _open: dict[str, None]
    _open_by_account: dict[tuple[str, str, Side], Decimal]
    _open_by_symbol: dict[tuple[str, Side], Decimal]
    _by_venue_id: dict[str, str]
    _seen_fills: set[FillKey]
    _done: DoneOrders
    _tasks: set[asyncio.Task[None]]
    _fills: deque[Fill]
    _topics: dict[str, str]  # bot id -> its trade-updates topic
    _discard: Callable[[asyncio.Task[None]], None]  # self._tasks.discard, bound once

    # ---- the table ----

    def new_id(self) -> str:
        """A fresh client order id (for a request the caller must know the id of)."""
        return self._new_id()

    def _new_id(self) -> str:
        while True:
            client_order_id = self._ids.next()
            if client_order_id not in self._orders:
                return client_order_id

    def _register(self, tracked: Tracked) -> None:
        self._orders[tracked.order.client_order_id] = tracked
        self._order_changed(None, tracked.order)

    def _set_order(self, tracked: Tracked, new: Order) -> None:
        """Every change to a tracked order goes through here (the open index follows it)."""
        old = tracked.order
        tracked.order = new
        self._order_changed(old, new)

    def _order_changed(self, old: Order | None, new: Order) -> None:
        """Keep the open index and the open sizes per account/symbol and side exact.

        ``old`` and ``new`` are states of one order: its account, symbol and side are the same.
        """
        status = new.status
        open_now = status not in TERMINAL
        if old is None:
            open_before = False
        else:
            open_before = old.status not in TERMINAL
            if open_before and open_now and old.filled is new.filled and old.size is new.size:
                return  # still open, same open size (an acceptance): nothing to change
        if open_before or open_now:
            change = ZERO
            if open_before:
                assert old is not None
                remaining = old.size - old.filled
                if remaining > 0:
                    change = -remaining
            if open_now:
                remaining = new.size - new.filled
                if remaining > 0:
                    change += remaining
            if change:
                by_account = (new.bot_id, new.symbol, new.side)
                by_symbol = (new.symbol, new.side)
                accounts, symbols = self._open_by_account, self._open_by_symbol
                accounts[by_account] = accounts.get(by_account, ZERO) + change
                symbols[by_symbol] = symbols.get(by_symbol, ZERO) + change
        cid = new.client_order_id
        if open_now:
            self._open.setdefault(cid, None)
        else:
            self._open.pop(cid, None)
            self._done.ended(cid, new.ts_recv)

    def _prune_done(self) -> None:
        """Drop the done orders that are due (:class:`DoneOrders`) from memory; SQLite keeps
        them. Called before a new order joins the table, never while it is being iterated."""
        done = self._done
        if not len(done):
            return
        now = self.clock.now_ns()
        for cid in done.due(now):
            tracked = self._orders.get(cid)
            if tracked is None:
                done.forget(cid)
                continue
            if tracked.sending or tracked.outcome_unknown or not tracked.order.status.terminal:
                done.keep(cid, now)
                continue
            del self._orders[cid]
            self._open.pop(cid, None)
            venue_order_id = tracked.order.venue_order_id
            if venue_order_id and self._by_venue_id.get(venue_order_id) == cid:
                del self._by_venue_id[venue_order_id]
            if tracked.fill_keys:
                self._seen_fills.difference_update(tracked.fill_keys)
                if self.portfolio is not None:
                    self.portfolio.forget_fills(tracked.fill_keys)
            done.forget(cid, venue_order_id)

    def _find(self, client_order_id: str, venue_order_id: str) -> Tracked | None:
        tracked = self._orders.get(client_order_id) if client_order_id else None
        if tracked is None and venue_order_id:
            known = self._by_venue_id.get(venue_order_id)
            tracked = self._orders.get(known) if known else None
        return tracked

    # ---- sending ----

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._discard)  # one bound method for all, not one per task

    async def _send(self, tracked: Tracked, request: OrderRequest) -> None:
        tracked.sending = True
        try:
            if self._durable and tracked.durable_at:
                # Journal off: only this order's own rows; later orders' must not hold it back.
                await self.store.wait_committed(tracked.durable_at)
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

    def _cancel_deferred(self, tracked: Tracked) -> None:
        """Send a cancel that was asked for while the order was on its way."""
        if not tracked.cancel_wanted or tracked.cancel_sent or tracked.order.status.terminal:
            return
        tracked.cancel_wanted = False
        tracked.cancel_sent = True
        self._spawn(self._send_cancel(tracked), f"cancel-{tracked.order.client_order_id}")

    def _mark_unknown(self, tracked: Tracked, why: str) -> None:
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

    def _reject(self, tracked: Tracked, reason: str, *, ts_exchange: int) -> None:
        order = tracked.order
        if order.status is not OrderStatus.PENDING_NEW or order.filled:
            log.warning(
                "reject of %s (%s) ignored: %s", order.client_order_id, reason, order.status
            )
            self.ignored_reports += 1
            return
        tracked.outcome_unknown = False
        self._update(tracked, ts_exchange, status=OrderStatus.REJECTED, reason=reason)

    async def _send_cancel(self, tracked: Tracked) -> None:
        order = tracked.order
        try:
            await self.venue.cancel(order.client_order_id, order.symbol)
        except Exception as exc:
            tracked.cancel_sent = False
            if not isinstance(exc, VenueError):
                log.exception("venue cancel of %s failed", order.client_order_id)
            self._note(tracked, f"cancel failed: venue: {exc}")

    # ---- state changes ----

    def _update(self, tracked: Tracked, ts_exchange: int, **changes: object) -> None:
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
        new = msgspec.structs.replace(
            order, ts_exchange=ts_exchange, ts_recv=self.clock.now_ns(), **changes
        )
        self._changed(tracked, new)

    def _changed(self, tracked: Tracked, new: Order) -> None:
        """Make ``new`` the order's state, record and publish it: :meth:`_update` once the
        change is known to be allowed (the report path builds ``new`` itself when its status
        change is one :data:`TRANSITIONS` always allows)."""
        self._set_order(tracked, new)
        if new.status in TERMINAL:
            tracked.outcome_unknown = False
        self._emit(tracked)

    def _note(self, tracked: Tracked, reason: str) -> None:
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

    def _emit(self, tracked: Tracked, *, recorded: bool = False) -> None:
        """Record the order's new state and its history row (unless ``recorded`` already:
        ``journal_order`` queued both), and publish it."""
        order = tracked.order
        if not recorded:  # both rows at once: the history row reuses the order row's text
            self.store.record_order_state(
                order,
                reduce_only=tracked.request.reduce_only,
                notional=tracked.notional,
                updated_ns=order.ts_recv,
            )
        topic = self._topics.get(order.bot_id)
        self.bus.publish(topic or self._topic(order.bot_id), order)

    def _topic(self, bot_id: str) -> str:
        """The account's trade-updates topic, built once per account."""
        topic = self._topics.get(bot_id)
        if topic is None:
            topic = self._topics[bot_id] = topics.trade_updates(bot_id)
        return topic

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
        """The most recent orders, newest first (the views ask at 10 Hz: no full sort)."""
        if limit <= 0:
            return []
        return heapq.nlargest(
            limit,
            (t.order for t in self._orders.values()),
            key=lambda o: (o.created_ns, o.client_order_id),
        )

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
