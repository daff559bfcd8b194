"""A recording's Coinbase frames as one replayable timeline, and the level2 book at any point.

``load_coinbase(path, start_ns, end_ns, symbols)`` reads ``venue=coinbase/kind=raw`` and keeps
the market messages (``l2_data``, ``market_trades``, ``ticker``, ``ticker_batch``,
``candles``, ``heartbeats``) in ``recv_ns`` order, keyed by the subscription that brings them
(``("level2", "BTC-USD")``, ``("heartbeats", "")``). ``subscriptions`` acks and errors are the
recording session's own answers and are left out: the replay server sends its own.

``sequence_num`` counts the messages of one connection (PROTOCOLS.md C), so the recorded
numbers cannot be sent as they are: the server renumbers each connection's messages from 0
(``Renumber``), and ``heartbeat_counter`` with them. Every frame up to ``end_ns`` is kept;
``start`` is the index the players begin at, and the frames before it rebuild the book a
``level2`` subscribe there starts with (``book_at``): the last recorded ``snapshot`` of the
product before the position plus the updates since.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from desk.sim.replay.files import RecordingError, read_raw

VENUE = "coinbase"
HEARTBEATS = "heartbeats"
SUBSCRIPTION_OF = {
    "l2_data": "level2",
    "market_trades": "market_trades",
    "ticker": "ticker",
    "ticker_batch": "ticker_batch",
    "candles": "candles",
    HEARTBEATS: HEARTBEATS,
}
_CHANNEL_RE = re.compile(rb'^\{"channel":"([a-z_0-9]+)"')
_PRODUCT_RE = re.compile(rb'"product_id":"([^"]+)"')
_SEQ_RE = re.compile(rb'"sequence_num":\d+')
_BEAT_RE = re.compile(rb'"heartbeat_counter":("?)\d+"?')
_decode = msgspec.json.Decoder().decode

StreamKey = tuple[str, str]  # (subscription channel, product id); heartbeats: ("heartbeats", "")
Level = tuple[str, str]


@dataclass
class CoinbaseTimeline:
    """Parallel lists, one entry per message, in replay order (see the module docstring)."""

    recv_ns: list[int] = field(default_factory=list)
    keys: list[StreamKey] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    start: int = 0
    products: set[str] = field(default_factory=set)
    rest: dict[str, list[tuple[int, str, bytes]]] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.payloads)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self.products))

    @property
    def played(self) -> int:
        return len(self.payloads) - self.start


def load_coinbase(
    path: str | Path,
    start_ns: int | None = None,
    end_ns: int | None = None,
    symbols: tuple[str, ...] | None = None,
) -> CoinbaseTimeline:
    """The Coinbase timeline of the recording at ``path``; ``RecordingError`` when none."""
    import pyarrow.compute as pc

    scan = read_raw(path, VENUE, None, end_ns)
    timeline = CoinbaseTimeline(skipped=scan.skipped)
    table = scan.table
    if table is None or table.num_rows == 0:
        raise RecordingError(f"{path}: the raw recording of {VENUE} holds no frames")
    if end_ns is not None:
        table = table.filter(pc.less_equal(table["recv_ns"], end_ns))
    table = table.take(pc.sort_indices(table, sort_keys=[("recv_ns", "ascending")]))
    wanted = set(symbols) if symbols else None
    columns = [table[c].to_pylist() for c in ("recv_ns", "stream", "symbol", "payload")]
    for recv_ns, stream, symbol, payload in zip(*columns, strict=True):
        if payload is None:
            continue
        if stream and stream.startswith("rest:"):
            timeline.rest.setdefault(stream[5:], []).append((recv_ns, symbol or "", payload))
            continue
        match = _CHANNEL_RE.match(payload)
        channel = SUBSCRIPTION_OF.get(match.group(1).decode()) if match else None
        if channel is None:
            continue
        product = ""
        if channel != HEARTBEATS:
            found = _PRODUCT_RE.search(payload)
            product = symbol or (found.group(1).decode() if found else "")
            if not product or (wanted is not None and product not in wanted):
                continue
            timeline.products.add(product)
        timeline.recv_ns.append(recv_ns)
        timeline.keys.append((channel, product))
        timeline.payloads.append(payload)
    if start_ns is not None:
        timeline.start = bisect_left(timeline.recv_ns, start_ns)
    if not timeline.products or timeline.played <= 0:
        within = " for the symbols asked" if wanted else ""
        raise RecordingError(f"{path}: no Coinbase market-data frames in the range asked{within}")
    return timeline


class Renumber:
    """One connection's numbering: ``sequence_num`` from 0 and ``heartbeat_counter`` from 1,
    whatever the recorded numbers were."""

    def __init__(self) -> None:
        self.next_seq = 0
        self.beats = 0

    def take(self) -> int:
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        return seq

    def __call__(self, payload: bytes) -> bytes:
        payload = _SEQ_RE.sub(b'"sequence_num":%d' % self.take(), payload, count=1)
        if payload.startswith(b'{"channel":"heartbeats"'):
            self.beats += 1
            payload = _BEAT_RE.sub(
                lambda m: b'"heartbeat_counter":%s%d%s' % (m[1], self.beats, m[1]), payload
            )
        return payload


@dataclass
class Book:
    """A product's level2 book as recorded frames left it (price string -> size string)."""

    bids: dict[str, str]
    asks: dict[str, str]
    timestamp: str

    def levels(self) -> tuple[list[Level], list[Level]]:
        bids = sorted(self.bids.items(), key=lambda lv: -float(lv[0]))
        asks = sorted(self.asks.items(), key=lambda lv: float(lv[0]))
        return bids, asks


class Books:
    """Where each product's ``l2_data`` messages sit in the timeline."""

    def __init__(self, timeline: CoinbaseTimeline) -> None:
        self.timeline = timeline
        self.frames: dict[str, list[int]] = {}
        self.snapshots: dict[str, list[int]] = {}
        for i, (channel, product) in enumerate(timeline.keys):
            if channel != "level2":
                continue
            self.frames.setdefault(product, []).append(i)
            if b'"type":"snapshot"' in timeline.payloads[i]:
                self.snapshots.setdefault(product, []).append(i)

    def book_at(self, product: str, position: int) -> Book | None:
        """The book after the frames before ``position``; None when no snapshot precedes."""
        snaps = self.snapshots.get(product, [])
        k = bisect_left(snaps, position)
        if k == 0:
            return None
        frames = self.frames[product]
        lo = bisect_left(frames, snaps[k - 1])
        hi = bisect_left(frames, position)
        book = Book({}, {}, "")
        for i in frames[lo:hi]:
            msg: dict[str, Any] = _decode(self.timeline.payloads[i])
            book.timestamp = str(msg.get("timestamp", book.timestamp))
            for event in msg.get("events", ()):
                if event.get("product_id") != product:
                    continue
                if event.get("type") == "snapshot":
                    book.bids.clear()
                    book.asks.clear()
                for update in event.get("updates", ()):
                    side = book.bids if update.get("side") == "bid" else book.asks
                    price, qty = update["price_level"], update["new_quantity"]
                    if float(qty) == 0.0:
                        side.pop(price, None)
                    else:
                        side[price] = qty
        return book
