"""One side of an ``OrderBook``: its layout and the loops that apply levels to it.

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
  revived in place, and stale cells are dropped in bulk after ``COMPACT_EVERY`` new prices.
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
from typing import Protocol

from desk.core.excerpt import excerpt
from desk.market.checksum import TopStrings

Level = Sequence[str]
"""A raw level as the venue sends it: ``(price, size, ...)``, all strings."""

Cell = list  # [size: str, key: float, price: str, lower: Cell | None], changed in place


class NamedLevel(Protocol):
    """A level whose price and size strings are its attributes ``px`` and ``sz`` (OKX's
    decoded levels): read by attribute, which is cheaper than by index or by unpacking."""

    @property
    def px(self) -> str: ...
    @property
    def sz(self) -> str: ...


_cell_key = itemgetter(1)
_cell_px = itemgetter(2)

CHECKSUM_DEPTH = 25
MAX_PRICE = 1e12
"""The default upper price limit (see ``OrderBook.set_price_limits``)."""
COMPACT_EVERY = 1024  # drop stale cells after this many new cells (bounds memory)

ZERO_CEILING = "0." + "0" * 20
"""Every spelling of zero ("0", "0.0", "0.00000000", ...) sorts <= this string, and every positive
decimal with a leading digit sorts above it: so ``size <= ZERO_CEILING`` is a one-comparison
zero test that needs no float parsing (zeros padded to more than 20 decimals are not expected)."""


class BookSide:
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


def parse_price(px: str, side: BookSide) -> float:
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


def bad_size(px: str, sz: str) -> ValueError:
    return ValueError(
        f"unusable size {excerpt(str(sz), 60)} at price {excerpt(str(px), 60)}: "
        "not a decimal number"
    )


def is_zero(size: str) -> bool:
    """True for "0" and for padded zeros such as Binance's "0.00000000"."""
    return size <= ZERO_CEILING


def apply_levels(side: BookSide, levels: Iterable[Level]) -> float:
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
    last = ck.cells[-1] if ck is not None and ck.cells else None
    noted = moved = False
    try:
        for level in levels:
            px = level[0]
            sz = level[1]
            if sz >= ":":  # one comparison: no NaN, inf or other word (see the module doc)
                raise bad_size(px, sz)
            try:
                cell = cells[px]
            except KeyError:
                cell = unknown_price(side, px, sz)
                if cell is None:  # deleting a price we never had: harmless
                    continue
            # The size as received; a zero size makes the cell stale: that is the whole delete.
            cell[0] = sz
            # Only a price coming (back) to life can rise above the best (floor <= best).
            if cell[1] >= floor:
                if ck is not None:
                    noted = True
                    if ck.note(cell):
                        moved = True
                if cell[1] > top_key and sz > zero_ceiling:
                    top_cell = cell
                    top_key = cell[1]
    except BaseException:
        side.ck = None  # half applied: the checksum strings are walked afresh
        raise
    if noted:
        side.ck_changed = True
        if moved:
            ck.settle(last)  # type: ignore[union-attr]
    return settle_top(side, top_cell, top_key)


def apply_pairs(side: BookSide, levels: Iterable[tuple[str, str]]) -> float:
    """``apply_levels`` for ``(price, size)`` pairs on a side without checksum strings: per
    level one unpack, one size check, one dict lookup, one store, one key comparison."""
    cells = side.cells
    zero_ceiling = ZERO_CEILING
    top_cell = side.top_cell
    top_key = side.top_key
    for px, sz in levels:
        if sz >= ":":
            raise bad_size(px, sz)
        try:
            cell = cells[px]
        except KeyError:
            cell = unknown_price(side, px, sz)
            if cell is None:
                continue
        cell[0] = sz
        if cell[1] > top_key and sz > zero_ceiling:  # nothing above the best is live
            top_cell = cell
            top_key = cell[1]
    return settle_top(side, top_cell, top_key)


