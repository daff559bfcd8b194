"""One venue's order book as a :class:`~desk.bridge.views.BookView` (the engine side).

Every venue's events share ``market_data:{symbol}``, so the book of one symbol is asked for by
venue (``FeedManager.book(symbol, venue=...)``) and its age is that venue's feed's silence.
"""

from __future__ import annotations

import math
import time
from itertools import starmap
from typing import Any

from desk.bridge.views import BookView, LevelView
from desk.core.enums import ConnectionState
from desk.engine.cross_venue_board import feed_venue, venue_book

NS_PER_MS = 1_000_000


def feed_age_ms(feeds: Any, symbol: str, venue: str) -> tuple[float, bool]:
    """(ms since the feed keeping ``symbol`` on ``venue`` last heard anything, connected?)."""
    if feeds is None:
        return math.inf, False
    for feed in feeds.feeds:
        if symbol in feed.books and feed_venue(feed) == venue:
            last = feed.counters.last_recv_ns
            age = (time.time_ns() - last) / NS_PER_MS if last else math.inf
            return age, feed.state is ConnectionState.CONNECTED
    return math.inf, False


def build_book_view(
    feeds: Any,
    symbol: str,
    venue: str,
    depth: int,
    *,
    version: int,
    age_ms: float,
    stale: bool,
    last: Any = None,
) -> BookView:
    """Top ``depth`` levels of ``symbol`` on ``venue``; ``last`` the symbol's latest trade."""
    book = venue_book(feeds, symbol, venue)
    if book is None:
        bids: list[LevelView] = []
        asks: list[LevelView] = []
        seq_id = ts_exchange = 0
    else:
        # a merged ladder asks for every venue's book on every tick: no Python loop per level
        bids = list(starmap(LevelView, book.bids(depth)))
        asks = list(starmap(LevelView, book.asks(depth)))
        seq_id, ts_exchange = book.seq_id, book.ts_exchange
    return BookView(
        version=version,
        symbol=symbol,
        bids=bids,
        asks=asks,
        seq_id=seq_id,
        ts_exchange=ts_exchange,
        ts_recv=time.time_ns(),
        age_ms=age_ms,
        stale=stale or book is None or not (bids or asks),
        last_price=last.price if last else math.nan,
        last_side=last.side if last else None,
        venue=venue,
    )
