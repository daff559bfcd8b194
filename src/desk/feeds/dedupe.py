"""Trade de-duplication across reconnects (PROTOCOLS.md D.6).

A fresh subscription may replay trades already seen on the previous connection, so every trade
is checked against a bounded LRU keyed by ``(venue, symbol, trade id)``.

OKX aggregates the fills of one taker order: ``{"tradeId":"130639474","count":"3",...}`` covers
ids 130639472..130639474. The whole covered range is remembered, so a later message naming any
id inside it (a replay, or the same trade from ``trades-all``) is a duplicate. Ids are decimal
strings of integers; a non-numeric id is matched exactly.
"""

from __future__ import annotations

from collections import OrderedDict

#: At most this many ids of one aggregated trade are remembered (a guard against absurd counts).
MAX_COVERED_IDS = 1024

TradeKey = tuple[str, str, int | str]


class TradeDeduplicator:
    """Remembers the last ``maxsize`` trade ids and says whether a trade was seen before."""

    def __init__(self, maxsize: int = 100_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._seen: OrderedDict[TradeKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def is_duplicate(self, venue: str, symbol: str, trade_id: str, count: int = 1) -> bool:
        """True if ``trade_id`` was seen before; otherwise remember the ids it covers.

        ``count`` > 1 (OKX aggregated trade) also remembers the ``count - 1`` ids below it.
        """
        seen = self._seen
        key: TradeKey
        if trade_id.isdigit() and trade_id.isascii():
            last = int(trade_id)
            key = (venue, symbol, last)
            if key in seen:
                seen.move_to_end(key)
                return True
            if count > 1:
                for covered in range(last - min(count, MAX_COVERED_IDS) + 1, last):
                    seen[(venue, symbol, covered)] = None
            seen[key] = None
        else:
            key = (venue, symbol, trade_id)
            if key in seen:
                seen.move_to_end(key)
                return True
            seen[key] = None
        while len(seen) > self.maxsize:
            seen.popitem(last=False)
        return False

    def clear(self) -> None:
        self._seen.clear()
