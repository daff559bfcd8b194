"""The book as last published on ``books``: what clients must hold after applying every push.

It is kept apart from the matching engine because the engine moves on between pushes while
REST snapshots, new ``books`` subscribers and checksums must all see the book *as of the last
push* (the state that ``seqId`` names).
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from collections.abc import Iterable

from desk.core.enums import Side
from desk.sim.instruments import InstrumentSpec
from desk.sim.okx.wire import Level, okx_checksum

MAX_DEPTH = 400


class PublishedSide:
    """Levels of one side by integer price, each kept as its wire entry ``[px, sz, "0", n]``."""

    __slots__ = ("levels", "prices", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []  # ascending

    def apply(self, price: int, entry: Level, deleted: bool) -> None:
        if deleted:
            if self.levels.pop(price, None) is not None:
                del self.prices[bisect_left(self.prices, price)]
            return
        if price not in self.levels:
            insort(self.prices, price)
        self.levels[price] = entry

    def top(self, n: int = MAX_DEPTH) -> list[Level]:
        """Best ``n`` entries, best first (bids descending, asks ascending)."""
        if n <= 0:
            return []
        prices = self.prices[: -n - 1 : -1] if self.side is Side.BUY else self.prices[:n]
        return [self.levels[p] for p in prices]


class PublishedBook:
    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.bids = PublishedSide(Side.BUY)
        self.asks = PublishedSide(Side.SELL)

    def apply(
        self, changes: Iterable[tuple[tuple[Side, int], tuple[int, int]]]
    ) -> tuple[list[Level], list[Level]]:
        """Fold level changes in; return the update's (asks, bids) entries, best first."""
        asks: list[tuple[int, Level]] = []
        bids: list[tuple[int, Level]] = []
        price_str, size_str = self.spec.price_str, self.spec.size_str
        for (side, price), (size, count) in changes:
            if size:
                entry = [price_str(price), size_str(size), "0", str(count)]
            else:
                entry = [price_str(price), "0", "0", "0"]
            book, out = (self.bids, bids) if side is Side.BUY else (self.asks, asks)
            book.apply(price, entry, not size)
            out.append((price, entry))
        asks.sort(key=_first)
        bids.sort(key=_first, reverse=True)
        return [e for _, e in asks], [e for _, e in bids]

    def checksum(self) -> int:
        return okx_checksum(self.bids.top(25), self.asks.top(25))

    def raw(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(bids, asks) as (px, sz) strings, full depth, best first."""
        return (
            [(e[0], e[1]) for e in self.bids.top(len(self.bids.prices))],
            [(e[0], e[1]) for e in self.asks.top(len(self.asks.prices))],
        )


def _first(item: tuple[int, Level]) -> int:
    return item[0]


class SeqChain:
    """Sequence ids of one stream: strictly increasing, in random steps of 1..90."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.last = rng.randrange(10**9, 2 * 10**9)

    def advance(self, skip: bool = False) -> tuple[int, int]:
        """(prevSeqId, seqId) of the next push; ``skip`` leaves a hole before it (a gap)."""
        prev = self.last
        if skip:
            prev += self._rng.randint(1, 90)
        self.last = prev + self._rng.randint(1, 90)
        return prev, self.last
