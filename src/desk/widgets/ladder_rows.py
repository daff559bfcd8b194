"""The order-book ladder as rows of plain data, built once per book version (no Textual).

Layout, top to bottom: asks from the deepest down to the best, one spread row, then bids from
the best down to the deepest. Both sides always get ``depth`` rows (blank when the book is
thinner) so the spread row sits at a fixed line and the ladder never jumps while you read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

from desk.bridge.views import BookView, LevelView
from desk.core.enums import Side

ASK = "ask"
BID = "bid"
SPREAD = "spread"
EMPTY = "empty"


class LadderRow(NamedTuple):
    """One line of the ladder; ``fill`` is cumulative depth as a share of the deeper side.
    A tuple, not a dataclass: a ladder builds forty on every tick, and tuples are cheaper."""

    kind: str
    price: float = math.nan
    size: float = 0.0
    cum: float = 0.0
    fill: float = 0.0
    last_side: Side | None = None


EMPTY_ROW = LadderRow(EMPTY)
SPREAD_ROW = LadderRow(SPREAD)


@dataclass(frozen=True, slots=True)
class SpreadInfo:
    best_bid: float
    best_ask: float
    spread: float
    mid: float
    bps: float
    crossed: bool


def build_rows(book: BookView, depth: int) -> list[LadderRow]:
    """``2 * depth + 1`` rows for ``book``; the spread row is at index ``depth``."""
    asks, bids = book.asks[:depth], book.bids[:depth]
    ask_cums = list(accumulate(level.size for level in asks))
    bid_cums = list(accumulate(level.size for level in bids))
    deepest = max(ask_cums[-1] if asks else 0.0, bid_cums[-1] if bids else 0.0) or 1.0
    marked, side = _last_trade_level(book), book.last_side
    make = LadderRow._make

    def marks(price: float) -> Side | None:
        return side if price == marked else None

    def rows(kind: str, levels: list[LevelView], cums: list[float]) -> list[LadderRow]:
        return [
            make((kind, level.price, level.size, cum, cum / deepest, marks(level.price)))
            for level, cum in zip(levels, cums, strict=True)
        ]

    ask_rows, bid_rows = rows(ASK, asks, ask_cums), rows(BID, bids, bid_cums)
    ask_rows.reverse()
    blank_asks = [EMPTY_ROW] * (depth - len(ask_rows))
    blank_bids = [EMPTY_ROW] * (depth - len(bid_rows))
    return [*blank_asks, *ask_rows, SPREAD_ROW, *bid_rows, *blank_bids]


def _last_trade_level(book: BookView) -> float | None:
    """The level price the last trade printed at, if that price is on the visible book."""
    last = book.last_price
    if not math.isfinite(last):
        return None
    for level in (*book.bids, *book.asks):
        if abs(level.price - last) <= 1e-9 * max(1.0, abs(last)):
            return level.price
    return None


def spread_info(book: BookView) -> SpreadInfo | None:
    """Best bid/ask, spread, mid and spread in basis points; None while a side is empty."""
    if not book.bids or not book.asks:
        return None
    bid, ask = book.bids[0].price, book.asks[0].price
    mid = (bid + ask) / 2
    spread = ask - bid
    bps = spread / mid * 1e4 if mid else math.nan
    return SpreadInfo(bid, ask, spread, mid, bps, crossed=bid >= ask)
