"""Coinbase Advanced Trade market-data wire formats as msgspec Structs (PROTOCOLS.md C).

Every message is an envelope ``{"channel":"l2_data","client_id":"","timestamp":"...",
"sequence_num":0,"events":[...]}``; the live feed omits ``client_id`` (the prose docs show it),
so it is not declared and decodes either way. Fields the feed never reads (``event_time`` of a
level, ``low_52_w`` ...) are not declared either: msgspec skips them without building them, which
is most of why typed decoding beats ``msgspec.json.decode`` here.

Prices and sizes stay the venue's strings where the book keeps them (levels); trades are
converted while parsing (``strict=False``) and range-checked by their type (``Price``, ``Size``
from ``desk.feeds.validation``). A frame of the wrong shape raises ``msgspec.ValidationError``
(a ``ValueError``), which the feed counts as a decode error.

The venue writes ``"channel"`` first, so the feed finds a message's decoder from its first bytes
(``routing``, else ``channel_of``); a message in another key order takes the slower ``Envelope``
path.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from desk.feeds.validation import Price, Size

T = TypeVar("T")

PREFIX = b'{"channel":"'
_PREFIX_LEN = len(PREFIX)
MAX_CHANNEL_LEN = 32
"""Channel names are looked for within this many bytes after the prefix."""

L2_DATA = "l2_data"
MARKET_TRADES = "market_trades"
TICKER = "ticker"
HEARTBEATS = "heartbeats"
SUBSCRIPTIONS = "subscriptions"

SUBSCRIBE_CHANNELS = {"level2": L2_DATA, "market_trades": MARKET_TRADES, "ticker": TICKER}
"""Channels a feed may subscribe (besides ``heartbeats``) -> the channel their messages carry."""


class L2Level(msgspec.Struct, gc=False):
    """``{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73",
    "new_quantity":"0.06317902"}``; the ask side is ``"offer"`` (anything but ``bid`` is an ask).
    ``new_quantity`` is the level's absolute size, ``"0"`` removes it."""

    side: str
    price_level: str
    new_quantity: str


class L2Event(msgspec.Struct, gc=False):
    """``{"type":"snapshot"|"update","product_id":"BTC-USD","updates":[L2Level, ...]}``."""

    type: str
    product_id: str
    updates: list[L2Level]


class L2Message(msgspec.Struct, gc=False):
    """``{"channel":"l2_data","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,
    "events":[L2Event]}``."""

    channel: str
    events: list[L2Event]
    timestamp: str = ""
    sequence_num: int = -1


class TradeEntry(msgspec.Struct, gc=False):
    """``{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3",
    "side":"BUY","time":"2019-08-14T20:42:27.265Z"}``; ``side`` is the **maker's** side."""

    trade_id: str
    product_id: str
    price: Price
    size: Size
    side: str
    time: str


class TradesEvent(msgspec.Struct, gc=False):
    """``{"type":"snapshot"|"update","trades":[TradeEntry, ...]}``."""

    trades: list[TradeEntry]
    type: str = "update"


class TradesMessage(msgspec.Struct, gc=False):
    channel: str
    events: list[TradesEvent]
    timestamp: str = ""
    sequence_num: int = -1


class TickerEntry(msgspec.Struct, gc=False, kw_only=True):
    """``{"type":"ticker","product_id":"BTC-USD","price":"21932.98","volume_24_h":"16038.28",
    "low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460","high_52_w":"48240",
    "price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98",
    "best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}``;
    strings, any of them possibly missing (``ticker_batch`` has no best bid/ask)."""

    product_id: str
    price: str = ""
    volume_24_h: str = ""
    low_24_h: str = ""
    high_24_h: str = ""
    price_percent_chg_24_h: str = ""
    best_bid: str = ""
    best_bid_quantity: str = ""
    best_ask: str = ""
    best_ask_quantity: str = ""


class TickerEvent(msgspec.Struct, gc=False):
    tickers: list[TickerEntry]
    type: str = "update"


class TickerMessage(msgspec.Struct, gc=False):
    channel: str
    events: list[TickerEvent]
    timestamp: str = ""
    sequence_num: int = -1


class HeartbeatEvent(msgspec.Struct, gc=False):
    """``{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
    "heartbeat_counter":"3049"}``; the counter is a string in the prose docs and an int live
    (decoded to an int either way)."""

    current_time: str = ""
    heartbeat_counter: int = -1


class HeartbeatMessage(msgspec.Struct, gc=False):
    channel: str
    events: list[HeartbeatEvent]
    timestamp: str = ""
    sequence_num: int = -1


class SubscriptionsEvent(msgspec.Struct, gc=False):
    """``{"subscriptions":{"level2":["BTC-USD"],"heartbeats":["heartbeats"]}}``: everything the
    connection is subscribed to now (the shape is UNVERIFIED in the docs; parsed leniently)."""

    subscriptions: dict[str, list[str]] = {}


class SubscriptionsMessage(msgspec.Struct, gc=False):
    channel: str
    events: list[SubscriptionsEvent] = []
    timestamp: str = ""
    sequence_num: int = -1


class Envelope(msgspec.Struct, gc=False):
    """Any message, read for routing: a channel message in an unusual key order, or an error
    ``{"type":"error","message":"failure to subscribe"}``."""

    channel: str = ""
    type: str = ""
    message: str = ""
    timestamp: str = ""
    sequence_num: int = -1


class Subscribe(msgspec.Struct, omit_defaults=True):
    """``{"type":"subscribe","product_ids":["ETH-USD","BTC-USD"],"channel":"level2"}``: one
    channel per message; ``heartbeats`` takes no products."""

    type: str
    channel: str
    product_ids: list[str] = []
    jwt: str = ""


_encoder = msgspec.json.Encoder()


def decoder(message_type: type[T]) -> msgspec.json.Decoder[T]:
    """A decoder for one message type; ``strict=False`` turns numeric strings into the ints and
    floats the struct declares while parsing (``"3049"`` -> 3049, ``"1260.01"`` -> 1260.01)."""
    return msgspec.json.Decoder(message_type, strict=False)


def encode_subscribe(kind: str, channel: str, product_ids: list[str] | None = None) -> str:
    """The text frame of a ``subscribe``/``unsubscribe`` request for one channel."""
    message = Subscribe(type=kind, channel=channel, product_ids=list(product_ids or ()))
    return _encoder.encode(message).decode()


def channel_of(raw: bytes) -> bytes | None:
    """The channel name of a message in the venue's layout, from its first bytes, as bytes.

    ``b'{"channel":"l2_data","timestamp":...'`` -> ``b"l2_data"``; None when the message does
    not start with ``{"channel":"`` (another key order, an error, garbage): the feed then decodes
    an ``Envelope`` to find out. Only the exact name is returned, so ``ticker`` never matches
    ``ticker_batch``.
    """
    if raw.startswith(PREFIX):
        end = raw.find(b'"', _PREFIX_LEN, _PREFIX_LEN + MAX_CHANNEL_LEN + 1)
        if end > 0:
            return raw[_PREFIX_LEN:end]
    return None
