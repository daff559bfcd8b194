"""A local L2 order book fed with the venue's raw string levels.

This is the hottest code in desk: a busy feed applies 100k+ increments a second, so the layout
is chosen to make ``apply_update`` cost about one dict lookup per level.

The layout of a side and the loops over it live in ``book_side``; this module is the book
that feeds, readers and the checksum use.

``apply_named`` and ``checksum`` (the OKX feed's hot path) have a compiled twin,
``_book_native.c``, run when it is built and current (``desk.market.native``; ``use_compiled``
switches). The Python here stays the reference: the twin works on the same cells and
``TopStrings`` lists, and ``tests/market/test_book_native.py`` holds the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from desk.market import native
from desk.market.book_side import (
    CHECKSUM_DEPTH,
    COMPACT_EVERY,
    MAX_PRICE,
    ZERO_CEILING,
    BookSide,
    Level,
    NamedLevel,
    apply_levels,
    apply_named_noting,
    apply_pairs,
    bad_size,
    live_depth,
    load,
    settle_top,
    top_levels,
    unknown_price,
)
from desk.market.checksum import (
    SIGN_BIT,
    WRAP,
    TopStrings,
    crc32,
    interleaved_checksum,
    signed_crc32,
)

__all__ = ["MAX_PRICE", "ZERO_CEILING", "Level", "OrderBook"]


class OrderBook:
    """L2 book of one instrument: apply snapshots/increments, read prices as floats or raw."""

    __slots__ = (
        "_asks",
        "_bids",
        "_crc",
        "_parts",
        "best_ask_px",
        "best_bid_px",
        "keep_raw",
        "seq_id",
        "symbol",
        "ts_exchange",
        "venue",
    )

    def __init__(self, symbol: str, venue: str = "okx", keep_raw: bool = True) -> None:
        self.symbol = symbol
        self.venue = venue
        # Raw strings are always kept: storing the received strings is cheaper than converting
        # them. The flag is accepted so callers can state intent; it changes nothing.
        self.keep_raw = keep_raw
        self.seq_id = -1
        self.ts_exchange = 0
        self._bids = BookSide(1.0)
        self._asks = BookSide(-1.0)
        self._parts: list[str] | None = None  # the checksum text's "px:sz" pieces, bids and
        self._crc = 0  # asks interleaved, and their CRC
        # Plain attributes, refreshed by every write: the feed reads them after each message,
        # and an attribute read costs a fraction of a property call.
        self.best_bid_px = math.nan
        """Highest bid price, NaN if there are no bids."""
        self.best_ask_px = math.nan
        """Lowest ask price, NaN if there are no asks."""

    # -- writing -------------------------------------------------------------------------------

    def apply_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], seq_id: int = -1, ts_exchange: int = 0
    ) -> None:
        """Replace the whole book: nothing of the old book survives (no ghost levels)."""
        self.best_bid_px = load(self._bids, bids)
        self.best_ask_px = -load(self._asks, asks)
        self.seq_id = seq_id
        self.ts_exchange = ts_exchange

    def apply_update(
        self, bids: Iterable[Level], asks: Iterable[Level], seq_id: int = -1, ts_exchange: int = 0
    ) -> None:
        """Apply an increment: size "0" deletes, a known price takes the new size, else insert.

        Sequence checks (``prevSeqId``) are the feed's job; this records the ids it is given.
        """
        self.best_bid_px = apply_levels(self._bids, bids)
        self.best_ask_px = -apply_levels(self._asks, asks)
        self.seq_id = seq_id
        self.ts_exchange = ts_exchange

    def apply_pairs(
        self,
        bids: Iterable[tuple[str, str]],
        asks: Iterable[tuple[str, str]],
        seq_id: int = -1,
        ts_exchange: int = 0,
    ) -> None:
        """``apply_update`` for levels that are exactly ``(price, size)`` (Binance's): the same
        book, about a third less time per level (``bench/binance_feed.py``), because nothing is
        read by index and no checksum strings are noted. A book that keeps them (``checksum``
        was called) takes ``apply_update`` itself."""
        bid_side = self._bids
        ask_side = self._asks
        if bid_side.ck is not None or ask_side.ck is not None:
            self.apply_update(bids, asks, seq_id, ts_exchange)
            return
        self.best_bid_px = apply_pairs(bid_side, bids)
        self.best_ask_px = -apply_pairs(ask_side, asks)
        self.seq_id = seq_id
        self.ts_exchange = ts_exchange

    def apply_named(
        self,
        bids: Iterable[NamedLevel],
        asks: Iterable[NamedLevel],
        seq_id: int = -1,
        ts_exchange: int = 0,
    ) -> None:
        """``apply_update`` for levels with ``px`` and ``sz`` attributes (OKX's decoded
        levels): the same book and refusals, read by attribute.

        A book that keeps checksum strings notes the levels that reach them
        (``apply_named_noting``). One that does not (the usual case: OKX sends checksum 0)
        runs the loop of ``apply_pairs`` on both sides here, in one call: a side whose best is
        the same live cell as before, with no compaction due (most messages), has nothing to
        store at all.
        """
        bid_side = self._bids
        ask_side = self._asks
        if bid_side.ck is not None or ask_side.ck is not None:
            self.best_bid_px, best_ask = apply_named_noting(bid_side, ask_side, bids, asks)
            self.best_ask_px = -best_ask
            self.seq_id = seq_id
            self.ts_exchange = ts_exchange
            return
        zero_ceiling = ZERO_CEILING
        side = bid_side
        for levels in (bids, asks):
            cells = side.cells
            top_cell = side.top_cell
            top_key = side.top_key
            for level in levels:
                sz = level.sz
                if sz >= ":":  # no NaN, inf or other word (see ``book_side``)
                    raise bad_size(level.px, sz)
                try:
                    cell = cells[level.px]
                except KeyError:
                    cell = unknown_price(side, level.px, sz)
                    if cell is None:  # deleting a price we never had: harmless
                        continue
                cell[0] = sz  # the size as received; a zero size makes the cell stale
                if cell[1] > top_key and sz > zero_ceiling:  # nothing above the best is live
                    top_cell = cell
                    top_key = cell[1]
            if (
                top_cell is None
                or top_cell is not side.top_cell
                or top_cell[0] <= zero_ceiling
                or side.new_prices >= COMPACT_EVERY
            ):
                top_key = settle_top(side, top_cell, top_key)
                if side is bid_side:
                    self.best_bid_px = top_key
                else:
                    self.best_ask_px = -top_key
            side = ask_side
        self.seq_id = seq_id
        self.ts_exchange = ts_exchange

    def clear(self) -> None:
        """Empty the book and forget the sequence (used on gaps and reconnects); the price
        limits stay."""
        lo, hi = self.price_limits
        self._bids = BookSide(1.0, lo, hi)
        self._asks = BookSide(-1.0, lo, hi)
        self.best_bid_px = math.nan
        self.best_ask_px = math.nan
        self.seq_id = -1
        self.ts_exchange = 0

    @property
    def price_limits(self) -> tuple[float, float]:
        """(lo, hi): a new price level must be strictly between them."""
        return self._bids.lo, self._bids.hi

    def set_price_limits(self, lo: float, hi: float) -> None:
        """Refuse new price levels outside ``(lo, hi)`` from now on (levels already in the book
        stay). ``0 <= lo < hi <= MAX_PRICE``."""
        if not 0.0 <= lo < hi <= MAX_PRICE:
            raise ValueError(f"price limits must satisfy 0 <= lo < hi <= {MAX_PRICE:g}")
        for side in (self._bids, self._asks):
            side.lo = lo
            side.hi = hi

    # -- top of book ---------------------------------------------------------------------------

    @property
    def best_bid(self) -> tuple[float, float] | None:
        """(price, size) of the highest bid, or None."""
        return self._best(self._bids)

    @property
    def best_ask(self) -> tuple[float, float] | None:
        """(price, size) of the lowest ask, or None."""
        return self._best(self._asks)

    @property
    def mid(self) -> float:
        """Mid price; NaN when a side is empty."""
        return (self.best_bid_px + self.best_ask_px) / 2.0

    @property
    def spread(self) -> float:
        """Best ask minus best bid; NaN when a side is empty (negative when crossed)."""
        return self.best_ask_px - self.best_bid_px

    def is_crossed(self) -> bool:
        """True when best bid >= best ask: the book is broken and must be resynced."""
        return self.best_bid_px >= self.best_ask_px  # NaN compares False: empty is not crossed

    @staticmethod
    def _best(side: BookSide) -> tuple[float, float] | None:
        cell = side.top_cell
        if cell is None:
            return None
        return side.top_key * side.sign, float(cell[0])

    # -- depth ---------------------------------------------------------------------------------

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        """Top ``n`` bids (all when None) as (price, size), highest price first."""
        return [(key, float(sz)) for key, _, sz in top_levels(self._bids, n)]

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        """Top ``n`` asks (all when None) as (price, size), lowest price first."""
        return [(-key, float(sz)) for key, _, sz in top_levels(self._asks, n)]

    def raw_bids(self, n: int | None = None) -> list[tuple[str, str]]:
        """Top ``n`` bids as the venue's own (price, size) strings, highest first."""
        return [(px, sz) for _, px, sz in top_levels(self._bids, n)]

    def raw_asks(self, n: int | None = None) -> list[tuple[str, str]]:
        """Top ``n`` asks as the venue's own (price, size) strings, lowest first."""
        return [(px, sz) for _, px, sz in top_levels(self._asks, n)]

    def copy_levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The full book as raw strings (bids desc, asks asc), e.g. to compare with a simulator."""
        return self.raw_bids(), self.raw_asks()

    def imbalance(self, n: int = 5) -> float:
        """(bid volume - ask volume) / total over the top ``n`` levels; NaN if both are empty."""
        bid_vol = sum(float(sz) for _, _, sz in top_levels(self._bids, n))
        ask_vol = sum(float(sz) for _, _, sz in top_levels(self._asks, n))
        total = bid_vol + ask_vol
        return (bid_vol - ask_vol) / total if total > 0.0 else math.nan

    def checksum(self) -> int:
        """OKX CRC32 over the top 25 raw levels of each side (PROTOCOLS.md A.6).

        Called after every update when the venue sends a checksum. From the first call on,
        each side keeps its top levels' ``"px:sz"`` pieces (``TopStrings``, edited by the
        updates that reach them) and the book the pieces of the interleaved text: a changed
        side's pieces are replaced by one slice assignment before the join; unchanged, the CRC
        is reused.
        """
        bids = self._bids
        asks = self._asks
        parts = self._parts
        if parts is None or bids.ck is None or asks.ck is None:
            return self._checksum_afresh()
        # A side left unchanged since the last call still has its full depth (a shallow side
        # is joined afresh each time, ``_parts`` None); a changed one may not.
        if bids.ck_changed:
            pieces = bids.ck.pieces
            if len(pieces) != CHECKSUM_DEPTH:
                return self._checksum_afresh()
            parts[0::2] = pieces
            bids.ck_changed = False
        elif not asks.ck_changed:
            return self._crc
        if asks.ck_changed:
            pieces = asks.ck.pieces
            if len(pieces) != CHECKSUM_DEPTH:
                return self._checksum_afresh()
            parts[1::2] = pieces
            asks.ck_changed = False
        crc = crc32(":".join(parts).encode())
        self._crc = crc = crc - WRAP if crc >= SIGN_BIT else crc  # signed, as OKX sends it
        return crc

    def _kept_strings(self) -> tuple[TopStrings, TopStrings]:
        """Each side's kept checksum strings, walked now for a side that has none."""
        bids = self._bids
        asks = self._asks
        b = bids.ck
        if b is None:
            b = bids.ck = TopStrings(bids.top_cell, CHECKSUM_DEPTH, ZERO_CEILING)
        a = asks.ck
        if a is None:
            a = asks.ck = TopStrings(asks.top_cell, CHECKSUM_DEPTH, ZERO_CEILING)
        return b, a

    def _checksum_afresh(self) -> int:
        """``checksum`` when a side has no kept strings yet (walked now) or the book is
        shallow (fewer than 25 levels a side: the text is joined from the two lists)."""
        bids = self._bids
        asks = self._asks
        b, a = self._kept_strings()
        if len(b.pieces) != CHECKSUM_DEPTH or len(a.pieces) != CHECKSUM_DEPTH:
            self._parts = None
            bids.ck_changed = asks.ck_changed = True  # the next call joins afresh too
            return interleaved_checksum(b, a)
        parts = self._parts = [""] * (2 * CHECKSUM_DEPTH)
        parts[0::2] = b.pieces
        parts[1::2] = a.pieces
        bids.ck_changed = asks.ck_changed = False
        self._crc = crc = signed_crc32(":".join(parts))
        return crc

    @property
    def depth_bids(self) -> int:
        """Number of bid levels (counted on demand: O(levels))."""
        return live_depth(self._bids)

    @property
    def depth_asks(self) -> int:
        """Number of ask levels (counted on demand: O(levels))."""
        return live_depth(self._asks)

    def __len__(self) -> int:
        return live_depth(self._bids) + live_depth(self._asks)

    def __bool__(self) -> bool:
        """True when the book has any level (O(1), unlike ``len``)."""
        return self._bids.top_cell is not None or self._asks.top_cell is not None

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.venue}:{self.symbol} seq={self.seq_id} "
            f"bids={self.depth_bids} asks={self.depth_asks} "
            f"best={self.best_bid_px}/{self.best_ask_px})"
        )


