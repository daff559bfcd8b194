"""OKX's legacy CRC32 book checksum (PROTOCOLS.md A.6).

OKX now sends ``checksum: 0`` (skip validation then); the simulator can still be asked for real
values, so desk computes it exactly as the old docs describe: the top ``depth`` bids and asks
interleaved as ``bidpx:bidsz:askpx:asksz:...`` (a shorter side simply contributes nothing for
the missing rows), CRC32 of that text, read as a signed 32-bit integer.

The strings must be the exchange's own, byte for byte: re-formatting a float ("8477" vs
"8477.0", or scientific notation) changes the CRC. That is why the book keeps raw strings.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

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


def signed_crc32(text: str) -> int:
    """CRC32 of ``text`` (UTF-8) as OKX reports it: a signed 32-bit integer."""
    crc = zlib.crc32(text.encode())
    return crc - _WRAP if crc >= _SIGN_BIT else crc
