"""One ``l2_data`` update applied to an ``OrderBook`` straight from its wire levels.

The shared path costs a pass to split the levels into bid and ask ``(price, size)`` tuples, then
``OrderBook.apply_update`` reads each by index and keeps checksum strings Coinbase never needs.
``apply_levels`` takes the decoded ``L2Level`` structs as they are, in one pass over both sides:
per level one attribute read per field, one size check, one dict lookup, one store and one key
comparison. (``bench/coinbase_feed.py`` measures the whole feed with it.)

The result is exactly ``split_levels`` + ``apply_update``: the sides are independent, so taking
the levels in wire order instead of all bids first changes nothing, and everything past the usual
step (a price string new to the side, the best level deleted, compaction) is the book's own code.
A refused level raises ``ValueError`` with the book half-applied, as there (the keeper resyncs
it). A book whose checksum strings are kept (``OrderBook.checksum`` was called) takes the shared
path. ``tests/feeds/coinbase/test_levels.py`` holds the two side by side on random updates.
"""

from __future__ import annotations

from desk.feeds.coinbase.wire import L2Level
from desk.market.book import OrderBook
from desk.market.book_side import COMPACT_EVERY, ZERO_CEILING, bad_size, settle_top, unknown_price

BID = "bid"
"""The bid side's name on the wire; anything else (``"offer"``) is an ask."""
RawLevel = tuple[str, str]


def split_levels(updates: list[L2Level]) -> tuple[list[RawLevel], list[RawLevel]]:
    """(bids, asks) as ``(price, size)`` strings, in the order received."""
    bids: list[RawLevel] = []
    asks: list[RawLevel] = []
    add_bid, add_ask = bids.append, asks.append
    for u in updates:
        if u.side == BID:
            add_bid((u.price_level, u.new_quantity))
        else:
            add_ask((u.price_level, u.new_quantity))
    return bids, asks


def apply_levels(book: OrderBook, updates: list[L2Level], seq_id: int, ts_exchange: int) -> None:
    """``book.apply_update(*split_levels(updates), seq_id, ts_exchange)`` in one pass."""
    bids = book._bids
    asks = book._asks
    if bids.ck is not None or asks.ck is not None:
        book.apply_update(*split_levels(updates), seq_id, ts_exchange)
        return
    bid_cells = bids.cells
    ask_cells = asks.cells
    bid_top, bid_key = bids.top_cell, bids.top_key
    ask_top, ask_key = asks.top_cell, asks.top_key
    zero_ceiling = ZERO_CEILING
    for u in updates:
        px = u.price_level
        sz = u.new_quantity
        if sz >= ":":  # NaN, inf, words: the book's one-comparison size check
            raise bad_size(px, sz)
        if u.side == BID:
            try:
                cell = bid_cells[px]
            except KeyError:
                cell = unknown_price(bids, px, sz)
                if cell is None:  # deleting a price the side never had
                    continue
            cell[0] = sz  # a zero size makes the cell stale: that is the whole delete
            if cell[1] > bid_key and sz > zero_ceiling:  # nothing above the best is live
                bid_top = cell
                bid_key = cell[1]
        else:
            try:
                cell = ask_cells[px]
            except KeyError:
                cell = unknown_price(asks, px, sz)
                if cell is None:
                    continue
            cell[0] = sz
            if cell[1] > ask_key and sz > zero_ceiling:
                ask_top = cell
                ask_key = cell[1]
    # Most updates leave both bests where they were, live, and add no stale cells to compact:
    # then there is nothing to store.
    if (
        bid_top is not bids.top_cell
        or bid_top is None
        or bid_top[0] <= zero_ceiling
        or bids.new_prices >= COMPACT_EVERY
    ):
        book.best_bid_px = settle_top(bids, bid_top, bid_key)
    if (
        ask_top is not asks.top_cell
        or ask_top is None
        or ask_top[0] <= zero_ceiling
        or asks.new_prices >= COMPACT_EVERY
    ):
        book.best_ask_px = -settle_top(asks, ask_top, ask_key)
    book.seq_id = seq_id
    book.ts_exchange = ts_exchange
