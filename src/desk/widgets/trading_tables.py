"""The trading mode's tables (open orders, fills, positions, risk denials) and its summary line.

Each is drawn from one ``TradingView`` and only when its version changed; the tables are
``FitTable``s, so an 80-column terminal keeps the essential columns and a wide one shows all.
Colours are component classes styled from theme variables ($bid, $ask, $pnl-up, $pnl-down).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from desk.bridge.views import (
    DenialView,
    FillView,
    OrderView,
    PositionView,
    TradingView,
)
from desk.widgets.consolidated_rows import venue_tag
from desk.widgets.formatting import fmt_price, fmt_size, utc_hms
from desk.widgets.keyed_table import Column, FitTable
from desk.widgets.ticket_rules import TYPE_LABELS

Decimals = Mapping[str, int]

TABLE_CSS_CLASSES: set[str] = {
    "trading--buy",
    "trading--sell",
    "trading--up",
    "trading--down",
    "trading--muted",
}

TABLE_CSS = """
{name} > .trading--buy {{ color: $bid; }}
{name} > .trading--sell {{ color: $ask; }}
{name} > .trading--up {{ color: $pnl-up; }}
{name} > .trading--down {{ color: $pnl-down; }}
{name} > .trading--muted {{ color: $text-muted; }}
"""


def fmt_money(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


class TradingTable(FitTable):
    """A FitTable that colours sides and PnL from the theme, redrawn on a new view version."""

    COMPONENT_CLASSES: ClassVar[set[str]] = TABLE_CSS_CLASSES

    def __init__(self, *, id: str | None = None, cursor: bool = False) -> None:
        super().__init__(id=id, cursor=cursor)
        self.drawn_version: int | None = None
        self._tones: dict[str, Style] = {}

    def tone(self, text: str, kind: str) -> Text:
        style = self._tones.get(kind)
        if style is None:
            style = self._tones[kind] = self.get_component_rich_style(
                f"trading--{kind}", partial=True
            )
        return Text(text, style=style)

    def side(self, side: str) -> Text:
        return self.tone(side.upper(), "buy" if side.lower() == "buy" else "sell")

    def pnl(self, value: float) -> Text:
        kind = "up" if value > 0 else "down" if value < 0 else "muted"
        return self.tone(fmt_money(value, signed=True), kind)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._tones.clear()
        self.drawn_version = None  # the next view redraws in the new colours

    def fresh(self, view: TradingView) -> bool:
        """Whether ``view`` is newer than what is drawn (and note it as drawn)."""
        if view.version == self.drawn_version:
            return False
        self.drawn_version = view.version
        return True


def _price(price: float | None, symbol: str, decimals: Decimals) -> str:
    if price is None:
        return "market"
    return fmt_price(price, decimals.get(symbol, 2))


class OpenOrdersTable(TradingTable, can_focus=True):
    """Working orders, newest first; the cursor row is what ``c`` cancels."""

    DEFAULT_CSS = TABLE_CSS.format(name="OpenOrdersTable")
    ALL_COLUMNS = (
        Column("time", "time", 8, drop=5),
        Column("id", "id", 12, drop=7),
        Column("symbol", "symbol", 9, drop=1),
        Column("side", "side", 4),
        Column("type", "type", 9, drop=3),
        Column("price", "price", 10, right=True),
        Column("size", "size", 8, right=True),
        Column("filled", "filled", 8, right=True, drop=4),
        Column("status", "status", 8, drop=6),
        Column("account", "account", 8, drop=2),
        Column("venue", "venue", 5, drop=2),  # last: account goes first, then venue, then symbol
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor=True)
        self.orders: dict[str, OrderView] = {}

    def show_orders(self, view: TradingView, decimals: Decimals) -> None:
        if not self.fresh(view):
            return
        orders = sorted(view.open_orders, key=lambda o: o.created_ns, reverse=True)
        self.orders = {order.client_order_id: order for order in orders}
        self.show_records(
            {order.client_order_id: self._record(order, decimals) for order in orders}
        )

    def _record(self, order: OrderView, decimals: Decimals) -> dict[str, str | Text]:
        return {
            "time": utc_hms(order.created_ns),
            "id": order.client_order_id[-12:],
            "symbol": order.symbol,
            "venue": _venue(order.venue),
            "side": self.side(order.side),
            "type": TYPE_LABELS.get(order.order_type, order.order_type),  # type: ignore[call-overload]
            "price": _price(order.price, order.symbol, decimals),
            "size": fmt_size(order.size),
            "filled": fmt_size(order.filled),
            "status": order.status.replace("partially_filled", "partial"),
            "account": order.bot_id,
        }

    def selected_order(self) -> OrderView | None:
        key = self.selected_key()
        return self.orders.get(key) if key is not None else None


class FillsTable(TradingTable):
    """Recent fills, newest first."""

    DEFAULT_CSS = TABLE_CSS.format(name="FillsTable")
    ORDERED = True
    ALL_COLUMNS = (
        Column("time", "time", 8),
        Column("symbol", "symbol", 9, drop=2),
        Column("side", "side", 4),
        Column("price", "price", 10, right=True),
        Column("size", "size", 8, right=True),
        Column("fee", "fee", 8, right=True, drop=3),
        Column("liq", "liq", 5, drop=4),
        Column("account", "account", 8, drop=1),
        Column("venue", "venue", 5, drop=3),  # goes after fee and liquidity, before symbol
    )

    def show_fills(self, view: TradingView, decimals: Decimals, limit: int = 50) -> None:
        if not self.fresh(view):
            return
        fills = sorted(view.fills, key=lambda f: f.ts, reverse=True)[:limit]
        self.show_records({_fill_key(fill): self._record(fill, decimals) for fill in fills})

    def _record(self, fill: FillView, decimals: Decimals) -> dict[str, str | Text]:
        return {
            "time": utc_hms(fill.ts),
            "symbol": fill.symbol,
            "venue": _venue(fill.venue),
            "side": self.side(fill.side),
            "price": fmt_price(fill.price, decimals.get(fill.symbol, 2)),
            "size": fmt_size(fill.size),
            "fee": fmt_fee(fill.fee),
            "liq": fill.liquidity[:5],
            "account": fill.bot_id,
        }


def fmt_fee(fee: float) -> str:
    """A fee in at most 8 characters: a buyer's fee in the base currency is tiny (8.53e-6 BTC),
    and ``.4g`` would print ``8.531e-06``, which the column cuts to a wrong number."""
    text = f"{fee:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{float(mantissa):.3g}e{int(exponent)}"
    return text


def _venue(venue: str) -> str:
    """A venue as its tag; "·" where a view names none (an engine older than venues)."""
    return venue_tag(venue) if venue else "·"


def _position_order(p: PositionView) -> tuple[str, str, bool, str]:
    """By account and symbol, then OKX's row first and the other venues' by name."""
    return (p.bot_id, p.symbol, p.venue != "okx", p.venue)


def _fill_key(fill: FillView) -> str:
    return f"{fill.trade_id}/{fill.client_order_id}"


class PositionsTable(TradingTable):
    """Every account's position per symbol, marked to market, PnL in the PnL colours."""

    DEFAULT_CSS = TABLE_CSS.format(name="PositionsTable")
    ALL_COLUMNS = (
        Column("account", "account", 8),
        Column("symbol", "symbol", 9),
        Column("size", "size", 8, right=True),
        Column("avg", "avg", 10, right=True, drop=3),
        Column("mark", "mark", 10, right=True, drop=4),
        Column("upnl", "uPnL", 10, right=True),
        Column("rpnl", "rPnL", 10, right=True, drop=1),
        Column("fees", "fees", 8, right=True, drop=5),
        # kept past fees, mark and avg: one account's positions in a symbol on two venues are
        # two rows, which only this column tells apart
        Column("venue", "venue", 5, drop=2),
    )

    def show_positions(self, view: TradingView, decimals: Decimals) -> None:
        if not self.fresh(view):
            return
        positions = sorted(view.positions, key=_position_order)
        self.show_records(
            {f"{p.bot_id}/{p.symbol}/{p.venue}": self._record(p, decimals) for p in positions}
        )

    def _record(self, position: PositionView, decimals: Decimals) -> dict[str, str | Text]:
        places = decimals.get(position.symbol, 2)
        size = position.size
        return {
            "account": position.bot_id,
            "symbol": position.symbol,
            "venue": _venue(position.venue),
            "size": self.tone(
                fmt_size(size), "buy" if size > 0 else "sell" if size < 0 else "muted"
            ),
            "avg": fmt_price(position.avg_price, places),
            "mark": fmt_price(position.mark_price, places),
            "upnl": self.pnl(position.unrealized_pnl),
            "rpnl": self.pnl(position.realized_pnl),
            "fees": fmt_money(position.fees),
        }


