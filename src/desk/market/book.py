"""A local L2 order book fed with the venue's raw string levels.

This is the hottest code in desk: a busy feed applies 100k+ increments a second, so the layout
is chosen to make ``apply_update`` cost about one dict lookup per level.

How a side is kept
------------------
* ``cells``: the venue's price string -> a small mutable cell ``[size, key, price, lower]``:
  ``size`` is the venue's size string as last received (a zero size marks a deleted, "stale"
  cell), ``key`` the float sort key (the price for bids, minus the price for asks, so higher is
  better on both sides), ``lower`` the cell with the next lower key. A size change, a delete or
  the return of a recently seen price is one dict lookup plus one store into the cell: no float
  parsing (``float(str)`` is the most expensive step per level, so it is paid once per new price
  string), no allocation, not even a zero test. The raw strings needed by the checksum and for
  echoing a level back are kept as received.
* ``keys``: every cell's key, ascending, and ``by_key``: key -> cell. They are only used to link
  a new price between its neighbours (``bisect``) and to match another spelling of a price.
* Deleted cells stay in place as stale cells: readers skip them, a price that comes back is
  revived in place, and stale cells are dropped in bulk after ``_COMPACT_EVERY`` new prices.
* ``top_cell``/``top_key``: the best live level. A price coming (back) to life above it takes
  its place at once (one key compare per level), so nothing above the best is ever live; when
  the best itself is deleted, the new best is found by walking ``lower`` links from it past stale
  cells. Most messages find the top for free, and a feed reads it as a plain attribute.
* The same price spelt two ways ("8477" and "8477.0") is one level: a new spelling is matched to
  the listed cell by its float key and takes it over.
* A size is zero when it is "0" or a padded zero such as Binance's "0.00000000". Sizes are
  parsed to float only when read.
* ``ck``: once a feed verifies checksums, the top 25 levels' raw strings, edited by updates.

What the book refuses (ValueError; the book is then half-applied and must be cleared or
resynced), at the cost of about one string comparison per level:

* a price that is not a number strictly between the book's price limits (``set_price_limits``:
  by default above 0 and below 1e12, so NaN, inf, 0 and negatives never pass; a feed narrows
  them to a band around the market), checked where a new price string is parsed anyway;
* a size that starts with a letter or anything above "9" (NaN, inf, Infinity, words): one
  comparison per level; a size that sorts below "0" ("-1", "", "+1") where it is cheap: at a new
  price, and in snapshots. At a price already in the book such a size compares as zero, so it
  deletes the level exactly like "0" and never reaches a reader.

What it cannot see cheaply ("1.2.3", "1e400") a feed rules out when it matters: snapshots and
unusual frames get every price and size parsed (``desk.feeds.validation``).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from operator import itemgetter

from desk.core.excerpt import excerpt
from desk.market.checksum import TopStrings, interleaved_checksum, signed_crc32

Level = Sequence[str]
"""A raw level as the venue sends it: ``(price, size, ...)``, all strings."""

Cell = list  # [size: str, key: float, price: str, lower: Cell | None], changed in place

_cell_key = itemgetter(1)
_cell_px = itemgetter(2)

CHECKSUM_DEPTH = 25
MAX_PRICE = 1e12
"""The default upper price limit (see ``OrderBook.set_price_limits``)."""
_COMPACT_EVERY = 1024  # drop stale cells after this many new cells (bounds memory)

ZERO_CEILING = "0." + "0" * 20
"""Every spelling of zero ("0", "0.0", "0.00000000", ...) sorts <= this string, and every positive
decimal with a leading digit sorts above it: so ``size <= ZERO_CEILING`` is a one-comparison
zero test that needs no float parsing (zeros padded to more than 20 decimals are not expected)."""


class _Side:
    """One side of the book; see the module docstring for what each container holds."""

    __slots__ = (
        "by_key",
        "cells",
        "ck",
        "ck_changed",
        "hi",
        "keys",
        "lo",
        "new_prices",
        "sign",
        "top_cell",
        "top_key",
    )

    def __init__(self, sign: float, lo: float = 0.0, hi: float = MAX_PRICE) -> None:
        self.sign = sign  # +1.0 for bids, -1.0 for asks: key = sign * price, higher is better
        self.lo = lo  # a new price must be strictly between lo and hi
        self.hi = hi
        self.cells: dict[str, Cell] = {}
        self.by_key: dict[float, Cell] = {}
        self.keys: list[float] = []
        self.new_prices = 0  # new price strings since the last compaction
        self.top_cell: Cell | None = None
        self.top_key = -math.inf  # -inf when empty, so any price beats it
        self.ck: TopStrings | None = None  # None: walk afresh at the next checksum
        self.ck_changed = True  # the kept strings changed since the last checksum


def _parse(px: str, side: _Side) -> float:
    """A price string as a float; ValueError unless it is a number within the side's limits."""
    try:
        value = float(px)
    except (TypeError, ValueError):
        raise ValueError(f"unusable price {excerpt(str(px), 60)}") from None
    if not side.lo < value < side.hi:  # NaN and inf never pass
        raise ValueError(
            f"unusable price {excerpt(str(px), 60)}: not between {side.lo:.10g} and {side.hi:.10g}"
        )
    return value


