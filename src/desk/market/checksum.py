"""OKX's legacy CRC32 book checksum (PROTOCOLS.md A.6).

OKX now sends ``checksum: 0`` (skip validation then); the simulator can still be asked for real
values, so desk computes it exactly as the old docs describe: the top ``depth`` bids and asks
interleaved as ``bidpx:bidsz:askpx:asksz:...`` (a shorter side simply contributes nothing for
the missing rows), CRC32 of that text, read as a signed 32-bit integer.

The strings must be the exchange's own, byte for byte: re-formatting a float ("8477" vs
"8477.0", or scientific notation) changes the CRC. That is why the book keeps raw strings.

``OrderBook.checksum`` keeps each side's ``"px:sz"`` pieces between messages (``TopStrings``,
edited only where a message touched its top ``depth`` levels) and joins the two sides' pieces
interleaved; :func:`okx_checksum` is the plain definition over level lists.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

try:  # zlib-ng's CRC32 is the same function, about 6x faster over a 1 kB text (PCLMUL)
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - a dependency (pyproject.toml); plain zlib else
    from zlib import crc32

Level = Sequence[str]
"""A raw level: at least ``(price, size)`` as strings; OKX adds ``"0"`` and the order count."""

SIGN_BIT = 1 << 31
WRAP = 1 << 32


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
    :func:`okx_checksum` builds; ``OrderBook.checksum`` edits a kept list of pieces instead
    when both sides are full)."""
    pieces = [p for row in zip_longest(bids.pieces, asks.pieces) for p in row if p is not None]
    return signed_crc32(":".join(pieces))


class TopStrings:
    """The ``"px:sz"`` pieces of one ``OrderBook`` side's best ``depth`` live levels, kept in
    step with updates instead of walked again for every checksum.

    Book cells are ``[size, key, price, lower]`` (key: higher is better; a size <=
    ``zero_ceiling`` marks a deleted, stale cell; ``lower`` links the next cell down). Only a
    level at or above ``floor``, the key of the last kept level (-inf while fewer are kept),
    can change the kept pieces. The book's apply loops hold the floor of the message start and
    hand every level they change at or above it to :meth:`note` (or make the same edit inline:
    ``book_side.apply_named_noting``) in its state at that moment; a size change of a kept level
    is one new piece found by bisection, a level coming or going an insert or a delete. After a
    message that moved levels in or out, :meth:`settle` cuts the lists back to ``depth`` or
    refills them from below the old floor. One piece per level, price and size already joined,
    halves what the checksum joins per message.
    """

    __slots__ = ("cells", "depth", "floor", "neg_keys", "pieces", "zero_ceiling")

    def __init__(self, top: list[Any] | None, depth: int, zero_ceiling: str) -> None:
        self.depth = depth
        self.zero_ceiling = zero_ceiling
        self.rebuild(top)

    def rebuild(self, top: list[Any] | None) -> None:
        """Walk down from the side's best cell ``top``."""
        self.cells: list[list[Any]] = []
        self.neg_keys: list[float] = []  # -key of each kept cell: ascending, for bisect
        self.pieces: list[str] = []  # "px:sz" of each kept cell, best first
        self._extend(top)

    def _extend(self, cell: list[Any] | None) -> None:
        """Append live cells from ``cell`` down until ``depth`` are kept; set the floor."""
        cells, neg_keys, pieces = self.cells, self.neg_keys, self.pieces
        zero_ceiling = self.zero_ceiling
        while cell is not None and len(cells) < self.depth:
            if cell[0] > zero_ceiling:
                cells.append(cell)
                neg_keys.append(-cell[1])
                pieces.append(f"{cell[2]}:{cell[0]}")
            cell = cell[3]
        self.floor = cells[-1][1] if len(cells) == self.depth else -math.inf

    def note(self, cell: list[Any]) -> bool:
        """Follow one level changed at or above the floor; True when it came or went (then
        :meth:`settle` is due once the message is applied)."""
        cells = self.cells
        neg_key = -cell[1]
        i = bisect_left(self.neg_keys, neg_key)
        if i < len(cells) and cells[i] is cell:
            if cell[0] > self.zero_ceiling:  # a new size (or spelling) of a kept level
                self.pieces[i] = f"{cell[2]}:{cell[0]}"
                return False
            del cells[i], self.neg_keys[i], self.pieces[i]
            return True
        if cell[0] > self.zero_ceiling:
            cells.insert(i, cell)
            self.neg_keys.insert(i, neg_key)
            self.pieces.insert(i, f"{cell[2]}:{cell[0]}")
            return True
        return False  # a level deleted that was not kept

    def settle(self, last: list[Any] | None) -> None:
        """Back to ``depth`` pieces after levels came or went; ``last``: the last kept cell
        before the message (a refill walks down from below it, the old floor)."""
        cells, neg_keys, pieces = self.cells, self.neg_keys, self.pieces
        depth = self.depth
        if len(cells) > depth:
            del cells[depth:], neg_keys[depth:], pieces[depth:]
        if len(cells) < depth and last is not None and self.floor > -math.inf:
            self._extend(last[3])  # refill from below the old floor
        else:
            self.floor = cells[-1][1] if len(cells) == depth else -math.inf


def signed_crc32(text: str) -> int:
    """CRC32 of ``text`` (UTF-8) as OKX reports it: a signed 32-bit integer."""
    crc = crc32(text.encode())
    return crc - WRAP if crc >= SIGN_BIT else crc