class DenialsTable(TradingTable):
    """Orders risk refused lately, and why."""

    DEFAULT_CSS = TABLE_CSS.format(name="DenialsTable")
    ORDERED = True
    ALL_COLUMNS = (
        Column("time", "time", 8),
        Column("account", "account", 8, drop=2),
        Column("order", "order", 22, drop=1),
        Column("reason", "reason", 40),
    )

    def show_denials(self, view: TradingView, decimals: Decimals, limit: int = 50) -> None:
        if not self.fresh(view):
            return
        denials = sorted(view.denials, key=lambda d: d.ts, reverse=True)[:limit]
        self.show_records({f"{d.ts}/{i}": self._record(d, decimals) for i, d in enumerate(denials)})

    def _record(self, denial: DenialView, decimals: Decimals) -> dict[str, str | Text]:
        price = _price(denial.price, denial.symbol, decimals)
        order = f"{denial.side.upper()} {fmt_size(denial.size)} {denial.symbol} @ {price}"
        return {
            "time": utc_hms(denial.ts),
            "account": denial.bot_id,
            "order": order,
            "reason": self.tone(denial.reason, "down"),
        }


class TradingSummary(Static):
    """One line: risk state badge, breaker, equity, PnL, fees, exposure, daily PnL, venue.

    The parts are joined in order of importance until the line is full, so at 80 columns the
    risk state and the money come first and the venue drops off.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "summary--active",
        "summary--reducing",
        "summary--halted",
        "summary--up",
        "summary--down",
        "summary--label",
        "summary--warning",
    }
    DEFAULT_CSS = """
    TradingSummary { height: 1; background: $surface; }
    TradingSummary > .summary--active {
        background: $success; color: $background; text-style: bold;
    }
    TradingSummary > .summary--reducing {
        background: $warning; color: $background; text-style: bold;
    }
    TradingSummary > .summary--halted {
        background: $error; color: $live-text; text-style: bold;
    }
    TradingSummary > .summary--up { color: $pnl-up; }
    TradingSummary > .summary--down { color: $pnl-down; }
    TradingSummary > .summary--label { color: $text-muted; }
    TradingSummary > .summary--warning { color: $warning; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.view: TradingView | None = None
        self._width = -1

    def show_view(self, view: TradingView) -> None:
        width = self.size.width or 80
        if self.view is not None and view.version == self.view.version and width == self._width:
            return
        self.view, self._width = view, width
        self.update(self._line(view, width))

    def on_resize(self) -> None:
        if self.view is not None:
            self._width = -1
            self.show_view(self.view)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.view is not None:
            self._width = -1
            self.call_later(lambda: self.view is not None and self.show_view(self.view))

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"summary--{name}", partial=True)

    def _money(self, label: str, value: float, signed: bool = True) -> Text:
        text = Text(f"{label} ", style=self._style("label"))
        kind = "up" if value > 0 else "down" if value < 0 else "label"
        text.append(fmt_money(value, signed=signed), style=self._style(kind) if signed else "")
        return text

    def _line(self, view: TradingView, width: int) -> Text:
        state = view.risk_state.upper()
        badge = Text(f" {state} ", style=self._style(state.lower()) if state else "")
        parts: list[Text] = [badge]
        if view.risk_reason and state != "ACTIVE":
            parts.append(Text(view.risk_reason, style=self._style("warning")))
        breaker = view.breaker_state or "closed"
        parts.append(
            Text(
                f"breaker {breaker}",
                style=self._style("label" if breaker == "closed" else "warning"),
            )
        )
        if view.trading_blocked and state == "ACTIVE":
            parts.append(Text("orders blocked", style=self._style("warning")))
        parts.append(self._money("equity", view.equity, signed=False))
        parts.append(self._money("day", view.daily_pnl))
        parts.append(self._money("uPnL", view.unrealized_pnl))
        parts.append(self._money("rPnL", view.realized_pnl))
        parts.append(self._money("exposure", view.gross_exposure, signed=False))
        parts.append(self._money("fees", view.fees, signed=False))
        parts.append(Text(f"venue {view.venue}", style=self._style("label")))
        line = Text(" ")
        for index, part in enumerate(parts):
            sep = "" if index == 0 else "  "
            if index and line.cell_len + len(sep) + part.cell_len > width:
                break
            line.append(sep)
            line.append_text(part)
        return line
