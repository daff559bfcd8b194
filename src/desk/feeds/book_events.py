"""The ``BookChanged`` notice every venue's book keeper publishes after a book changed."""

from __future__ import annotations

from desk.core.events import BookChanged
from desk.market.book import OrderBook


def book_changed(book: OrderBook, snapshot: bool, ts: int, recv_ns: int) -> BookChanged | None:
    """The notice for ``book`` as it is now, or ``None`` when it is crossed (bid >= ask).

    A crossed book is an integrity failure the keeper counts and resyncs; it is never published.
    An empty side reads NaN, and ``NaN >= x`` is False, so a one-sided book is published.
    """
    bid = book.best_bid_px
    ask = book.best_ask_px
    if bid >= ask:
        return None
    return BookChanged(
        ts_exchange=ts,
        ts_recv=recv_ns,
        venue=book.venue,
        symbol=book.symbol,
        seq_id=book.seq_id,
        snapshot=snapshot,
        best_bid=bid,
        best_ask=ask,
    )
