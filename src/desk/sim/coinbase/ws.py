"""Client requests on the simulated Coinbase market-data WebSocket (PROTOCOLS.md C).

``{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}`` -> a ``subscriptions``
message listing everything the connection now follows, then the channel's first messages:
``level2`` a ``snapshot`` of each book (on ``l2_data``), ``market_trades`` a ``snapshot`` of
recent trades, ``ticker`` a ``snapshot`` ticker. ``heartbeats`` takes no products and then gets
one message a second. ``"type":"unsubscribe"`` with the same body stops a stream.

One channel per message: a ``channels`` list (the retired Exchange API's form) is refused.
Refusals are ``{"type":"error","message":"..."}`` (not numbered) and subscribe nothing: not
JSON, an unknown ``type``, no ``channel``, an unknown channel, no ``product_ids`` where needed,
an unknown product. A ``jwt`` is accepted and not checked (public data needs none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from desk.sim.coinbase.conn import CoinbaseConnection, StreamKey
from desk.sim.coinbase.streams import Hub, ProductStreams
from desk.sim.coinbase.wire import error, message

HEARTBEATS = "heartbeats"
PRODUCT_CHANNELS = ("level2", "market_trades", "ticker")
_decoder = msgspec.json.Decoder()


class RequestError(Exception):
    pass


class RequestHandler:
    """Applies one connection's requests to the hub and sends the replies."""

    def __init__(
        self,
        hub: Hub,
        streams: dict[str, ProductStreams],
        timestamp: Callable[[], str],
        docs_shape: bool = False,
    ) -> None:
        self.hub = hub
        self.streams = streams
        self.timestamp = timestamp
        self.docs_shape = docs_shape

    def handle(self, conn: CoinbaseConnection, text: str) -> None:
        try:
            kind, channel, keys = self._parse(text)
        except RequestError as exc:
            conn.send(error(str(exc)), is_push=False)
            return
        for key in keys:
            if kind == "subscribe":
                self.hub.add(key, conn)
                conn.subscriptions.add(key)
            else:
                self.hub.discard(key, conn)
                conn.subscriptions.discard(key)
        if kind == "subscribe":
            conn.ever_subscribed = True
        now = self.timestamp()
        conn.send_message(self._subscriptions(conn, now))
        if kind == "subscribe":
            for key in keys:
                self._first_message(conn, channel, key[1], now)

    def _parse(self, text: str) -> tuple[str, str, list[StreamKey]]:
        try:
            req = _decoder.decode(text)
        except msgspec.DecodeError:
            raise RequestError(f"failure to parse message: {text[:100]}") from None
        if not isinstance(req, dict):
            raise RequestError("a request must be a JSON object")
        kind = req.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            raise RequestError(f"unknown message type {kind!r}: expected subscribe or unsubscribe")
        if "channels" in req:
            raise RequestError('send one message per channel, with "channel" (not "channels")')
        channel = req.get("channel")
        if not isinstance(channel, str) or not channel:
            raise RequestError('"channel" is required')
        if channel == HEARTBEATS:
            return kind, channel, [(HEARTBEATS, "")]
        if channel not in PRODUCT_CHANNELS:
            raise RequestError(f"unknown channel {channel!r}")
        products = req.get("product_ids")
        if not isinstance(products, list) or not products:
            raise RequestError(f'"product_ids" is required for channel {channel}')
        for product in products:
            if not isinstance(product, str) or product not in self.streams:
                raise RequestError(f"unknown product id {product!r}")
        return kind, channel, [(channel, p) for p in dict.fromkeys(products)]

    def _subscriptions(self, conn: CoinbaseConnection, timestamp: str) -> Any:
        """``{"channel":"subscriptions",...,"events":[{"subscriptions":{"level2":["BTC-USD"],
        "heartbeats":["heartbeats"]}}]}``."""
        listing: dict[str, list[str]] = {}
        for channel, product in sorted(conn.subscriptions):
            listing.setdefault(channel, []).append(product or channel)
        events = [{"subscriptions": listing}]
        return message("subscriptions", timestamp, events, self.docs_shape)

    def _first_message(
        self, conn: CoinbaseConnection, channel: str, product: str, timestamp: str
    ) -> None:
        stream = self.streams.get(product)
        if stream is None:
            return
        if channel == "level2":
            conn.send_message(stream.snapshot(timestamp))
        elif channel == "market_trades":
            conn.send_message(stream.trades_snapshot(timestamp))
        elif channel == "ticker":
            conn.send_message(stream.ticker(timestamp, "snapshot"))
