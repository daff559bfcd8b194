"""OKX's legacy CRC32 book checksum (PROTOCOLS.md A.6).

OKX now sends ``checksum: 0`` (skip validation then); the simulator can still be asked for real
values, so desk computes it exactly as the old docs describe: the top ``depth`` bids and asks
interleaved as ``bidpx:bidsz:askpx:asksz:...`` (a shorter side simply contributes nothing for
the missing rows), CRC32 of that text, read as a signed 32-bit integer.

The strings must be the exchange's own, byte for byte: re-formatting a float ("8477" vs
"8477.0", or scientific notation) changes the CRC. That is why the book keeps raw strings.

``OrderBook.checksum`` keeps each side's ``"px:sz"`` strings between messages and rebuilds a
side only when a message touched its top ``depth`` levels (:func:`interleaved_checksum` then
joins the two lists); :func:`okx_checksum` is the plain definition over level lists.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_left
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

Level = Sequence[str]
"""A raw level: at least ``(price, size)`` as strings; OKX adds ``"0"`` and the order count."""

_SIGN_BIT = 1 << 31
_WRAP = 1 << 32


def okx_checksum(bids: Sequence[Level], asks: Sequence[Level], depth: int = 25) -> int:
    """Signed CRC32 of the interleaved top ``depth`` levels; bids descending, asks ascending."""
    parts: list[str] = []
    append = parts.append
    n_bids = min(len(bids), depth)
    n_asks = min(len(asks), depth)
    for i in range(max(n_bids, n_asks)):
        if i < n_bids:
            level = bids[i]
            append(level[0])
            append(level[1])
        if i < n_asks:
            level = asks[i]
            append(level[0])
            append(level[1])
    return signed_crc32(":".join(parts))


def interleaved_checksum(bids: TopStrings, asks: TopStrings) -> int:
    """The checksum of two sides' kept strings, for sides of any length (the same text as
    :func:`okx_checksum` builds; ``OrderBook.checksum`` edits a kept text in place instead
    when both sides are full)."""
    pairs = zip_longest(zip(bids.px, bids.sz, strict=True), zip(asks.px, asks.sz, strict=True))
    parts = [p for row in pairs for level in row if level is not None for p in level]
    return signed_crc32(":".join(parts))


class TopStrings:
    """The raw price and size strings of one ``OrderBook`` side's best ``depth`` live levels,
    kept in step with updates instead of walked again for every checksum.

    Book cells are ``[size, key, price, lower]`` (key: higher is better; a size <=
    ``zero_ceiling`` marks a deleted, stale cell; ``lower`` links the next cell down). Only a
    level at or above ``floor``, the key of the last kept level (-inf while fewer are kept),
    can change the kept strings: :meth:`update` looks at those alone and edits the lists in
    place (a size change is one store; a level coming or going is an insert or delete found by
    bisection, then a cut back to ``depth`` or a refill from below the old floor).
    """

    __slots__ = ("cells", "depth", "floor", "neg_keys", "px", "sz", "touched", "zero_ceiling")

    def __init__(self, top: list[Any] | None, depth: int, zero_ceiling: str) -> None:
        self.depth = depth
        self.zero_ceiling = zero_ceiling
        self.touched: list[list[Any]] = []  # the book notes cells changed at or above floor
        self.rebuild(top)

    def rebuild(self, top: list[Any] | None) -> None:
        """Walk down from the side's best cell ``top``."""
        self.cells: list[list[Any]] = []
        self.neg_keys: list[float] = []  # -key of each kept cell: ascending, for bisect
        self.px: list[str] = []
        self.sz: list[str] = []
        self._extend(top)

    def _extend(self, cell: list[Any] | None) -> None:
        """Append live cells from ``cell`` down until ``depth`` are kept; set the floor."""
        cells, neg_keys, px, sz = self.cells, self.neg_keys, self.px, self.sz
        zero_ceiling = self.zero_ceiling
        while cell is not None and len(cells) < self.depth:
            if cell[0] > zero_ceiling:
                cells.append(cell)
                neg_keys.append(-cell[1])
                px.append(cell[2])
                sz.append(cell[0])
            cell = cell[3]
        self.floor = cells[-1][1] if len(cells) == self.depth else -math.inf

    def update(self) -> bool:
        """Follow the cells the book noted in ``touched`` (changed at or above the floor, in
        their final state) and forget them; True when the kept strings changed."""
        cells, neg_keys, px, sz = self.cells, self.neg_keys, self.px, self.sz
        last = cells[-1] if cells else None
        floor = self.floor
        zero_ceiling = self.zero_ceiling
        for cell in self.touched:
            key = cell[1]
            i = bisect_left(neg_keys, -key)
            kept = i < len(cells) and cells[i] is cell
            if cell[0] > zero_ceiling:
                if kept:  # a new size (or spelling) of a kept level
                    px[i] = cell[2]
                    sz[i] = cell[0]
                else:
                    cells.insert(i, cell)
                    neg_keys.insert(i, -key)
                    px.insert(i, cell[2])
                    sz.insert(i, cell[0])
            elif kept:
                del cells[i], neg_keys[i], px[i], sz[i]
        self.touched.clear()
        depth = self.depth
        if len(cells) > depth:
            del cells[depth:], neg_keys[depth:], px[depth:], sz[depth:]
        if len(cells) < depth and last is not None and floor > -math.inf:
            self._extend(last[3])  # refill from below the old floor
        else:
            self.floor = cells[-1][1] if len(cells) == depth else -math.inf
        return True


def signed_crc32(text: str) -> int:
    """CRC32 of ``text`` (UTF-8) as OKX reports it: a signed 32-bit integer."""
    crc = zlib.crc32(text.encode())
    return crc - _WRAP if crc >= _SIGN_BIT else crc
