"""Coinbase ``level2`` messages as ``incremental_book_L2`` rows (PROTOCOLS.md C).

``{"channel":"l2_data","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":7,
"events":[{"type":"snapshot"|"update","product_id":"BTC-USD","updates":[{"side":"bid",
"event_time":"...","price_level":"21921.73","new_quantity":"0.06317902"}]}]}``: an event of
type ``snapshot`` is ``is_snapshot`` rows (the whole book), an ``update`` a row per level
(``new_quantity`` 0 deletes). ``side`` ``bid`` is a bid, anything else (``offer``) an ask;
``timestamp`` is the message's ``timestamp``.

Sequence ids: Coinbase numbers the messages of a *connection* (every channel, heartbeats
included), not a symbol's book changes. ``seq_id`` is the message's ``sequence_num`` and
``prev_seq_id`` the ``sequence_num`` of the message received just before it on the same
connection (-1 for the first one of a connection as far as the recording shows, and when the
number went down: a new connection). ``prev_seq_id + 1 == seq_id`` means nothing was lost
right before this message. :class:`Sequences` keeps the last number per connection across
batches; :func:`note_sequence` feeds it the other channels' messages.
"""

from __future__ import annotations

import re

import msgspec

from desk.feeds.coinbase.symbols import to_desk
from desk.feeds.coinbase.timestamps import parse_ns
from desk.storage.recording.l2_rows import ASK, BID, L2Rows

L2_CHANNEL = b"l2_data"
_SEQUENCE = re.compile(rb'"sequence_num":(\d{1,19})')


class _Level(msgspec.Struct, gc=False):
    side: str
    price_level: float
    new_quantity: float


class _Event(msgspec.Struct, gc=False):
    type: str
    product_id: str
    updates: list[_Level]


class _Message(msgspec.Struct, gc=False):
    events: list[_Event]
    timestamp: str = ""
    sequence_num: int = -1


_decode = msgspec.json.Decoder(_Message, strict=False).decode


class Sequences:
    """The last ``sequence_num`` seen per connection (writer thread only)."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def follow(self, conn: str, seq: int) -> int:
        """Note ``seq`` on ``conn``; the number it follows (-1: none, or a new connection)."""
        if seq < 0:
            return -1
        prev = self.last.get(conn, -1)
        self.last[conn] = seq
        return prev if prev < seq else -1


def note_sequence(sequences: Sequences, conn: str, payload: bytes) -> None:
    """A message of another channel (heartbeats, trades): only its number counts."""
    match = _SEQUENCE.search(payload, 0, 300)
    if match is not None:
        sequences.follow(conn, int(match.group(1)))


def add_message(
    rows: L2Rows, sequences: Sequences, conn: str, payload: bytes, recv_ns: int
) -> None:
    """Add the rows of one ``l2_data`` message. A message that does not decode adds nothing
    (the feed refused it too)."""
    try:
        msg = _decode(payload)
        ts_ns = parse_ns(msg.timestamp) if msg.timestamp else recv_ns
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        note_sequence(sequences, conn, payload)
        return
    seq = msg.sequence_num
    prev = sequences.follow(conn, seq)
    local_us = recv_ns // 1_000
    ts_us = ts_ns // 1_000
    for event in msg.events:
        snapshot = event.type == "snapshot"
        symbol = to_desk(event.product_id)
        bid_p: list[float] = []
        bid_a: list[float] = []
        ask_p: list[float] = []
        ask_a: list[float] = []
        for level in event.updates:
            if level.side == "bid":
                bid_p.append(level.price_level)
                bid_a.append(level.new_quantity)
            else:
                ask_p.append(level.price_level)
                ask_a.append(level.new_quantity)
        if bid_p:
            rows.add(symbol, ts_us, local_us, snapshot, BID, bid_p, bid_a, seq, prev)
        if ask_p:
            rows.add(symbol, ts_us, local_us, snapshot, ASK, ask_p, ask_a, seq, prev)
