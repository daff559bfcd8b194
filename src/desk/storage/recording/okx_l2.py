"""OKX book pushes (and REST book replies) as ``incremental_book_L2`` rows, off the event loop.

The recorder keeps the frames the feed received; this turns the book ones into the one book
schema every venue shares (:data:`~desk.storage.recording.schema.BOOKS`): a ``books`` snapshot
or a ``books5``/``bbo-tbt`` push is ``is_snapshot`` rows (the whole book), an update is a row
per changed level with ``amount`` 0 for a delete; every row keeps the push's ``seqId`` and
``prevSeqId`` so a reader can see where the chain breaks (the gap rows say why). It runs in the
recorder's writer thread: the feed's hot path pays nothing for it. Wire format: PROTOCOLS.md A.5.

Levels decode straight into float tuples (``strict=False`` turns ``"8476.98"`` into a float in
msgspec's C code); ``zip(*levels)`` splits them into the price and amount columns.
"""

from __future__ import annotations

import msgspec

from desk.storage.recording.l2_rows import ASK, BID, L2Rows

BOOK_CHANNELS = (b"books", b"books5", b"bbo-tbt")
BOOKS_PATH = "/api/v5/market/books"

Level = tuple[float, ...]  # price, size, "0", orders


class _Arg(msgspec.Struct):
    instId: str


class _Data(msgspec.Struct):
    asks: list[Level]
    bids: list[Level]
    ts: int
    seqId: int = -1
    prevSeqId: int = -1


class _Push(msgspec.Struct):
    arg: _Arg
    data: list[_Data]
    action: str = ""


class _Reply(msgspec.Struct):
    data: list[_Data]


_push = msgspec.json.Decoder(_Push, strict=False).decode
_reply = msgspec.json.Decoder(_Reply, strict=False).decode


def add_push(rows: L2Rows, payload: bytes, recv_ns: int) -> None:
    """Add the L2 rows of one ``books``/``books5``/``bbo-tbt`` push. A frame that does not
    decode adds nothing (the feed refused it too)."""
    try:
        push = _push(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    snapshot = push.action != "update"  # books5 / bbo-tbt have no action: whole books
    _add(rows, push.arg.instId, push.data, snapshot, recv_ns)


def add_rest_book(rows: L2Rows, symbol: str, payload: bytes, recv_ns: int) -> None:
    """Add a ``GET /api/v5/market/books`` reply as snapshot rows (a REST bootstrap)."""
    try:
        reply = _reply(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    _add(rows, symbol, reply.data[:1], True, recv_ns)


def _add(rows: L2Rows, symbol: str, data: list[_Data], snapshot: bool, recv_ns: int) -> None:
    local_us = recv_ns // 1_000
    for d in data:
        ts_us = d.ts * 1_000
        for side, levels in ((BID, d.bids), (ASK, d.asks)):
            if levels:
                columns = list(zip(*levels, strict=False))
                if len(columns) >= 2:  # a level without a size: that side is unusable
                    prices, amounts = columns[0], columns[1]
                    rows.add(
                        symbol,
                        ts_us,
                        local_us,
                        snapshot,
                        side,
                        prices,
                        amounts,
                        d.seqId,
                        d.prevSeqId,
                    )