def _bad_size(px: str, sz: str) -> ValueError:
    return ValueError(
        f"unusable size {excerpt(str(sz), 60)} at price {excerpt(str(px), 60)}: "
        "not a decimal number"
    )


def _is_zero(size: str) -> bool:
    """True for "0" and for padded zeros such as Binance's "0.00000000"."""
    return size <= ZERO_CEILING


def _apply_levels(side: _Side, levels: Iterable[Level]) -> float:
    """Apply one side of an increment and return its best key (NaN if the side is empty).

    Hot loop: locals only, and no calls unless a price string is new to the side. Per level:
    one dict lookup, one store, one float compare.
    """
    cells = side.cells
    zero_ceiling = ZERO_CEILING
    top_cell = side.top_cell
    top_key = side.top_key
    ck = side.ck  # with checksums verified, levels at or above its floor are noted for it
    floor = top_key if ck is None or ck.floor > top_key else ck.floor
    touched = None if ck is None else ck.touched
    try:
        for level in levels:
            px = level[0]
            sz = level[1]
            if sz >= ":":  # one comparison: no NaN, inf or other word (see the module doc)
                raise _bad_size(px, sz)
            try:
                cell = cells[px]
            except KeyError:
                cell = _unknown_price(side, px, sz)
                if cell is None:  # deleting a price we never had: harmless
                    continue
            # The size as received; a zero size makes the cell stale: that is the whole delete.
            cell[0] = sz
            # Only a price coming (back) to life can rise above the best (floor <= best).
            if cell[1] >= floor:
                if touched is not None:
                    touched.append(cell)
                if cell[1] > top_key and sz > zero_ceiling:
                    top_cell = cell
                    top_key = cell[1]
    except BaseException:
        side.ck = None  # half applied: the checksum strings are walked afresh
        raise
    if touched and ck.update():  # type: ignore[union-attr]
        side.ck_changed = True
    if top_cell is not None and top_cell[0] <= zero_ceiling:
        # The best was deleted. Nothing above it is live, so the new best is below: walk down.
        while top_cell is not None and top_cell[0] <= zero_ceiling:
            top_cell = top_cell[3]
        top_key = -math.inf if top_cell is None else top_cell[1]
    side.top_cell = top_cell
    side.top_key = top_key
    if side.new_prices >= _COMPACT_EVERY:
        _compact(side)
    return math.nan if top_cell is None else top_key


def _unknown_price(side: _Side, px: str, sz: str) -> Cell | None:
    """Find or make the cell of a price string not seen before (the only parse of a price).

    A known price under a new spelling takes over the old cell. A new price gets a stale cell
    (size "0"), linked between its neighbours, that the caller brings to life; a delete of a
    price that was never there returns None.
    """
    key = _parse(px, side) * side.sign
    by_key = side.by_key
    cell = by_key.get(key)
    if cell is not None:
        del side.cells[cell[2]]
        cell[2] = px
        side.cells[px] = cell
        return cell
    if _is_zero(sz):
        if sz < "0":  # a sign, a blank or "": refused here, where it costs nothing
            raise _bad_size(px, sz)
        return None
    keys = side.keys
    i = bisect_left(keys, key)
    cell = ["0", key, px, by_key[keys[i - 1]] if i else None]
    if i < len(keys):
        by_key[keys[i]][3] = cell
    keys.insert(i, key)
    by_key[key] = cell
    side.cells[px] = cell
    side.new_prices += 1
    return cell


