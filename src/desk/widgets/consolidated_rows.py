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

from desk.bridge.views import BookView

ASK = "ask"
BID = "bid"
SPREAD = "spread"
EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class ConsolidatedRow:
    """One line: a level of one venue; ``fill`` is cumulative size as a share of the deeper
    side; ``best`` marks each venue's own best level on its side."""

    kind: str
    price: float = math.nan
    size: float = 0.0
    venue: str = ""
    cum: float = 0.0
    fill: float = 0.0
    best: bool = False


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


Level = tuple[float, float, str, bool]  # price, size, venue, the venue's best


def _side(books: Sequence[BookView], side: str, depth: int) -> list[Level]:
    """The ``depth`` best levels of one side across ``books`` (ties: the books' order)."""
    levels: list[tuple[float, int, float, str, bool]] = []
    for order, book in enumerate(books):
        for i, level in enumerate(getattr(book, f"{side}s")[:depth]):
            key = level.price if side == ASK else -level.price
            levels.append((key, order, level.size, book.venue, i == 0))
    levels.sort(key=lambda item: (item[0], item[1]))
    return [(abs(key), size, venue, best) for key, _, size, venue, best in levels[:depth]]


def build_rows(books: Sequence[BookView], depth: int) -> list[ConsolidatedRow]:
    """``2 * depth + 1`` rows merging ``books``; the spread row is at index ``depth``."""
    asks, bids = _side(books, ASK, depth), _side(books, BID, depth)

    def cumulate(kind: str, levels: list[Level]) -> list[ConsolidatedRow]:
        total, out = 0.0, []
        for price, size, venue, best in levels:
            total += size
            out.append(ConsolidatedRow(kind, price, size, venue, total, 0.0, best))
        return out

    ask_rows, bid_rows = cumulate(ASK, asks), cumulate(BID, bids)
    deepest = max(ask_rows[-1].cum if ask_rows else 0.0, bid_rows[-1].cum if bid_rows else 0.0)
    deepest = deepest or 1.0

    def filled(row: ConsolidatedRow) -> ConsolidatedRow:
        return ConsolidatedRow(
            row.kind, row.price, row.size, row.venue, row.cum, row.cum / deepest, row.best
        )

    blank_asks = [ConsolidatedRow(EMPTY)] * (depth - len(ask_rows))
    blank_bids = [ConsolidatedRow(EMPTY)] * (depth - len(bid_rows))
    return [
        *blank_asks,
        *(filled(row) for row in reversed(ask_rows)),
        ConsolidatedRow(SPREAD),
        *(filled(row) for row in bid_rows),
        *blank_bids,
    ]


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
