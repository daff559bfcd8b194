"""Client requests on the simulated OKX WebSockets: ``ping``, ``subscribe``, ``unsubscribe``.

Request -> replies (PROTOCOLS.md A.2):

* ``ping`` (bare text) -> ``pong``.
* ``{"id":"1512","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`` -> one ack
  per arg, ``{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},
  "connId":"a4d3ae55"}``, then the channel's first push where it has one (``books`` snapshot,
  ``books5``/``bbo-tbt`` latest snapshot, current ticker, current candle).
* Errors, ``{"id":"1512","event":"error","code":"60012","msg":"Invalid request: ...",
  "connId":"a4d3ae55"}``: ``60012`` not JSON / no ``op`` / no ``args`` list / bad ``id``;
  ``60019`` unknown op; ``60013`` an arg without ``channel`` or ``instId``; ``60018`` unknown
  channel or instrument, or a channel on the wrong URL; ``64003`` the VIP-only tbt books.
  A request with any bad arg subscribes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from desk.sim.okx.bars import parse_bar
from desk.sim.okx.candles import BusinessStreams
from desk.sim.okx.conn import Connection
from desk.sim.okx.streams import Hub, InstrumentStreams
from desk.sim.okx.wire import ack, error

PUBLIC = "public"
BUSINESS = "business"
PRIVATE = "private"
PUBLIC_CHANNELS = frozenset({"books", "books5", "bbo-tbt", "trades", "tickers"})
VIP_CHANNELS = frozenset({"books-l2-tbt", "books50-l2-tbt"})
_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_decoder = msgspec.json.Decoder()


class RequestError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def wrong_channel(channel: str, inst_id: str) -> RequestError:
    return RequestError(
        "60018",
        f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document.",
    )


class RequestHandler:
    """Applies one connection's requests to the hub and sends the replies."""

    def __init__(
        self,
        hub: Hub,
        streams: dict[str, InstrumentStreams],
        business: BusinessStreams,
        send_book_snapshot: bool,
        now_ms: Callable[[], int],
    ) -> None:
        self.hub = hub
        self.streams = streams
        self.business = business
        self.send_book_snapshot = send_book_snapshot
        self.now_ms = now_ms

    def handle(self, conn: Connection, text: str) -> None:
        if text == "ping":
            conn.send(b"pong", is_push=False)
            return
        req_id: str | None = None
        try:
            req = self._decode(text)
            req_id = self._req_id(req, text)
            op, args = self._op_args(req, text)
            keys = [self._check(conn.endpoint, arg) for arg in args]
        except RequestError as exc:
            conn.send(error(exc.code, exc.msg, conn.conn_id, req_id), is_push=False)
            return
        for arg, key in zip(args, keys, strict=True):
            echo = {k: arg[k] for k in ("channel", "instType", "instFamily", "instId") if k in arg}
            if op == "subscribe":
                self.hub.add(key, conn)
                conn.subscriptions.add(key)
                conn.send(ack("subscribe", echo, conn.conn_id, req_id), is_push=False)
                self._first_push(conn, key)
            else:
                self.hub.discard(key, conn)
                conn.subscriptions.discard(key)
                conn.send(ack("unsubscribe", echo, conn.conn_id, req_id), is_push=False)

    @staticmethod
    def _decode(text: str) -> dict[str, Any]:
        try:
            req = _decoder.decode(text)
        except msgspec.DecodeError:
            raise RequestError("60012", f"Invalid request: {text}") from None
        if not isinstance(req, dict) or "op" not in req:
            raise RequestError("60012", f"Invalid request: {text}")
        return req

    @staticmethod
    def _req_id(req: dict[str, Any], text: str) -> str | None:
        req_id = req.get("id")
        if req_id is not None and not (isinstance(req_id, str) and _ID_RE.match(req_id)):
            raise RequestError("60012", f"Invalid request: {text}")
        return req_id

    @staticmethod
    def _op_args(req: dict[str, Any], text: str) -> tuple[str, list[Any]]:
        op = req["op"]
        if op not in ("subscribe", "unsubscribe"):
            raise RequestError("60019", f"Invalid op: {op}")
        args = req.get("args")
        if not isinstance(args, list) or not args:
            raise RequestError("60012", f"Invalid request: {text}")
        return op, args

    def _check(self, endpoint: str, arg: Any) -> tuple[str, str]:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            raise RequestError("60013", "Invalid args")
        channel = arg["channel"]
        inst_id = arg.get("instId")
        if channel in VIP_CHANNELS and endpoint == PUBLIC:
            raise RequestError(
                "64003", "Your trading fee tier doesn't meet the requirement to access this channel"
            )
        allowed = self._allowed(endpoint, channel)
        if not isinstance(inst_id, str) or not inst_id:
            if allowed:
                raise RequestError("60013", "Invalid args")
            raise wrong_channel(channel, "")
        if not allowed or inst_id not in self.streams:
            raise wrong_channel(channel, inst_id)
        return channel, inst_id

    @staticmethod
    def _allowed(endpoint: str, channel: str) -> bool:
        if endpoint == PUBLIC:
            return channel in PUBLIC_CHANNELS
        return channel == "trades-all" or parse_bar(channel) is not None

    def _first_push(self, conn: Connection, key: tuple[str, str]) -> None:
        channel, inst_id = key
        if conn.endpoint == BUSINESS:
            data = self.business.subscribed(channel, inst_id, self.now_ms())
        elif channel == "books":
            data = self.streams[inst_id].snapshot() if self.send_book_snapshot else None
        else:
            data = self.streams[inst_id].initial_push(channel, self.now_ms())
        if data is not None:
            conn.send(data)