def apply_named_noting(
    bid_side: BookSide,
    ask_side: BookSide,
    bids: Iterable[NamedLevel],
    asks: Iterable[NamedLevel],
) -> tuple[float, float]:
    """``apply_levels`` for ``NamedLevel`` levels on two sides that keep their checksum strings
    (``side.ck``; ``OrderBook.apply_named`` has the loop for sides that keep none); returns
    both sides' best keys (NaN for an empty side), as ``settle_top`` does.

    The checksum's hot path: the edit ``TopStrings.note`` makes for a level at or above the
    kept floor is made inline here (a size change of a kept level is one bisection and one new
    piece; noting the levels and following them in a second pass cost about 0.5 us more a
    message in ``bench/feed_throughput.py``), and so is the usual ``TopStrings.settle`` (a
    level in too many: the lists cut back). Both sides in one call. The floor is at or below
    the best, so the comparison that finds a new best is made under it;
    ``tests/market/test_book_named.py`` holds this loop to ``apply_update``.
    """
    zero_ceiling = ZERO_CEILING
    side = bid_side
    best_bid = math.nan
    for levels in (bids, asks):
        ck = side.ck
        assert ck is not None
        cells = side.cells
        top_cell = side.top_cell
        top_key = side.top_key
        floor = top_key if ck.floor > top_key else ck.floor
        kept = ck.cells
        neg_keys = ck.neg_keys
        pieces = ck.pieces
        n_kept = len(kept)
        last = kept[-1] if n_kept else None
        noted = moved = False
        try:
            for level in levels:
                sz = level.sz
                if sz >= ":":
                    raise bad_size(level.px, sz)
                try:
                    cell = cells[level.px]
                except KeyError:
                    cell = unknown_price(side, level.px, sz)
                    if cell is None:
                        continue
                cell[0] = sz
                if cell[1] < floor:
                    continue
                noted = True
                key = cell[1]
                i = bisect_left(neg_keys, -key)
                if i < n_kept and kept[i] is cell:
                    if sz > zero_ceiling:  # a new size (or spelling) of a kept level
                        pieces[i] = f"{cell[2]}:{sz}"
                        continue
                    del kept[i], neg_keys[i], pieces[i]
                    n_kept -= 1
                    moved = True
                elif sz > zero_ceiling:  # a level coming (back) to life among the kept ones
                    kept.insert(i, cell)
                    neg_keys.insert(i, -key)
                    pieces.insert(i, f"{cell[2]}:{sz}")
                    n_kept += 1
                    moved = True
                    if key > top_key:
                        top_cell = cell
                        top_key = key
        except BaseException:
            bid_side.ck = ask_side.ck = None  # half applied: the strings are walked afresh
            raise
        if noted:
            side.ck_changed = True
            if moved:
                depth = ck.depth
                if n_kept > depth:  # levels came in: the lists cut back to depth
                    del kept[depth:], neg_keys[depth:], pieces[depth:]
                    ck.floor = kept[-1][1]
                else:
                    ck.settle(last)
        if top_cell is None or top_cell[0] <= zero_ceiling or side.new_prices >= COMPACT_EVERY:
            top_key = settle_top(side, top_cell, top_key)
        else:
            side.top_cell = top_cell  # the best is live and no compaction is due: as it is
            side.top_key = top_key
        if side is bid_side:
            best_bid = top_key
            side = ask_side
    return best_bid, top_key


def settle_top(side: BookSide, top_cell: Cell | None, top_key: float) -> float:
    """Store a side's best after an increment and return its key (NaN when empty).

    ``top_cell`` is the best seen while applying. If it was deleted, nothing above it is live,
    so the new best is below: walk down. Also compacts the side when enough cells went stale;
    the one tail of every apply loop, including the venues' own (``feeds/coinbase/levels.py``).
    """
    if top_cell is not None and top_cell[0] <= ZERO_CEILING:
        while top_cell is not None and top_cell[0] <= ZERO_CEILING:
            top_cell = top_cell[3]
        top_key = -math.inf if top_cell is None else top_cell[1]
    side.top_cell = top_cell
    side.top_key = top_key
    if side.new_prices >= COMPACT_EVERY:
        compact(side)
    return math.nan if top_cell is None else top_key


def unknown_price(side: BookSide, px: str, sz: str) -> Cell | None:
    """Find or make the cell of a price string not seen before (the only parse of a price).

    A known price under a new spelling takes over the old cell. A new price gets a stale cell
    (size "0"), linked between its neighbours, that the caller brings to life; a delete of a
    price that was never there returns None.
    """
    key = parse_price(px, side) * side.sign
    by_key = side.by_key
    cell = by_key.get(key)
    if cell is not None:
        del side.cells[cell[2]]
        cell[2] = px
        side.cells[px] = cell
        return cell
    if is_zero(sz):
        if sz < "0":  # a sign, a blank or "": refused here, where it costs nothing
            raise bad_size(px, sz)
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


def link(side: BookSide, ascending: list[Cell]) -> None:
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


def compact(side: BookSide) -> None:
    """Drop stale cells (between messages: ``apply_levels`` holds containers in locals)."""
    by_key = side.by_key
    live = [by_key[key] for key in side.keys if by_key[key][0] > ZERO_CEILING]
    link(side, live)


def load(side: BookSide, levels: Iterable[Level]) -> float:
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
        key = parse_price(px, side) * sign if old is None else old[1]
        if sz > zero_ceiling:  # not is_zero
            if sz >= ":":
                raise bad_size(px, sz)
            by_key[key] = [sz, key, px, None]
        elif sz < "0":  # not a zero either: a sign, a blank or ""
            raise bad_size(px, sz)
        else:
            by_key.pop(key, None)
    fresh = sorted(by_key.values(), key=_cell_key)  # venues send sides sorted: O(n)
    link(side, fresh)
    side.ck = None
    side.top_cell = fresh[-1] if fresh else None
    side.top_key = fresh[-1][1] if fresh else -math.inf
    return side.top_key if fresh else math.nan


def top_levels(side: BookSide, n: int | None) -> list[tuple[float, str, str]]:
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


def live_depth(side: BookSide) -> int:
    """Live levels on a side (a scan: the hot path does not keep a count)."""
    return sum(1 for cell in side.cells.values() if cell[0] > ZERO_CEILING)
