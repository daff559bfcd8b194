"""Trade de-duplication across reconnects (PROTOCOLS.md D.6).

A fresh subscription may replay trades already seen on the previous connection, so every trade
is checked against the last ``KEEP`` ids seen of its venue and symbol (oldest forgotten first).

OKX aggregates the fills of one taker order: ``{"tradeId":"130639474","count":"3",...}`` covers
ids 130639472..130639474. The whole covered range is remembered, so a later message naming any
id inside it (a replay, or the same trade from ``trades-all``) is a duplicate. Ids are decimal
strings of integers; a non-numeric id is matched exactly.
"""

from __future__ import annotations

from collections import deque

#: At most this many ids of one aggregated trade are remembered (a guard against absurd counts).
MAX_COVERED_IDS = 1024
KEEP = 5_000
"""Ids remembered per venue and symbol: far more than a resubscription replays, and reached in
minutes at a busy symbol's pace, so the memory it takes is flat from then on."""


class RecentTrades:
    """One venue and symbol's ids in the order first seen, and the same as a set for the
    membership test.

    An int id costs about 130 bytes here (set slot, deque slot, the int), 0.65 MiB a symbol at
    ``KEEP``; the earlier ``OrderedDict`` of ``(venue, symbol, id)`` tuples cost about 190, up
    to 19 MiB for one bound over every symbol, which took an hour or more to fill under a
    full-speed feed: the process grew all that time (bench/desk_soak.py).

    A feed's hot path holds its symbols' ``seen`` (``TradeDeduplicator.recent``): one call
    per trade, without building and hashing a ``(venue, symbol)`` key each time.
    """

    __slots__ = ("ids", "maxsize", "order")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.ids: set[int | str] = set()
        self.order: deque[int | str] = deque()

    def add(self, key: int | str) -> None:
        self.ids.add(key)
        order = self.order
        order.append(key)
        if len(order) > self.maxsize:
            self.ids.discard(order.popleft())

    def seen(self, trade_id: str, count: int = 1) -> bool:
        """True if ``trade_id`` was seen before; otherwise remember the ids it covers.

        ``count`` > 1 (OKX aggregated trade) also remembers the ``count - 1`` ids below it.
        """
        key: int | str = int(trade_id) if trade_id.isdigit() and trade_id.isascii() else trade_id
        ids = self.ids
        if key in ids:
            return True
        if count > 1 and isinstance(key, int):
            for covered in range(key - min(count, MAX_COVERED_IDS) + 1, key):
                if covered not in ids:
                    self.add(covered)
        ids.add(key)  # self.add(key), inline: this is every new trade's path
        order = self.order
        order.append(key)
        if len(order) > self.maxsize:
            ids.discard(order.popleft())
        return False

    def clear(self) -> None:
        self.ids.clear()
        self.order.clear()


class TradeDeduplicator:
    """Remembers the last ``maxsize`` trade ids of each venue and symbol and says whether a
    trade was seen before."""

    def __init__(self, maxsize: int = KEEP) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._symbols: dict[tuple[str, str], RecentTrades] = {}

    def __len__(self) -> int:
        return sum(len(recent.ids) for recent in self._symbols.values())

    def recent(self, venue: str, symbol: str) -> RecentTrades:
        """The ids of ``venue`` and ``symbol``: the same object for the deduplicator's life
        (``clear`` empties it in place), so a feed may keep it, or its ``seen``."""
        recent = self._symbols.get((venue, symbol))
        if recent is None:
            recent = self._symbols[(venue, symbol)] = RecentTrades(self.maxsize)
        return recent

    def is_duplicate(self, venue: str, symbol: str, trade_id: str, count: int = 1) -> bool:
        """True if ``trade_id`` was seen before; otherwise remember the ids it covers.

        ``count`` > 1 (OKX aggregated trade) also remembers the ``count - 1`` ids below it.
        """
        return self.recent(venue, symbol).seen(trade_id, count)

    def clear(self) -> None:
        for recent in self._symbols.values():
            recent.clear()
