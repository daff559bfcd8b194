"""The trade ids a Coinbase feed published lately, per product: its duplicate check.

A ``market_trades`` subscription starts with a snapshot of recent trades, so after a reconnect
trades already published come again (PROTOCOLS.md D.6: an LRU keyed on venue, symbol and trade
id). The feed keeps one ``RecentTradeIds`` per product (the venue and symbol are then implied)
instead of going through the desk-wide ``TradeDeduplicator``: a membership test and a store in a
plain dict, where the shared one built a key tuple, parsed the id and kept an ``OrderedDict``
in order (a quarter of the cost of a trade message, measured with bench/coinbase_feed.py).

At least ``keep`` ids are remembered (between ``keep`` and twice that, the oldest dropped in
bulk), far more than a snapshot replays. Ids are compared as the venue writes them.
"""

from __future__ import annotations

KEEP = 10_000


class RecentTradeIds:
    """The ids of one product's trades published lately (module docstring)."""

    __slots__ = ("ids", "keep")

    def __init__(self, keep: int = KEEP) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.keep = keep
        self.ids: dict[str, None] = {}  # insertion order is age order

    def __len__(self) -> int:
        return len(self.ids)

    def seen(self, trade_id: str) -> bool:
        """True if ``trade_id`` was published lately; otherwise remember it and say False."""
        ids = self.ids
        if trade_id in ids:
            return True
        ids[trade_id] = None
        if len(ids) > 2 * self.keep:
            newest = list(ids)[-self.keep :]
            ids.clear()
            ids.update(dict.fromkeys(newest))
        return False

    def clear(self) -> None:
        self.ids.clear()