def _link(side: _Side, ascending: list[Cell]) -> None:
    """Make ``ascending`` (cells sorted by unique keys) the whole side, each linked below."""
    lower = None
    for cell in ascending:
        cell[3] = lower
        lower = cell
    keys = list(map(_cell_key, ascending))
    side.keys = keys
    side.by_key = dict(zip(keys, ascending, strict=True))
    side.cells = dict(zip(map(_cell_px, ascending), ascending, strict=True))
    side.new_prices = 0


def _compact(side: _Side) -> None:
    """Drop stale cells (between messages: ``_apply_levels`` holds containers in locals)."""
    by_key = side.by_key
    live = [by_key[key] for key in side.keys if by_key[key][0] > ZERO_CEILING]
    _link(side, live)


def _load(side: _Side, levels: Iterable[Level]) -> float:
    """Replace a side with a snapshot and return its best key (NaN if empty).

    The levels are applied in order to an empty side, exactly as an update would be. Keys
    already parsed for the old book are reused (a resync repeats most prices); cells are new,
    so nothing of the old book survives.
    """
    known = side.cells
    sign = side.sign
    zero_ceiling = ZERO_CEILING
    by_key: dict[float, Cell] = {}
    for level in levels:
        px = level[0]
        sz = level[1]
        old = known.get(px)
        key = _parse(px, side) * sign if old is None else old[1]
        if sz > zero_ceiling:  # not _is_zero
            if sz >= ":":
                raise _bad_size(px, sz)
            by_key[key] = [sz, key, px, None]
        elif sz < "0":  # not a zero either: a sign, a blank or ""
            raise _bad_size(px, sz)
        else:
            by_key.pop(key, None)
    fresh = sorted(by_key.values(), key=_cell_key)  # venues send sides sorted: O(n)
    _link(side, fresh)
    side.ck = None
    side.top_cell = fresh[-1] if fresh else None
    side.top_key = fresh[-1][1] if fresh else -math.inf
    return side.top_key if fresh else math.nan


def _top(side: _Side, n: int | None) -> list[tuple[float, str, str]]:
    """(key, price string, size string) of the best ``n`` live levels (all if None), best first."""
    out: list[tuple[float, str, str]] = []
    cell = side.top_cell
    if n is not None and n <= 0:
        return out
    while cell is not None:
        if cell[0] > ZERO_CEILING:  # skip stale cells
            out.append((cell[1], cell[2], cell[0]))
            if len(out) == n:
                break
        cell = cell[3]
    return out


