"""Binance Spot public stream wire formats as msgspec Structs (PROTOCOLS.md B.1, B.2).

Field names follow the wire (one letter each) so decoding needs no renaming. Book levels stay
the exchange's strings (``["0.0024","10"]``, the book keys on them); trade prices and sizes are
converted while parsing (``strict=False`` turns ``"0.001"`` into a float) and carry the
validation limits in their type (``Price``, ``Size``, ``TsMs`` from ``desk.feeds.validation``),
so msgspec refuses NaN, inf, zero or negative prices and timestamps outside this century at no
extra cost. A frame of the wrong shape raises ``msgspec.ValidationError`` (a ``ValueError``),
which the feed counts as a decode error.

On a combined stream every event is wrapped: ``{"stream":"btcusdt@trade","data":{...}}``. The
feed routes a frame by the stream name in its first bytes (``routing``) to that symbol's handler,
which decodes the whole frame with the stream's typed decoder: one parse per message. The stream
says whose event it is, so the frame structs (``TradeData`` ...) leave the symbol ``s`` out; the
``...Event`` subclasses add it for bare payloads. Fields desk does not use (``"e"``, ``"M"``) are
not declared either: skipped without being built. No struct is tracked by the garbage collector
(``gc=False``): none can be part of a reference cycle.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

from desk.feeds.validation import MAX_PRICE, MAX_SIZE, Price, Size, TsMs

T = TypeVar("T")

COMBINED_PREFIX = b'{"stream":"'
_PREFIX_LEN = len(COMBINED_PREFIX)
MAX_STREAM_NAME = 100

Level = tuple[str, str]
"""One book level as decoded: ``["0.0024","10"]`` -> ``("0.0024", "10")`` (the fastest shape to
decode, measured against ``list[str]``); quantity ``"0"`` or ``"0.00000000"`` removes it."""

BookPrice = Annotated[float, msgspec.Meta(ge=0.0, lt=MAX_PRICE)]
"""A ``bookTicker`` price: 0 stands for an empty side."""

DayVolume = Annotated[float, msgspec.Meta(ge=0.0, lt=MAX_SIZE * 1000.0)]
"""A 24 h volume: finite, not negative; a day of trades can pass the limit of one size."""


class DepthData(msgspec.Struct, gc=False):
    """``{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,
    "b":[["0.0024","10"]],"a":[["0.0026","100"]]}`` as the hot path reads it: in a combined
    frame the stream name already says whose event it is, so ``s`` is not even decoded.

    ``U``/``u``: first and final update id of the event. Quantities are absolute. Spot diffs carry
    no ``pu`` (futures do).
    """

    E: TsMs
    U: int
    u: int
    b: list[Level]
    a: list[Level]


class DepthUpdate(DepthData, gc=False):
    """A ``depthUpdate`` with its symbol: a bare payload, or a frame routed by its symbol."""

    s: str


class TradeData(msgspec.Struct, gc=False):
    """``{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
    "T":1672515782136,"m":true,"M":true}``; ``m`` true: the buyer was the maker, the taker sold.
    """

    E: TsMs
    t: int
    p: Price
    q: Size
    T: TsMs
    m: bool


class TradeEvent(TradeData, gc=False):
    s: str


class AggTradeData(msgspec.Struct, gc=False):
    """``{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100",
    "f":100,"l":105,"T":1672515782136,"m":true,"M":true}``; fills ``f``..``l`` of one taker
    order at one price, aggregate id ``a`` (read into ``t``, the id a trade has)."""

    E: TsMs
    t: int = msgspec.field(name="a")
    p: Price
    q: Size
    f: int
    l: int  # noqa: E741 - the wire's name
    T: TsMs
    m: bool


class AggTradeEvent(AggTradeData, gc=False):
    s: str


class BookTickerData(msgspec.Struct, gc=False):
    """``{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",
    "A":"40.66000000"}``; no event type and no time."""

    u: int
    b: BookPrice
    B: Size
    a: BookPrice
    A: Size


class BookTickerEvent(BookTickerData, gc=False):
    s: str


class MiniTickerData(msgspec.Struct, gc=False):
    """``<s>@miniTicker``, every second: ``{"e":"24hrMiniTicker","E":1672515782136,
    "s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}``;
    the last price ``c`` and the rolling 24 h open, high, low, base volume ``v`` and quote
    volume ``q`` (not the UTC day's). A price of 0 stands for "no trade in the window"."""

    E: TsMs
    c: BookPrice
    o: BookPrice
    h: BookPrice
    l: BookPrice  # noqa: E741 - the wire's name
    v: DayVolume
    q: DayVolume


class MiniTickerEvent(MiniTickerData, gc=False):
    s: str


class PartialDepth(msgspec.Struct):
    """``<s>@depth5|10|20[@100ms]`` and ``GET /api/v3/depth``:
    ``{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}``."""

    lastUpdateId: int
    bids: list[Level]
    asks: list[Level]


class ServerShutdown(msgspec.Struct):
    """``{"e":"serverShutdown","E":1770123456789}``: the server closes this connection soon."""

    e: str
    E: int = 0


class DepthFrame(msgspec.Struct, gc=False):
    """A combined ``depthUpdate`` frame, for whoever needs its symbol (a handover's buffers)."""

    data: DepthUpdate


class DepthDataFrame(msgspec.Struct, gc=False):
    """A combined ``depthUpdate`` frame on the hot path (the stream names the symbol)."""

    data: DepthData


class TradeFrame(msgspec.Struct, gc=False):
    data: TradeData


class AggTradeFrame(msgspec.Struct, gc=False):
    data: AggTradeData


class BookTickerFrame(msgspec.Struct, gc=False):
    data: BookTickerData


class MiniTickerFrame(msgspec.Struct, gc=False):
    data: MiniTickerData


class Envelope(msgspec.Struct, kw_only=True):
    """Any frame at all, for the slow path: a combined frame in another key order, a raw
    (unwrapped) payload, a request's reply or an error.

    Reply: ``{"result":null,"id":1}``; ``LIST_SUBSCRIPTIONS``: ``{"result":["btcusdt@trade"],
    "id":3}``. Error: ``{"code":2,"msg":"Invalid request: ..."}`` (with ``id`` when known).
    """

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent
    result: Any = msgspec.UNSET
    id: int | str | None = None
    code: int | None = None
    msg: str = ""
    e: str = ""
    u: int | None = None
    s: str = ""


class Request(msgspec.Struct):
    """``{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}``."""

    method: str
    params: list[Any]
    id: int | str | None


_encoder = msgspec.json.Encoder()


def decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """A decoder that converts numeric strings into the ``float``/``int`` fields of ``kind``."""
    return msgspec.json.Decoder(kind, strict=False)


def encode_request(method: str, params: list[Any], request_id: int | str | None) -> str:
    """The text frame of a live request (``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``)."""
    return _encoder.encode(Request(method, params, request_id)).decode()


def stream_name(symbol_lower: str, kind: str) -> str:
    """``("btcusdt", "depth@100ms")`` -> ``"btcusdt@depth@100ms"``."""
    return f"{symbol_lower}@{kind}"


def combined_url(ws_url: str, streams: list[str]) -> str:
    """``wss://host:9443/stream?streams=btcusdt@trade/btcusdt@depth@100ms``."""
    return f"{ws_url.rstrip('/')}/stream?streams={'/'.join(streams)}"


def stream_of(raw: bytes) -> bytes | None:
    """The stream name of a combined frame from its first bytes, or None when it does not start
    as combined frames do: ``b'{"stream":"btcusdt@trade","data":...'`` -> ``b"btcusdt@trade"``.
    """
    if raw.startswith(COMBINED_PREFIX):
        end = raw.find(b'"', _PREFIX_LEN, _PREFIX_LEN + MAX_STREAM_NAME)
        if end > 0:
            return raw[_PREFIX_LEN:end]
    return None
