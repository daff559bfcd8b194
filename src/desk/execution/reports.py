"""Venue reports applied to the OMS's orders: the venue's verdict on each order.

Reports may be duplicated or out of order. Transitions (a terminal status never changes; see
:data:`~desk.execution.order_state.TRANSITIONS` for the table):

* OrderAccepted: PENDING_NEW -> LIVE; anywhere else only fills in a missing venue order id.
* FillReport: applied exactly once per (venue, client_order_id, trade_id), also across restarts.
  An open order becomes PARTIALLY_FILLED or FILLED (even from PENDING_NEW: a fill may beat the
  acceptance). A fill for a terminal order (a cancel that crossed a fill) still counts: filled,
  avg price, fee and the portfolio change, the status does not.
* OrderCanceled: an open order -> CANCELED (or EXPIRED); late on a FILLED order it is ignored.
* OrderRejected: PENDING_NEW (nothing filled) -> REJECTED; a "duplicate clOrdId" refusal means
  the order is already at the venue and keeps it PENDING_NEW, marked for reconciliation.
* CancelRejected: no change; recorded in the order's history.
"""

from __future__ import annotations

import logging

from msgspec.structs import replace

from desk.core.orders import Fill, OrderStatus
from desk.execution.order_state import (
    AVG,
    EXACT,
    PENDING_NEW,
    TERMINAL,
    OrderStateMachine,
    Tracked,
    is_duplicate_id_refusal,
)
from desk.execution.portfolio import FillKey, fill_key
from desk.execution.venue import (
    CancelRejected,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueReport,
)

log = logging.getLogger("desk.execution.oms")

# Module constants for the report path (an enum member lookup is ~100 ns on CPython 3.11).
LIVE = OrderStatus.LIVE
FILLED = OrderStatus.FILLED
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED


class ReportHandler(OrderStateMachine):
    """Applies each venue report to its order, and each fill exactly once."""

    unknown_reports: int
    duplicate_fills: int
    _unexplained: bool
    _seen_fills: set[FillKey]

    def on_report(self, report: VenueReport) -> None:
        """Apply one report from the venue (the handler installed on the venue client)."""
        client_order_id = report.client_order_id
        tracked = self._orders.get(client_order_id) if client_order_id else None
        if tracked is None:
            venue_order_id = getattr(report, "venue_order_id", "")
            tracked = self._find(client_order_id, venue_order_id)
        if tracked is None:
            if self._done.was_pruned(report.client_order_id, venue_order_id):
                # Done long ago and dropped from memory (SQLite has it): late or duplicate.
                self._done.late_reports += 1
                log.warning(
                    "late %s for done order %s (pruned from memory) ignored",
                    type(report).__name__,
                    report.client_order_id or venue_order_id,
                )
                return
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

    def _on_accepted(self, tracked: Tracked, report: OrderAccepted) -> None:
        order = tracked.order
        tracked.outcome_unknown = False
        venue_order_id = report.venue_order_id
        new_id = bool(venue_order_id) and order.venue_order_id != venue_order_id
        if new_id:
            self._by_venue_id[venue_order_id] = order.client_order_id
        if order.status is PENDING_NEW:  # -> LIVE, always allowed: no _update needed
            now = self.clock.now_ns()
            if new_id:
                new = replace(
                    order, ts_exchange=report.ts, ts_recv=now, status=LIVE,
                    venue_order_id=venue_order_id,
                )  # fmt: skip
            else:
                new = replace(order, ts_exchange=report.ts, ts_recv=now, status=LIVE)
            self._changed(tracked, new)
        elif new_id:
            self._update(tracked, report.ts, venue_order_id=venue_order_id)
        self._cancel_deferred(tracked)

    def _on_rejected(self, tracked: Tracked, report: OrderRejected) -> None:
        if is_duplicate_id_refusal(report.reason):
            self._mark_unknown(tracked, f"already at the venue: {report.reason}")
            return
        tracked.outcome_unknown = False
        reason = report.reason if report.reason.startswith("venue") else f"venue: {report.reason}"
        self._reject(tracked, reason, ts_exchange=report.ts)

    def _on_canceled(self, tracked: Tracked, report: OrderCanceled) -> None:
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

    def _on_fill(self, tracked: Tracked, report: FillReport) -> None:
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
        tracked.fill_keys = (*(tracked.fill_keys or ()), key)
        tracked.outcome_unknown = False
        filled = EXACT.add(order.filled, report.size)
        tracked.notional = EXACT.add(tracked.notional, EXACT.multiply(report.price, report.size))
        changes: dict[str, object] = {
            "filled": filled,
            "avg_price": AVG.divide(tracked.notional, filled),
        }
        if report.fee:
            if not order.fee_ccy or order.fee_ccy == report.fee_ccy:
                changes["fee"] = EXACT.add(order.fee, report.fee)
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
        if order.status not in TERMINAL:  # open -> (partially) filled: always allowed
            changes["status"] = FILLED if filled >= order.size else PARTIALLY_FILLED
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
            self.portfolio.apply(fill)
        self._fills.append(fill)
        self.store.record_fill(fill)
        self.bus.publish(self._topic(order.bot_id), fill)
        now = self.clock.now_ns()
        self._changed(tracked, replace(order, ts_exchange=report.ts, ts_recv=now, **changes))