def _depth(side: _Side) -> int:
    """Live levels on a side (a scan: the hot path does not keep a count)."""
    return sum(1 for cell in side.cells.values() if cell[0] > ZERO_CEILING)


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
        self._bids = _Side(1.0)
        self._asks = _Side(-1.0)
        self._parts: list[str] | None = None  # the checksum text's pieces, bids and asks
        self._crc = 0  # interleaved, and their CRC
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
        self.best_bid_px = _load(self._bids, bids)
        self.best_ask_px = -_load(self._asks, asks)
        self.seq_id = seq_id
        self.ts_exchange = ts_exchange

    def apply_update(
        self, bids: Iterable[Level], asks: Iterable[Level], seq_id: int = -1, ts_exchange: int = 0
    ) -> None:
        """Apply an increment: size "0" deletes, a known price takes the new size, else insert.

        Sequence checks (``prevSeqId``) are the feed's job; this records the ids it is given.
        """
        self.best_bid_px = _apply_levels(self._bids, bids)
        self.best_ask_px = -_apply_levels(self._asks, asks)
        self.seq_id = seq_id
        self.ts_exchange = ts_exchange

    def clear(self) -> None:
        """Empty the book and forget the sequence (used on gaps and reconnects); the price
        limits stay."""
        lo, hi = self.price_limits
        self._bids = _Side(1.0, lo, hi)
        self._asks = _Side(-1.0, lo, hi)
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
    def _best(side: _Side) -> tuple[float, float] | None:
        cell = side.top_cell
        if cell is None:
            return None
        return side.top_key * side.sign, float(cell[0])

    # -- depth ---------------------------------------------------------------------------------

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        """Top ``n`` bids (all when None) as (price, size), highest price first."""
        return [(key, float(sz)) for key, _, sz in _top(self._bids, n)]

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        """Top ``n`` asks (all when None) as (price, size), lowest price first."""
        return [(-key, float(sz)) for key, _, sz in _top(self._asks, n)]

    def raw_bids(self, n: int | None = None) -> list[tuple[str, str]]:
        """Top ``n`` bids as the venue's own (price, size) strings, highest first."""
        return [(px, sz) for _, px, sz in _top(self._bids, n)]

    def raw_asks(self, n: int | None = None) -> list[tuple[str, str]]:
        """Top ``n`` asks as the venue's own (price, size) strings, lowest first."""
        return [(px, sz) for _, px, sz in _top(self._asks, n)]

    def copy_levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The full book as raw strings (bids desc, asks asc), e.g. to compare with a simulator."""
        return self.raw_bids(), self.raw_asks()

    def imbalance(self, n: int = 5) -> float:
        """(bid volume - ask volume) / total over the top ``n`` levels; NaN if both are empty."""
        bid_vol = sum(float(sz) for _, _, sz in _top(self._bids, n))
        ask_vol = sum(float(sz) for _, _, sz in _top(self._asks, n))
        total = bid_vol + ask_vol
        return (bid_vol - ask_vol) / total if total > 0.0 else math.nan

    def checksum(self) -> int:
        """OKX CRC32 over the top 25 raw levels of each side (PROTOCOLS.md A.6).

        Called after every update when the venue sends a checksum. From the first call on,
        each side keeps its top levels' strings (``TopStrings``, edited by the updates that
        reach them) and the book the pieces of the interleaved text: a changed side's pieces
        are replaced by two slice assignments before the join; unchanged, the CRC is reused.
        """
        bids, asks = self._bids, self._asks
        b, a = bids.ck, asks.ck
        if b is None:
            b = bids.ck = TopStrings(bids.top_cell, CHECKSUM_DEPTH, ZERO_CEILING)
            bids.ck_changed = True
        if a is None:
            a = asks.ck = TopStrings(asks.top_cell, CHECKSUM_DEPTH, ZERO_CEILING)
            asks.ck_changed = True
        parts = self._parts
        if len(b.px) != CHECKSUM_DEPTH or len(a.px) != CHECKSUM_DEPTH:  # a shallow book
            self._parts = None
            return interleaved_checksum(b, a)
        if parts is None:
            parts = self._parts = [""] * (4 * CHECKSUM_DEPTH)
            bids.ck_changed = asks.ck_changed = True
        elif not (bids.ck_changed or asks.ck_changed):
            return self._crc
        if bids.ck_changed:
            parts[0::4] = b.px
            parts[1::4] = b.sz
            bids.ck_changed = False
        if asks.ck_changed:
            parts[2::4] = a.px
            parts[3::4] = a.sz
            asks.ck_changed = False
        self._crc = signed_crc32(":".join(parts))
        return self._crc

    @property
    def depth_bids(self) -> int:
        """Number of bid levels (counted on demand: O(levels))."""
        return _depth(self._bids)

    @property
    def depth_asks(self) -> int:
        """Number of ask levels (counted on demand: O(levels))."""
        return _depth(self._asks)

    def __len__(self) -> int:
        return _depth(self._bids) + _depth(self._asks)

    def __bool__(self) -> bool:
        """True when the book has any level (O(1), unlike ``len``)."""
        return self._bids.top_cell is not None or self._asks.top_cell is not None

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.venue}:{self.symbol} seq={self.seq_id} "
            f"bids={self.depth_bids} asks={self.depth_asks} "
            f"best={self.best_bid_px}/{self.best_ask_px})"
        )
