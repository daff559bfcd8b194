"""Binance diff-depth frames and REST depth snapshots as ``incremental_book_L2`` rows.

Wire (PROTOCOLS.md B.2, B.3): a combined-stream ``depthUpdate``
``{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT",
"U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}`` is an update row per level
(``amount`` 0 deletes), ``timestamp`` = ``E``, ``seq_id`` = ``u`` and ``prev_seq_id`` =
``U - 1`` (the update id it follows: the chain holds while ``prev_seq_id`` <= the last applied
``seq_id`` < ``seq_id``). A ``GET /api/v3/depth`` reply ``{"lastUpdateId":160,"bids":[...],
"asks":[...]}`` and a partial-depth push (``<s>@depth5``...) are ``is_snapshot`` rows with
``seq_id`` = ``lastUpdateId``, ``prev_seq_id`` -1, ``timestamp`` = the receive time (they carry
none). Rebuilding a book the Binance way: load a snapshot, skip updates with ``seq_id`` <= its
``seq_id``, apply the rest in order. Runs in the writer thread; symbols are desk's names.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from desk.storage.recording.l2_rows import ASK, BID, L2Rows

DEPTH_PATH = "/api/v3/depth"

Level = tuple[float, float]


class _Depth(msgspec.Struct):
    """A ``depthUpdate`` or a partial book (``lastUpdateId``), whichever the payload is."""

    E: int = 0
    s: str = ""
    U: int = -1
    u: int = -1
    b: list[Level] = []
    a: list[Level] = []
    lastUpdateId: int = -1
    bids: list[Level] = []
    asks: list[Level] = []


class _Frame(msgspec.Struct):
    data: _Depth


_frame = msgspec.json.Decoder(_Frame, strict=False).decode
_depth = msgspec.json.Decoder(_Depth, strict=False).decode


def is_depth_stream(stream: bytes) -> bool:
    """``btcusdt@depth@100ms``, ``btcusdt@depth``, ``btcusdt@depth5@100ms``: yes."""
    return b"@depth" in stream


def add_frame(
    rows: L2Rows, payload: bytes, stream: bytes, recv_ns: int, desk: Callable[[str], str]
) -> None:
    """Add the rows of one combined-stream depth frame; ``desk`` maps ``BTCUSDT`` to desk's
    name. A frame that does not decode adds nothing (the feed refused it too)."""
    try:
        depth = _frame(payload).data
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    native = depth.s or stream.split(b"@", 1)[0].decode(errors="replace")
    _add(rows, desk(native), depth, recv_ns)


def add_rest_depth(
    rows: L2Rows, native: str, payload: bytes, recv_ns: int, desk: Callable[[str], str]
) -> None:
    """Add a ``GET /api/v3/depth`` reply (the feed's bootstrap snapshot) as snapshot rows."""
    try:
        depth = _depth(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    if depth.lastUpdateId >= 0:
        _add(rows, desk(native), depth, recv_ns)


def _add(rows: L2Rows, symbol: str, d: _Depth, recv_ns: int) -> None:
    local_us = recv_ns // 1_000
    if d.lastUpdateId >= 0:  # a whole book
        snapshot, ts_us, seq, prev = True, local_us, d.lastUpdateId, -1
        sides = ((BID, d.bids), (ASK, d.asks))
    else:
        snapshot, ts_us, seq, prev = False, d.E * 1_000, d.u, d.U - 1
        sides = ((BID, d.b), (ASK, d.a))
    for side, levels in sides:
        if levels:
            prices, amounts = zip(*levels, strict=True)
            rows.add(symbol, ts_us, local_us, snapshot, side, prices, amounts, seq, prev)
