"""Which done orders the OMS may forget, and the ids of those it forgot (both bounded).

A long run must not grow without bound: every order ever sent would otherwise stay in the
OMS's table, with its fill keys. :class:`DoneOrders` lists the orders that reached a terminal
status, oldest end first, and says which are due to go (:meth:`DoneOrders.due`): ended more
than ``keep_minutes`` ago, or past ``max_done_orders``. The OMS drops those from its tables
(SQLite keeps them) and hands their ids back (:meth:`DoneOrders.forget`): the last
``remember_pruned`` client and venue order ids are remembered, so that a late or duplicate
report for a pruned order is known for what it is rather than taken for a report on an
order desk never sent (which blocks trading).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from desk.core.clock import NS_PER_S
from desk.execution.config import OrderHistoryConfig


class Bounded(NamedTuple):
    """One bounded structure, as the health mode shows it: ``size`` of ``cap``, and how many
    entries it let go (``pruned``) or ``late`` reports it recognised."""

    name: str
    size: int
    cap: int
    pruned: int
    late: int


class DoneOrders:
    """Done orders in the order they ended, and the bounded memory of pruned ids."""

    def __init__(self, config: OrderHistoryConfig | None = None) -> None:
        self.config = config or OrderHistoryConfig()
        self._keep_ns = int(self.config.keep_minutes * 60 * NS_PER_S)
        # Both are queues (added at one end, taken from the other): OrderedDicts, whose oldest
        # entry is found at once. A dict keeps the slots of what was taken from its front and
        # walks over them all to find its first entry: at 100k ids, tens of microseconds an order.
        self._ended: OrderedDict[str, int] = OrderedDict()  # client order id -> end ns
        self._pruned: OrderedDict[str, None] = OrderedDict()  # client and venue order ids
        self.pruned = 0
        """Orders dropped from memory so far."""
        self.late_reports = 0
        """Reports (fills among them) that arrived for an order already pruned."""

    def __len__(self) -> int:
        return len(self._ended)

    @property
    def remembered(self) -> int:
        return len(self._pruned)

    def ended(self, client_order_id: str, now_ns: int) -> None:
        """``client_order_id`` reached a terminal status (the first time counts)."""
        self._ended.setdefault(client_order_id, now_ns)

    def due(self, now_ns: int) -> list[str]:
        """The done orders to prune now, oldest first (they stay listed until forgotten)."""
        over = len(self._ended) - self.config.max_done_orders
        cutoff = now_ns - self._keep_ns
        out: list[str] = []
        if over <= 0 and next(iter(self._ended.values()), cutoff + 1) > cutoff:
            return out  # the usual answer, without a walk
        for client_order_id, ended_ns in self._ended.items():
            if len(out) >= over and ended_ns > cutoff:
                break
            out.append(client_order_id)
        return out

    def keep(self, client_order_id: str, now_ns: int) -> None:
        """Not prunable yet (e.g. a request still in flight): look again one period later."""
        self._ended.pop(client_order_id, None)
        self._ended[client_order_id] = now_ns  # to the young end

    def forget(self, client_order_id: str, venue_order_id: str = "") -> None:
        """The OMS dropped this order: remember its ids (the oldest memories go first)."""
        self._ended.pop(client_order_id, None)
        self.pruned += 1
        pruned = self._pruned
        for order_id in (client_order_id, venue_order_id):
            if order_id:
                pruned.pop(order_id, None)
                pruned[order_id] = None
        while len(pruned) > self.config.remember_pruned:
            pruned.popitem(last=False)

    def was_pruned(self, client_order_id: str, venue_order_id: str = "") -> bool:
        return bool(
            (client_order_id and client_order_id in self._pruned)
            or (venue_order_id and venue_order_id in self._pruned)
        )

    def health(self) -> list[Bounded]:
        """Done orders kept (and pruned so far); pruned ids remembered (and late reports)."""
        cfg = self.config
        return [
            Bounded("orders done", len(self._ended), cfg.max_done_orders, self.pruned, 0),
            Bounded("pruned ids", len(self._pruned), cfg.remember_pruned, 0, self.late_reports),
        ]
