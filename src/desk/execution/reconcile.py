"""Reconciliation with the venue: compare, catch up with what was missed, accept its view.

Until a reconciliation with the venue is clean or accepted, trading is blocked for bots
(:attr:`Reconciler.trading_blocked`). :meth:`Reconciler.reconcile` first catches up with what
happened at the venue while desk was down (missed fills, cancels, orders it never received),
then compares open orders and balances; :meth:`Reconciler.accept_reconciliation` adopts the
venue's view of the differences.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import msgspec

from desk.core.enums import Side
from desk.core.orders import MANUAL_ACCOUNT, Liquidity, Order, OrderStatus
from desk.execution.order_state import AVG, EXACT, ZERO, Tracked, request_of
from desk.execution.reports import ReportHandler
from desk.execution.venue import FillReport, OrderAccepted, OrderCanceled, VenueOrder

log = logging.getLogger("desk.execution.oms")


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


class Reconciler(ReportHandler):
    """Reconciliation with the venue on top of the order table and its reports."""

    _reconciled: bool
    _last_reconciliation: Reconciliation | None
    _balance_offsets: dict[str, Decimal] | None

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

    def _catch_up(self, tracked: Tracked, vo: VenueOrder) -> list[str]:
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
            price = AVG.divide(
                EXACT.subtract(EXACT.multiply(vo.avg_price, vo.filled), here), missing
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
        tracked = Tracked(order, request_of(order), notional=EXACT.multiply(avg, vo.filled))
        self._register(tracked)
        if vo.venue_order_id:
            self._by_venue_id[vo.venue_order_id] = client_order_id
        self._emit(tracked)

    def _take_venue_values(self, tracked: Tracked, vo: VenueOrder) -> None:
        order = tracked.order
        if vo.filled != order.filled and vo.filled:
            # Keep the notional consistent with the adopted filled size at the known average.
            avg = order.avg_price or vo.price or ZERO
            tracked.notional = EXACT.multiply(avg, vo.filled)
        tracked.outcome_unknown = False
        new = msgspec.structs.replace(
            order,
            ts_exchange=0,
            ts_recv=self.clock.now_ns(),
            size=vo.size,
            filled=vo.filled,
            status=vo.status,
            venue_order_id=vo.venue_order_id or order.venue_order_id,
            reason="reconcile: venue's view adopted",
        )
        self._set_order(tracked, new)
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
