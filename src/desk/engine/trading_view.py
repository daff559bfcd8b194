"""The trading mode's view, built from the engine's execution service (in-process side).

Decimal money becomes float only here, for display; the engine keeps it exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desk.bridge.views import (
    DenialView,
    FillView,
    OrderView,
    PositionView,
    ReconciliationView,
    TradingView,
    no_trading_view,
)
from desk.core.orders import Fill, Order

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts

RECENT_ORDERS = 100
RECENT_FILLS = 100
RECENT_DENIALS = 50


def order_view(order: Order) -> OrderView:
    return OrderView(
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        symbol=order.symbol,
        side=str(order.side),
        order_type=str(order.order_type),
        price=None if order.price is None else float(order.price),
        size=float(order.size),
        filled=float(order.filled),
        avg_price=float(order.avg_price),
        status=str(order.status),
        bot_id=order.bot_id,
        reason=order.reason,
        created_ns=order.created_ns,
        updated_ns=order.ts_recv,
        venue=order.venue,
    )


def fill_view(fill: Fill) -> FillView:
    return FillView(
        ts=fill.ts_exchange or fill.ts_recv,
        client_order_id=fill.client_order_id,
        trade_id=fill.trade_id,
        symbol=fill.symbol,
        side=str(fill.side),
        price=float(fill.price),
        size=float(fill.size),
        fee=float(fill.fee),
        fee_ccy=fill.fee_ccy,
        liquidity=str(fill.liquidity),
        bot_id=fill.bot_id,
        venue=fill.venue,
    )


def build_trading_view(engine: EngineParts) -> TradingView:
    execution = engine.execution
    if execution is None:
        return no_trading_view(
            "unavailable", f"execution unavailable: {engine.execution_error or 'not started'}"
        )
    oms, portfolio, risk = execution.oms, execution.portfolio, execution.risk
    totals = portfolio.totals()
    positions = [
        PositionView(
            bot_id=p.bot_id,
            symbol=p.symbol,
            size=float(p.size),
            avg_price=float(p.avg_price),
            mark_price=float(p.mark_price),
            unrealized_pnl=float(p.unrealized_pnl),
            realized_pnl=float(p.realized_pnl),
            fees=float(p.fees),
            notional=float(p.notional),
            venue=p.venue,  # positions are kept per venue (one row each)
        )
        for p in portfolio.positions()
    ]
    denials = [
        DenialView(
            ts=d.ts_ns,
            bot_id=d.request.bot_id,
            symbol=d.request.symbol,
            side=str(d.request.side),
            size=float(d.request.size),
            price=None if d.request.price is None else float(d.request.price),
            reason=d.reason,
        )
        for d in reversed(risk.denials[-RECENT_DENIALS:])
    ]
    return TradingView(
        venue=execution.label,  # "paper" in paper mode
        open_orders=[order_view(o) for o in oms.open_orders()],
        recent_orders=[order_view(o) for o in oms.orders(RECENT_ORDERS)],
        fills=[fill_view(f) for f in oms.fills(RECENT_FILLS)],
        positions=positions,
        equity=float(portfolio.equity()),
        realized_pnl=float(totals.realized_pnl),
        unrealized_pnl=float(totals.unrealized_pnl),
        fees=float(totals.fees),
        gross_exposure=float(totals.gross_exposure),
        daily_pnl=float(totals.daily_pnl),
        risk_state=str(risk.state),
        risk_reason=risk.state_reason,
        denials=denials,
        breaker_state=str(execution.breaker.state),
        trading_blocked=oms.trading_blocked,
        reconciliation=_reconciliation(execution),
        live_confirmed=execution.live_confirmed,
    )


def _reconciliation(execution: object) -> ReconciliationView | None:
    oms = execution.oms  # type: ignore[attr-defined]
    rec = oms.last_reconciliation
    if rec is None:
        return None
    lines = [f"open here, not at the venue: {o.client_order_id}" for o in rec.missing_at_venue]
    lines += [f"open at the venue, unknown here: {o.client_order_id}" for o in rec.unknown_locally]
    lines += [
        f"{d.client_order_id}: {d.field} here {d.local} / venue {d.venue}" for d in rec.differences
    ]
    lines += [f"balance {ccy} drift {drift}" for ccy, drift in rec.balance_drift.items()]
    lines += [f"recovered: {line}" for line in rec.recovered]
    return ReconciliationView(
        ts=rec.ts, clean=rec.clean, blocking=oms.trading_blocked, differences=lines
    )
