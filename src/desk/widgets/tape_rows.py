"""Trade-tape rows: bursts of trades folded into one line each (no Textual).

An aggressive order sweeping a level prints many trades at the same price within a few
milliseconds; listing each one buries the tape. Consecutive trades on the same venue and side at
the same price within ``window_ns`` of the burst's first trade become one row with summed size
and count.
"""

from __future__ import annotations

from dataclasses import dataclass

from desk.bridge.views import TradeView
from desk.core.enums import Side

BURST_WINDOW_NS = 100_000_000


@dataclass(frozen=True, slots=True)
class TapeRow:
    """One tape line: the newest trade time of the burst, its price, total size and count."""

    ts_exchange: int
    price: float
    size: float
    side: Side
    count: int
    venue: str = ""


def aggregate(trades: list[TradeView], window_ns: int = BURST_WINDOW_NS) -> list[TapeRow]:
    """Fold newest-first ``trades`` into newest-first rows, merging same-side same-price bursts."""
    rows: list[TapeRow] = []
    start_ts = 0
    for trade in trades:
        if rows:
            top = rows[-1]
            if (
                trade.side is top.side
                and trade.price == top.price
                and trade.venue == top.venue
                and abs(start_ts - trade.ts_exchange) <= window_ns
            ):
                rows[-1] = TapeRow(
                    top.ts_exchange,
                    top.price,
                    top.size + trade.size,
                    top.side,
                    top.count + trade.count,
                    top.venue,
                )
                continue
        start_ts = trade.ts_exchange
        rows.append(
            TapeRow(
                trade.ts_exchange, trade.price, trade.size, trade.side, trade.count, trade.venue
            )
        )
    return rows


def large_size(rows: list[TapeRow]) -> float:
    """A size worth highlighting: five times the median row size (inf when too few rows)."""
    if len(rows) < 5:
        return float("inf")
    sizes = sorted(row.size for row in rows)
    return sizes[len(sizes) // 2] * 5
