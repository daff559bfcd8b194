"""The book as last published on ``level2``: what a client holds after applying every message.

Kept apart from the matching engine, which moves on between publishes, so that snapshots for
new subscribers, REST ``product_book`` and tests all see the book as of the last message.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from desk.core.enums import Side
from desk.sim.instruments import InstrumentSpec

RawLevel = tuple[str, str]  # (price, size) as the wire writes them


class PublishedSide:
    """One side's levels by integer price (ticks), each kept as its wire strings."""

    __slots__ = ("levels", "prices", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, RawLevel] = {}
        self.prices: list[int] = []  # ascending

    def apply(self, price: int, level: RawLevel | None) -> None:
        """Set ``price`` to ``level``, or remove it when ``level`` is None."""
        if level is None:
            if self.levels.pop(price, None) is not None:
                del self.prices[bisect_left(self.prices, price)]
            return
        if price not in self.levels:
            insort(self.prices, price)
        self.levels[price] = level

    def top(self, n: int | None = None) -> list[RawLevel]:
        """Best ``n`` levels (all when None), best first."""
        prices = self.prices[::-1] if self.side is Side.BUY else self.prices
        chosen = prices if n is None else prices[: max(n, 0)]
        return [self.levels[p] for p in chosen]


class PublishedBook:
    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.bids = PublishedSide(Side.BUY)
        self.asks = PublishedSide(Side.SELL)

    def apply(
        self, changes: Iterable[tuple[tuple[Side, int], tuple[int, int]]]
    ) -> tuple[list[RawLevel], list[RawLevel]]:
        """Fold level changes (``(side, ticks) -> (lots, orders)``, 0 lots = gone) in; return the
        update's (bids, asks), best first, sizes ``"0"`` for removed levels."""
        bids: list[tuple[int, RawLevel]] = []
        asks: list[tuple[int, RawLevel]] = []
        price_str, size_str = self.spec.price_str, self.spec.size_str
        for (side, price), (size, _count) in changes:
            level = (price_str(price), size_str(size) if size else "0")
            book, out = (self.bids, bids) if side is Side.BUY else (self.asks, asks)
            book.apply(price, level if size else None)
            out.append((price, level))
        bids.sort(key=_first, reverse=True)
        asks.sort(key=_first)
        return [lv for _, lv in bids], [lv for _, lv in asks]

    def raw(self) -> tuple[list[RawLevel], list[RawLevel]]:
        """(bids, asks) in full, best first."""
        return self.bids.top(), self.asks.top()


def _first(item: tuple[int, RawLevel]) -> int:
    return item[0]
