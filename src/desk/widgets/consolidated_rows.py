"""The consolidated ladder as rows of plain data: every venue's levels merged by price.

Layout as the one-venue ladder (``ladder_rows``): asks from the deepest down to the best, one
spread row, bids from the best down to the deepest, ``depth`` rows a side (blank when thin).
Two venues quoting one price keep a row each, tagged with their venue, in venue order. The
spread row compares the best bid and best ask of *all* venues: when one venue bids above
another's ask the consolidated book is crossed, which is the raw (before fees) cross-venue
opportunity the spread matrix nets out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

from desk.bridge.views import BookView

ASK = "ask"
BID = "bid"
SPREAD = "spread"
EMPTY = "empty"


class ConsolidatedRow(NamedTuple):
    """One line: a level of one venue; ``fill`` is cumulative size as a share of the deeper
    side; ``best`` marks each venue's own best level on its side. A tuple, not a dataclass:
    up to a hundred are built on every tick, and a tuple is several times cheaper to make."""

    kind: str
    price: float = math.nan
    size: float = 0.0
    venue: str = ""
    cum: float = 0.0
    fill: float = 0.0
    best: bool = False


EMPTY_ROW = ConsolidatedRow(EMPTY)
SPREAD_ROW = ConsolidatedRow(SPREAD)


@dataclass(frozen=True, slots=True)
class ConsolidatedSpread:
    """The best bid and ask across venues, and where each is."""

    bid: float
    bid_venue: str
    ask: float
    ask_venue: str

    @property
    def spread(self) -> float:
        return self.ask - self.bid

    @property
    def crossed(self) -> bool:
        return self.bid >= self.ask

    @property
    def bps(self) -> float:
        mid = (self.bid + self.ask) / 2
        return self.spread / mid * 1e4 if mid else math.nan


# A level while merging: the sort key (price, or -price for bids), the book's order (ties: the
# books' order), size, venue, whether it is the venue's best.
Level = tuple[float, int, float, str, bool]


def _side(books: Sequence[BookView], asks: bool, depth: int) -> list[Level]:
    """The ``depth`` best levels of one side across ``books``: only each book's top ``depth``
    can make it, and a venue never quotes one price twice, so (key, order) decides the sort."""
    levels: list[Level] = []
    add = levels.append
    for order, book in enumerate(books):
        venue, best = book.venue, True
        for level in (book.asks if asks else book.bids)[:depth]:
            add((level.price if asks else -level.price, order, level.size, venue, best))
            best = False
    levels.sort()
    del levels[depth:]
    return levels


def build_rows(books: Sequence[BookView], depth: int) -> list[ConsolidatedRow]:
    """``2 * depth + 1`` rows merging ``books``; the spread row is at index ``depth``."""
    asks, bids = _side(books, True, depth), _side(books, False, depth)
    ask_cums, bid_cums = list(accumulate(a[2] for a in asks)), list(accumulate(b[2] for b in bids))
    deepest = max(ask_cums[-1] if asks else 0.0, bid_cums[-1] if bids else 0.0) or 1.0
    make = ConsolidatedRow._make
    rows = [EMPTY_ROW] * (depth - len(asks))
    rows += [
        make((ASK, key, size, venue, cum, cum / deepest, best))
        for (key, _, size, venue, best), cum in zip(reversed(asks), reversed(ask_cums), strict=True)
    ]
    rows.append(SPREAD_ROW)
    rows += [
        make((BID, -key, size, venue, cum, cum / deepest, best))
        for (key, _, size, venue, best), cum in zip(bids, bid_cums, strict=True)
    ]
    rows += [EMPTY_ROW] * (depth - len(bids))
    return rows


def consolidated_spread(books: Sequence[BookView]) -> ConsolidatedSpread | None:
    """Best bid and ask across ``books``; None while no venue has both a bid and an ask."""
    bids = [(book.bids[0].price, book.venue) for book in books if book.bids]
    asks = [(book.asks[0].price, book.venue) for book in books if book.asks]
    if not bids or not asks:
        return None
    bid, bid_venue = max(bids, key=lambda item: item[0])
    ask, ask_venue = min(asks, key=lambda item: item[0])
    return ConsolidatedSpread(bid, bid_venue, ask, ask_venue)


VENUE_TAGS = {"okx": "OKX", "binance": "BIN", "coinbase": "CB"}


def venue_tag(venue: str) -> str:
    """A venue in three letters at most, as the ladder and tape columns show it."""
    return VENUE_TAGS.get(venue, venue[:3].upper())
