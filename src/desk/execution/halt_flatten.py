"""Halt + flatten that stays flat when orders were still on their way at the halt.

``Halt(flatten=True)`` cancels every open order, closes every position and then blocks new
orders. An order already at the venue when the halt lands (a market order in flight) cannot be
canceled: it fills a moment later and leaves a position the flatten never saw. This keeps the
ids of the orders open at the halt; once each of them is done (or ``grace_s`` passed) the
service closes what they left, with reduce-only market orders that alone may pass the halt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from desk.core.orders import OrderRequest

GRACE_S = 10.0


class HaltFlattener:
    """The follow-up flatten of one halt (see the module docstring)."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self._waiting: set[str] = set()
        self._deadline_ns = 0
        self._allowed: set[str] = set()

    @property
    def armed(self) -> bool:
        return bool(self._waiting)

    def arm(self, open_order_ids: Iterable[str], now_ns: int) -> None:
        """Wait for these orders (open when the halt landed) before flattening again."""
        self._waiting = set(open_order_ids)
        self._deadline_ns = now_ns + int(self.grace_s * 1e9)

    def disarm(self) -> None:
        """The halt was lifted: nothing more to close, and nothing may pass the halt."""
        self._waiting.clear()
        self._allowed.clear()

    def due(self, is_open: Callable[[str], bool], now_ns: int) -> bool:
        """True once every awaited order is done (or the grace ran out): flatten now."""
        if not self._waiting:
            return False
        self._waiting = {cid for cid in self._waiting if is_open(cid)}
        if self._waiting and now_ns < self._deadline_ns:
            return False
        self._waiting.clear()
        return True

    def allow(self, client_order_id: str) -> None:
        """Let this flatten order (reduce-only) pass the halt."""
        self._allowed.add(client_order_id)

    def passes_halt(self, request: OrderRequest) -> bool:
        return request.reduce_only and request.client_order_id in self._allowed
