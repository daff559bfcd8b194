"""``/ws/portfolio/{bot_id}`` and ``/ws/portfolio/all``: positions, open orders, fills and PnL.

Read from the trading view every ``1/status_hz`` seconds; a message goes out when what the
scope shows changed, carrying the fills that appeared since the previous one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from desk.bridge.views import FillView, OrderView, PositionView, TradingView
from desk.gateway.clients import PollingStream
from desk.gateway.messages import FillItem, OrderItem, Pnl, Portfolio, PositionItem, encode
from desk.gateway.source import DeskViews

ALL = "all"


class PortfolioStream(PollingStream):
    """One account's portfolio (a bot id, "manual"), or the whole desk's (:data:`ALL`)."""

    route = "/ws/portfolio/{bot_id}"

    def __init__(self, scope: str, interval: float, views: DeskViews) -> None:
        super().__init__(interval)
        self.scope = scope
        if scope == ALL:
            self.route = "/ws/portfolio/all"
        self._views = views
        self._version = -1
        self._last: Portfolio | None = None
        self._fills_seen: set[tuple[str, str]] = set()

    def _mine(self, bot_id: str) -> bool:
        return self.scope == ALL or bot_id == self.scope

    def open(self) -> None:
        view = self._views.trading()
        self._fills_seen = {_fill_key(f) for f in view.fills}
        self._version = view.version
        self._last = self._build(view, [])
        super().open()

    def poll(self) -> Iterable[bytes]:
        view = self._views.trading()
        if view.version == self._version:
            return ()
        self._version = view.version
        keys = {_fill_key(f) for f in view.fills}
        new = [f for f in view.fills if _fill_key(f) not in self._fills_seen]
        self._fills_seen = keys
        message = self._build(view, [f for f in new if self._mine(f.bot_id)])
        last = self._last
        self._last = message
        if last is not None and not message.fills and _same(message, last):
            return ()
        return (encode(message),)

    def snapshot(self) -> Iterable[bytes]:
        """A new client's first message: the scope now, with its recent fills."""
        view = self._views.trading()
        return (encode(self._build(view, [f for f in view.fills if self._mine(f.bot_id)])),)

    def _build(self, view: TradingView, fills: list[FillView]) -> Portfolio:
        positions = [_position(p) for p in view.positions if self._mine(p.bot_id)]
        fills = sorted(fills, key=lambda f: f.ts)
        if self.scope == ALL:
            pnl = Pnl(
                realized=view.realized_pnl,
                unrealized=view.unrealized_pnl,
                fees=view.fees,
                net=view.realized_pnl + view.unrealized_pnl - view.fees,
                gross_exposure=view.gross_exposure,
                daily=view.daily_pnl,
                equity=view.equity,
            )
        else:
            realized = sum(p.realized_pnl for p in positions)
            unrealized = sum(p.unrealized_pnl for p in positions)
            fees = sum(p.fees for p in positions)
            pnl = Pnl(
                realized=realized,
                unrealized=unrealized,
                fees=fees,
                net=realized + unrealized - fees,
                gross_exposure=sum(abs(p.notional) for p in positions),
            )
        return Portfolio(
            ts=time.time_ns(),
            scope=self.scope,
            positions=positions,
            open_orders=[_order(o) for o in view.open_orders if self._mine(o.bot_id)],
            fills=[_fill(f) for f in fills],
            pnl=pnl,
            risk_state=view.risk_state,
            trading_blocked=view.trading_blocked,
        )


def _same(a: Portfolio, b: Portfolio) -> bool:
    """Equal but for the time and the fills."""
    return (a.positions, a.open_orders, a.pnl, a.risk_state, a.trading_blocked) == (
        b.positions,
        b.open_orders,
        b.pnl,
        b.risk_state,
        b.trading_blocked,
    )


def _fill_key(fill: FillView) -> tuple[str, str]:
    return fill.client_order_id, fill.trade_id


def _position(p: PositionView) -> PositionItem:
    return PositionItem(
        bot_id=p.bot_id,
        symbol=p.symbol,
        size=p.size,
        avg_price=p.avg_price,
        mark_price=p.mark_price,
        unrealized_pnl=p.unrealized_pnl,
        realized_pnl=p.realized_pnl,
        fees=p.fees,
        notional=p.notional,
    )


def _order(o: OrderView) -> OrderItem:
    return OrderItem(
        client_order_id=o.client_order_id,
        bot_id=o.bot_id,
        symbol=o.symbol,
        side=o.side,
        order_type=o.order_type,
        price=o.price,
        size=o.size,
        filled=o.filled,
        avg_price=o.avg_price,
        status=o.status,
        reason=o.reason,
        created_ns=o.created_ns,
        updated_ns=o.updated_ns,
    )


def _fill(f: FillView) -> FillItem:
    return FillItem(
        ts=f.ts,
        client_order_id=f.client_order_id,
        trade_id=f.trade_id,
        bot_id=f.bot_id,
        symbol=f.symbol,
        side=f.side,
        price=f.price,
        size=f.size,
        fee=f.fee,
        fee_ccy=f.fee_ccy,
        liquidity=f.liquidity,
    )
