"""Binance Spot wire shapes the simulator sends, encoded once per event with msgspec.

Structs encode their fields in declaration order, which is the order Binance's docs show. A
payload is encoded once and shared by every subscriber; combined-stream subscribers get it
wrapped (``{"stream":"btcusdt@trade","data":<payload>}``) by ``wrap``, with no second encode.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

Level = tuple[str, str]  # (price, quantity), eight decimals each


class DepthUpdate(msgspec.Struct):
    """``{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,
    "b":[["0.0024","10"]],"a":[["0.0026","100"]]}``"""

    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[Level]
    a: list[Level]


class Trade(msgspec.Struct):
    """``{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
    "T":1672515782136,"m":true,"M":true}``"""

    e: str
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool
    M: bool


class AggTrade(msgspec.Struct):
    """``{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100",
    "f":100,"l":105,"T":1672515782136,"m":true,"M":true}``"""

    e: str
    E: int
    s: str
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - the wire's name
    T: int
    m: bool
    M: bool


class BookTicker(msgspec.Struct):
    """``{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",
    "A":"40.66000000"}``"""

    u: int
    s: str
    b: str
    B: str
    a: str
    A: str


class MiniTicker(msgspec.Struct):
    """``{"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.0025","o":"0.0010",
    "h":"0.0025","l":"0.0010","v":"10000","q":"18"}``: the last price (close) and the rolling
    24 h open, high, low, base volume and quote volume."""

    e: str
    E: int
    s: str
    c: str
    o: str
    h: str
    l: str  # noqa: E741 - the wire's name
    v: str
    q: str


class PartialDepth(msgspec.Struct):
    """``{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}``"""

    lastUpdateId: int
    bids: list[Level]
    asks: list[Level]


def wrap(stream: bytes, payload: bytes) -> bytes:
    """The combined-stream frame of ``payload``."""
    return b'{"stream":"' + stream + b'","data":' + payload + b"}"


def server_shutdown(event_ms: int) -> bytes:
    """``{"e":"serverShutdown","E":1770123456789}``."""
    return b'{"e":"serverShutdown","E":' + str(event_ms).encode() + b"}"


SHUTDOWN_STREAM = b"!serverShutdown"


def reply(result: Any, request_id: Any) -> bytes:
    """``{"result":null,"id":1}``."""
    return encode({"result": result, "id": request_id})


def error(code: int, msg: str, request_id: Any = None, with_id: bool = False) -> bytes:
    """``{"code":2,"msg":"Invalid request: ..."}`` (plus ``"id"`` when the request had one)."""
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_id:
        body["id"] = request_id
    return encode(body)


def rest_error(code: int, msg: str) -> bytes:
    """``{"code":-1121,"msg":"Invalid symbol."}``."""
    return encode({"code": code, "msg": msg})
