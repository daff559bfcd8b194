"""The order-book ladder as rows of plain data, built once per book version (no Textual).

Layout, top to bottom: asks from the deepest down to the best, one spread row, then bids from
the best down to the deepest. Both sides always get ``depth`` rows (blank when the book is
thinner) so the spread row sits at a fixed line and the ladder never jumps while you read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from desk.bridge.views import BookView, LevelView
from desk.core.enums import Side

ASK = "ask"
BID = "bid"
SPREAD = "spread"
EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class LadderRow:
    """One line of the ladder; ``fill`` is cumulative depth as a share of the deeper side."""

    kind: str
    price: float = math.nan
    size: float = 0.0
    cum: float = 0.0
    fill: float = 0.0
    last_side: Side | None = None


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
    asks = _cumulate(book.asks[:depth])
    bids = _cumulate(book.bids[:depth])
    deepest = max(asks[-1][1] if asks else 0.0, bids[-1][1] if bids else 0.0) or 1.0
    marked = _last_trade_level(book)

    def row(kind: str, level: LevelView, cum: float) -> LadderRow:
        last = book.last_side if marked is not None and level.price == marked else None
        return LadderRow(kind, level.price, level.size, cum, cum / deepest, last)

    ask_rows = [row(ASK, level, cum) for level, cum in asks]
    bid_rows = [row(BID, level, cum) for level, cum in bids]
    blank_asks = [LadderRow(EMPTY)] * (depth - len(ask_rows))
    blank_bids = [LadderRow(EMPTY)] * (depth - len(bid_rows))
    return [*blank_asks, *reversed(ask_rows), LadderRow(SPREAD), *bid_rows, *blank_bids]


def _cumulate(levels: list[LevelView]) -> list[tuple[LevelView, float]]:
    total = 0.0
    out = []
    for level in levels:
        total += level.size
        out.append((level, total))
    return out


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
