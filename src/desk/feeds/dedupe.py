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


class _Recent:
    """One symbol's ids in the order first seen, and the same as a set for the membership test.

    An int id costs about 130 bytes here (set slot, deque slot, the int), 0.65 MiB a symbol at
    ``KEEP``; the earlier ``OrderedDict`` of ``(venue, symbol, id)`` tuples cost about 190, up
    to 19 MiB for one bound over every symbol, which took an hour or more to fill under a
    full-speed feed: the process grew all that time (bench/desk_soak.py).
    """

    __slots__ = ("ids", "order")

    def __init__(self) -> None:
        self.ids: set[int | str] = set()
        self.order: deque[int | str] = deque()

    def add(self, key: int | str, maxsize: int) -> None:
        self.ids.add(key)
        self.order.append(key)
        if len(self.order) > maxsize:
            self.ids.discard(self.order.popleft())


class TradeDeduplicator:
    """Remembers the last ``maxsize`` trade ids of each venue and symbol and says whether a
    trade was seen before."""

    def __init__(self, maxsize: int = KEEP) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._symbols: dict[tuple[str, str], _Recent] = {}

    def __len__(self) -> int:
        return sum(len(recent.ids) for recent in self._symbols.values())

    def is_duplicate(self, venue: str, symbol: str, trade_id: str, count: int = 1) -> bool:
        """True if ``trade_id`` was seen before; otherwise remember the ids it covers.

        ``count`` > 1 (OKX aggregated trade) also remembers the ``count - 1`` ids below it.
        """
        recent = self._symbols.get((venue, symbol))
        if recent is None:
            recent = self._symbols[(venue, symbol)] = _Recent()
        key: int | str = int(trade_id) if trade_id.isdigit() and trade_id.isascii() else trade_id
        if key in recent.ids:
            return True
        maxsize = self.maxsize
        if count > 1 and isinstance(key, int):
            for covered in range(key - min(count, MAX_COVERED_IDS) + 1, key):
                if covered not in recent.ids:
                    recent.add(covered, maxsize)
        recent.add(key, maxsize)
        return False

    def clear(self) -> None:
        self._symbols.clear()
