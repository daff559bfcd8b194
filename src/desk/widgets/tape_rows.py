"""Trade-tape rows: bursts of trades folded into one line each (no Textual).

An aggressive order sweeping a level prints many trades at the same price within a few
milliseconds; listing each one buries the tape. Consecutive trades on the same venue and side at
the same price within ``window_ns`` of the burst's first trade become one row with summed size
and count.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from desk.bridge.views import TradeView
from desk.core.enums import Side

BURST_WINDOW_NS = 100_000_000


class TapeRow(NamedTuple):
    """One tape line: the newest trade time of the burst, its price, total size and count.
    A tuple, not a dataclass: a tape folds over a hundred trades on every tick."""

    ts_exchange: int
    price: float
    size: float
    side: Side
    count: int
    venue: str = ""


def aggregate(trades: list[TradeView], window_ns: int = BURST_WINDOW_NS) -> list[TapeRow]:
    """Fold newest-first ``trades`` into newest-first rows, merging same-side same-price bursts."""
    rows: list[TapeRow] = []
    add, make = rows.append, TapeRow._make
    burst: list[Any] | None = None  # the row being folded: ts, price, size, side, count, venue
    for trade in trades:
        if (
            burst is not None
            and trade.side is burst[3]
            and trade.price == burst[1]
            and trade.venue == burst[5]
            and abs(burst[0] - trade.ts_exchange) <= window_ns
        ):
            burst[2] += trade.size
            burst[4] += trade.count
            continue
        if burst is not None:
            add(make(burst))
        burst = [trade.ts_exchange, trade.price, trade.size, trade.side, trade.count, trade.venue]
    if burst is not None:
        add(make(burst))
    return rows


def large_size(rows: list[TapeRow]) -> float:
    """A size worth highlighting: five times the median row size (inf when too few rows)."""
    if len(rows) < 5:
        return float("inf")
    sizes = sorted(row.size for row in rows)
    return sizes[len(sizes) // 2] * 5
