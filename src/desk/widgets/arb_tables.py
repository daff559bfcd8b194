"""An arbitrage bot's books in the bot detail: its legs and fills, its positions and PnL.

Reads ``BotDetailView.arbitrage`` (the seeker's
:class:`~desk.signals.arbitrage_ledger.ArbSnapshot` as plain data: Decimals as strings). The
summary line gives each venue's position, the hedged (net) position, cash, fees and PnL; the
table lists the recent rounds' legs, newest first, with what each filled and at what price.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from desk.widgets.bot_tables import MarkedTable
from desk.widgets.keyed_table import Cell, Column


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _signed(value: Any) -> str:
    number = _dec(value)
    return f"{number:+f}" if number else "0"


def arb_summary(arb: Mapping[str, Any]) -> str:
    """``okx +0.5 · binance -0.5 · net 0 · cash +0.3995 · fees 0.1005 · pnl +0.3995 · ...``."""
    positions = " · ".join(f"{v} {_signed(p)}" for v, p in arb.get("positions", {}).items())
    parts = [
        positions or "no position",
        f"hedged {_signed(arb.get('net_position', 0))}",
        f"pnl {_signed(arb.get('pnl', 0))} (cash {_signed(arb.get('cash', 0))}, "
        f"fees {_dec(arb.get('fees', 0)):f})",
        f"rounds {arb.get('rounds', 0)}: {arb.get('hedged', 0)} hedged, "
        f"{arb.get('one_legged', 0)} one-legged",
    ]
    flagged = arb.get("flagged") or ""
    if flagged:
        parts.append(f"FLAGGED: {flagged}")
    return " " + " · ".join(parts)


class ArbLegsTable(MarkedTable, can_focus=False):
    """One row per leg of the recent rounds, newest first; keyed by client order id."""

    ORDERED = True
    DEFAULT_CSS: ClassVar[str] = "ArbLegsTable { height: 8; border-top: solid $panel; }"
    ALL_COLUMNS = (
        Column("round", "#", 4, right=True),
        Column("role", "leg", 6),
        Column("venue", "venue", 9),
        Column("side", "side", 4),
        Column("size", "size", 10, right=True, drop=2),
        Column("filled", "filled", 10, right=True),
        Column("price", "avg price", 12, right=True),
        Column("fee", "fee", 10, right=True, drop=1),
        Column("status", "status", 16),
        Column("reason", "reason", 30, drop=3),
    )

    def show_legs(self, arb: Mapping[str, Any]) -> None:
        legs = arb.get("legs", [])
        self.show_records({leg["client_order_id"]: self._record(leg) for leg in legs})

    def _record(self, leg: Mapping[str, Any]) -> Mapping[str, Cell]:
        filled = _dec(leg.get("filled", 0))
        status = str(leg.get("status", ""))
        mark = "failed" if status == "rejected" or (status != "filled" and not filled) else ""
        return {
            "round": str(leg.get("round_no", "")),
            "role": leg.get("role", ""),
            "venue": leg.get("venue", ""),
            "side": self.mark(
                str(leg.get("side", "")), "long" if leg.get("side") == "buy" else "short"
            ),
            "size": f"{_dec(leg.get('size', 0)):f}",
            "filled": f"{filled:f}" if filled else "·",
            "price": f"{_dec(leg.get('avg_price', 0)):f}" if filled else "·",
            "fee": f"{_dec(leg.get('fee', 0)):f}" if filled else "·",
            "status": self.mark(status, mark),
            "reason": str(leg.get("reason", "")),
        }
