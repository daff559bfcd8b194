"""Coinbase Advanced Trade wire shapes the simulator sends (PROTOCOLS.md C), encoded by msgspec.

Every message is ``{"channel":"l2_data","timestamp":"2023-02-09T20:32:50.714964855Z",
"sequence_num":0,"events":[...]}``. ``sequence_num`` counts the messages of one connection, so a
message is encoded once as a ``Message`` (the bytes before and after the number) and each
connection puts its own number in between. The live feed omits ``client_id`` and sends
``heartbeat_counter`` as an int (the AsyncAPI spec); ``docs_shape=True`` sends the prose docs'
``"client_id":""`` and a string counter instead, so clients are tested on both.

Structs encode their fields in declaration order, which is the order the docs show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
EPOCH_TIME = "1970-01-01T00:00:00Z"
"""``event_time`` of every snapshot level, as in the docs' example."""


class L2Update(msgspec.Struct):
    """``{"side":"bid","event_time":"...","price_level":"21921.73","new_quantity":"0.06"}``."""

    side: str
    event_time: str
    price_level: str
    new_quantity: str


class L2Event(msgspec.Struct):
    type: str
    product_id: str
    updates: list[L2Update]


class TradeEntry(msgspec.Struct):
    """``{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3",
    "side":"BUY","time":"2019-08-14T20:42:27.265Z"}``; ``side`` is the maker's."""

    trade_id: str
    product_id: str
    price: str
    size: str
    side: str
    time: str


class TradesEvent(msgspec.Struct):
    type: str
    trades: list[TradeEntry]


class TickerEntry(msgspec.Struct):
    type: str
    product_id: str
    price: str
    volume_24_h: str
    low_24_h: str
    high_24_h: str
    low_52_w: str
    high_52_w: str
    price_percent_chg_24_h: str
    best_bid: str
    best_bid_quantity: str
    best_ask: str
    best_ask_quantity: str


class TickerEvent(msgspec.Struct):
    type: str
    tickers: list[TickerEntry]


@dataclass(frozen=True, slots=True)
class Message:
    """An encoded message waiting for its connection's ``sequence_num``."""

    head: bytes  # ... "sequence_num":
    tail: bytes  # ,"events":[...]}

    def frame(self, seq: int) -> bytes:
        return self.head + str(seq).encode() + self.tail


def message(channel: str, timestamp: str, events: object, docs_shape: bool = False) -> Message:
    """``events`` (a list of Structs or dicts, or its JSON bytes) under the envelope of
    ``channel``."""
    client = b'"client_id":"",' if docs_shape else b""
    head = (
        b'{"channel":"' + channel.encode() + b'",' + client
        + b'"timestamp":"' + timestamp.encode() + b'","sequence_num":'
    )  # fmt: skip
    body = events if isinstance(events, bytes) else encode(events)
    return Message(head, b',"events":' + body + b"}")


def error(text: str) -> bytes:
    """``{"type":"error","message":"..."}`` (not numbered)."""
    return encode({"type": "error", "message": text})


_seconds: dict[int, str] = {}


def _second(sec: int) -> str:
    text = _seconds.get(sec)
    if text is None:
        if len(_seconds) > 1024:
            _seconds.clear()
        text = _seconds[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return text


def rfc3339_ns(ns: int) -> str:
    """``1675974770714964855`` -> ``"2023-02-09T20:32:50.714964855Z"``."""
    sec, frac = divmod(ns, NS_PER_S)
    return f"{_second(sec)}.{frac:09d}Z"


def rfc3339_ms(ms: int) -> str:
    """``1565815347265`` -> ``"2019-08-14T20:42:27.265Z"`` (trade times)."""
    sec, frac = divmod(ms, 1000)
    return f"{_second(sec)}.{frac:03d}Z"


def go_time(ns: int, uptime_s: float) -> str:
    """A heartbeat's ``current_time``, Go's ``time.Time.String()`` with its monotonic part:
    ``"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105"``."""
    sec, frac = divmod(ns, NS_PER_S)
    day = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))
    return f"{day}.{frac:09d} +0000 UTC m=+{uptime_s:.9f}"
