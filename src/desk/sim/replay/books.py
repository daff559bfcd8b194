"""Order books rebuilt from recorded ``books`` frames: the REST book of a replay, and the
snapshot a replay starting at ``--from`` begins with.

``GET /api/v5/market/books`` during a replay must answer with the book the WebSocket stream has
reached (a feed bootstraps or resyncs from it, PROTOCOLS.md A.5), with its ``seqId``. It is
rebuilt on request from the symbol's last ``books`` snapshot before the position plus the
updates after it, so the hot replay loop never parses a frame. A replay from ``--from`` that
falls between snapshots starts with a synthesised snapshot of the book at that moment (its
``seqId`` the last update's, its checksum recomputed when the recording carries checksums), so
the update after it chains on (``prevSeqId``) as recorded.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from desk.sim.okx.wire import okx_checksum

SNAPSHOT = b'"action":"snapshot"'
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

StreamKey = tuple[str, str]


class Rebuilt(msgspec.Struct):
    """A book as its frames left it: levels as received (strings), sorted best first."""

    bids: list[list[str]]
    asks: list[list[str]]
    ts: str
    seq_id: int
    checksummed: bool


def rebuild(payloads: Iterable[bytes]) -> Rebuilt:
    """Apply ``books`` frames (a snapshot first) in order: size "0" deletes a level."""
    bids: dict[str, list[str]] = {}
    asks: dict[str, list[str]] = {}
    ts, seq_id, checksummed = "0", -1, False
    for payload in payloads:
        if SNAPSHOT in payload[:200]:
            bids.clear()
            asks.clear()
        for entry in _decode(payload).get("data", ()):
            for side, levels in ((bids, entry.get("bids", ())), (asks, entry.get("asks", ()))):
                for level in levels:
                    if float(level[1]) == 0.0:
                        side.pop(level[0], None)
                    else:
                        side[level[0]] = level
            ts = str(entry.get("ts", ts))
            seq_id = int(entry.get("seqId", seq_id))
            checksummed = checksummed or bool(entry.get("checksum"))
    return Rebuilt(
        bids=sorted(bids.values(), key=lambda lv: -float(lv[0])),
        asks=sorted(asks.values(), key=lambda lv: float(lv[0])),
        ts=ts,
        seq_id=seq_id,
        checksummed=checksummed,
    )


def snapshot_frame(symbol: str, book: Rebuilt) -> bytes:
    """A ``books`` snapshot push of ``book`` (checksum recomputed when the stream had them)."""
    checksum = okx_checksum(book.bids, book.asks) if book.checksummed else 0
    entry = {
        "asks": book.asks,
        "bids": book.bids,
        "ts": book.ts,
        "checksum": checksum,
        "prevSeqId": -1,
        "seqId": book.seq_id,
    }
    push = {"arg": {"channel": "books", "instId": symbol}, "action": "snapshot", "data": [entry]}
    return _encode(push)


class BookIndex:
    """Where each symbol's ``books`` frames sit in a timeline (``keys``/``payloads`` lists)."""

    def __init__(self, keys: Sequence[StreamKey], payloads: Sequence[bytes]) -> None:
        self.payloads = payloads
        self.frames: dict[str, list[int]] = {}
        self.snapshots: dict[str, list[int]] = {}
        for i, (channel, symbol) in enumerate(keys):
            if channel != "books":
                continue
            self.frames.setdefault(symbol, []).append(i)
            if SNAPSHOT in payloads[i][:200]:
                self.snapshots.setdefault(symbol, []).append(i)

    def snapshot_push(self, symbol: str, position: int) -> bytes | None:
        """A ``books`` snapshot push of the book after the frames before ``position`` (what
        OKX sends on a (re)subscribe), or None when no snapshot precedes it."""
        found = self._frames_upto(symbol, position)
        return None if found is None else snapshot_frame(symbol, rebuild(found))

    def _frames_upto(self, symbol: str, position: int) -> list[bytes] | None:
        snaps = self.snapshots.get(symbol, [])
        k = bisect_right(snaps, position - 1)
        if k == 0:
            return None
        frames = self.frames[symbol]
        lo = bisect_right(frames, snaps[k - 1] - 1)
        hi = bisect_right(frames, position - 1)
        return [self.payloads[i] for i in frames[lo:hi]]

    def book(self, symbol: str, position: int, depth: int) -> dict[str, Any] | None:
        """The ``books`` REST data entry after the frames before ``position``, or None when no
        snapshot of ``symbol`` precedes it."""
        found = self._frames_upto(symbol, position)
        if found is None:
            return None
        book = rebuild(found)
        return {
            "asks": book.asks[:depth],
            "bids": book.bids[:depth],
            "ts": book.ts,
            "seqId": book.seq_id,
        }
