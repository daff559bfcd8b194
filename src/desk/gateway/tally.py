"""Counts of order flow the engine keeps no running total of: fills, rejects, risk denials.

Subscribed synchronously to ``trade_updates:*`` (orders and fills, not market data: a few
events per order, never the tick path). Each Fill is published once, after the OMS dropped
duplicates; each REJECTED order once (it is terminal). Reasons are folded to a small set of
labels (:func:`reject_reason`, :func:`denial_reason`), so a free-text reason can never blow up
the number of Prometheus series.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from desk.core import topics
from desk.core.bus import Bus
from desk.core.orders import Fill, Order, OrderStatus

REJECT_KINDS = ("risk", "invalid", "blocked", "venue")
"""The OMS prefixes every reject reason with one of these (execution/oms.py, reports.py)."""
_LABEL = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"[a-z]+")
MAX_LABEL = 40


class TradeTally:
    """Fills by (symbol, side), rejects by kind, risk denials by rule, since it was made."""

    def __init__(self, bus: Bus) -> None:
        self.fills: Counter[tuple[str, str]] = Counter()
        self.rejects: Counter[str] = Counter()
        self.denials: Counter[str] = Counter()
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(
            topics.trade_updates("*"), self.on_update
        )

    def on_update(self, event: Any) -> None:
        kind = type(event)
        if kind is Fill:
            self.fills[(event.symbol, str(event.side))] += 1
        elif kind is Order and event.status is OrderStatus.REJECTED:
            self.rejects[reject_reason(event.reason)] += 1
            if event.reason.startswith("risk:"):
                self.denials[denial_reason(event.reason)] += 1

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def reject_reason(reason: str) -> str:
    """``risk: max order notional: ...`` -> ``risk``, ``venue 51008: ...`` -> ``venue``;
    anything unexpected -> ``other``."""
    head = _WORD.match(reason.lower())
    return head.group(0) if head and head.group(0) in REJECT_KINDS else "other"


def denial_reason(reason: str) -> str:
    """The risk rule of a ``risk: <rule>: detail`` reason as a label (``max_order_notional``)."""
    rule = reason.partition(":")[2].partition(":")[0]
    label = _LABEL.sub("_", rule.strip().lower()).strip("_")
    return label[:MAX_LABEL] or "other"
