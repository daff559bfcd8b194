"""Live requests on a simulated Binance stream connection (PROTOCOLS.md B.1).

Request -> reply:

* ``{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}`` ->
  ``{"result":null,"id":1}``; ``UNSUBSCRIBE`` the same.
* ``{"method":"LIST_SUBSCRIPTIONS","id":3}`` -> ``{"result":["btcusdt@aggTrade"],"id":3}``.
* ``{"method":"SET_PROPERTY","params":["combined",true],"id":5}`` -> ``{"result":null,"id":5}``
  (frames go out wrapped from then on); ``GET_PROPERTY ["combined"]`` -> ``{"result":true,...}``.

Errors: ``{"code":3,"msg":"Invalid JSON: ..."}`` for text that is not JSON; ``{"code":2,
"msg":"Invalid request: ..."}`` for a request of the wrong shape, an ``id`` that is neither an
int64, a string of up to 36 letters and digits, nor null, an unknown method or stream, or more
than ``max_streams`` streams on the connection (nothing of that request is subscribed);
``{"code":1,"msg":"Invalid value type: expected Boolean"}`` and ``{"code":0,"msg":"Unknown
property"}`` for ``SET_PROPERTY``. Error replies carry the request's ``id`` when it had a valid one.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from desk.sim.binance.conn import StreamConnection
from desk.sim.binance.streams import STREAM_KINDS, Hub
from desk.sim.binance.wire import error, reply

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_RE = re.compile(r"^[A-Za-z0-9]{1,36}$")
_decoder = msgspec.json.Decoder()
INT64_MAX = (1 << 63) - 1


class RequestError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def valid_stream(name: Any, symbols: set[str]) -> bool:
    """``btcusdt@depth@100ms`` for a listed symbol and a known stream kind."""
    if not isinstance(name, str) or "@" not in name:
        return False
    symbol, kind = name.split("@", 1)
    return symbol in symbols and kind in STREAM_KINDS


class RequestHandler:
    """Applies one connection's requests to the hub and answers them."""

    def __init__(self, hub: Hub, symbols: set[str], max_streams: int) -> None:
        self.hub = hub
        self.symbols = symbols  # lower-case stream symbols: "btcusdt"
        self.max_streams = max_streams

    def handle(self, conn: StreamConnection, text: str) -> None:
        req_id: Any = None
        has_id = False
        try:
            req = _decode(text)
            if "id" in req:
                req_id, has_id = _check_id(req["id"]), True
            result = self._apply(conn, req)
        except RequestError as exc:
            conn.send(error(exc.code, exc.msg, req_id, has_id), is_push=False)
            return
        conn.send(reply(result, req_id), is_push=False)

    def _apply(self, conn: StreamConnection, req: dict[str, Any]) -> Any:
        method = req.get("method")
        if method not in METHODS:
            raise RequestError(2, f"Invalid request: unknown method {method!r}")
        params = req.get("params", [])
        if not isinstance(params, list):
            raise RequestError(2, "Invalid request: params must be an array")
        if method == "SUBSCRIBE":
            self._subscribe(conn, params)
        elif method == "UNSUBSCRIBE":
            for stream in self._streams(params):
                self.hub.discard(stream, conn)
        elif method == "LIST_SUBSCRIPTIONS":
            return sorted(conn.streams)
        elif method == "SET_PROPERTY":
            conn.combined = _combined_value(params)
        else:  # GET_PROPERTY
            if params != ["combined"]:
                raise RequestError(0, "Unknown property")
            return conn.combined
        return None

    def _subscribe(self, conn: StreamConnection, params: list[Any]) -> None:
        streams = self._streams(params)
        if len(conn.streams | set(streams)) > self.max_streams:
            raise RequestError(
                2, f"Invalid request: at most {self.max_streams} streams per connection"
            )
        for stream in streams:
            self.hub.add(stream, conn)

    def _streams(self, params: list[Any]) -> list[str]:
        for name in params:
            if not valid_stream(name, self.symbols):
                raise RequestError(2, f"Invalid request: unknown stream {name!r}")
        return list(params)


def _decode(text: str) -> dict[str, Any]:
    try:
        req = _decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise RequestError(3, f"Invalid JSON: {exc}") from None
    if not isinstance(req, dict):
        raise RequestError(2, "Invalid request: a request is a JSON object")
    return req


def _check_id(value: Any) -> Any:
    if value is None or (isinstance(value, str) and _ID_RE.match(value)):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        return value
    raise RequestError(
        2, "Invalid request: request ID must be an unsigned integer, a string or null"
    )


def _combined_value(params: list[Any]) -> bool:
    if len(params) != 2 or params[0] != "combined":
        raise RequestError(0, "Unknown property")
    if not isinstance(params[1], bool):
        raise RequestError(1, "Invalid value type: expected Boolean")
    return params[1]