# -- the compiled twin (desk.market.native) -------------------------------------------------------

_PURE = (OrderBook.apply_named, OrderBook.checksum)


def _checksum_afresh_compiled(self: OrderBook) -> int:
    """The compiled ``OrderBook.checksum`` when a side has no kept strings yet: walk them, then
    CRC the pieces in one compiled call (no interleaved list is kept: ``_parts`` stays None, so
    the pure method, if switched back to, joins afresh)."""
    bids = self._bids
    asks = self._asks
    b, a = self._kept_strings()
    self._parts = None
    bids.ck_changed = asks.ck_changed = False
    self._crc = crc = native.MODULE.checksum(b.pieces, a.pieces)  # type: ignore[union-attr]
    return crc


def use_compiled(on: bool) -> None:
    """Run the compiled loops (True) or the pure Python (False) from the next call on, for every
    book (their state is the same either way, so a book can change hands between messages).
    RuntimeError when asked for a compiled module that is not usable (``native.REASON``)."""
    compiled = native.MODULE
    if on and compiled is None:
        raise RuntimeError(f"the compiled book is not available: {native.REASON}")
    if not on or compiled is None:
        OrderBook.apply_named, OrderBook.checksum = _PURE  # type: ignore[method-assign]
    else:  # method descriptors: the feed's call goes straight into C
        methods = compiled.methods(OrderBook, _checksum_afresh_compiled)
        OrderBook.apply_named, OrderBook.checksum = methods  # type: ignore[method-assign]
    native.ACTIVE = on


use_compiled(native.MODULE is not None)
