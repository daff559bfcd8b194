"""Two books fed the same levels by two apply paths, compared cell for cell.

The venues' fast apply paths (``OrderBook.apply_pairs``, ``feeds/coinbase/levels.py``) must leave
exactly the book that ``OrderBook.apply_update`` leaves; their tests hold the two side by side.
"""

from __future__ import annotations

import pytest

from desk.market.book import OrderBook


def cells(book: OrderBook) -> list:
    """Each side's best key, count of new prices and every cell, stale ones included."""
    return [
        (side.top_key, side.new_prices, sorted((px, c[0], c[1]) for px, c in side.cells.items()))
        for side in (book._bids, book._asks)
    ]


def assert_same(fast: OrderBook, shared: OrderBook, *, whole: bool = True) -> None:
    """Same bests and ids; with ``whole``, the same levels and cells too."""
    assert (fast.best_bid_px, fast.best_ask_px) == pytest.approx(
        (shared.best_bid_px, shared.best_ask_px), nan_ok=True
    )
    assert (fast.seq_id, fast.ts_exchange) == (shared.seq_id, shared.ts_exchange)
    if whole:
        assert fast.copy_levels() == shared.copy_levels()
        assert cells(fast) == cells(shared)
