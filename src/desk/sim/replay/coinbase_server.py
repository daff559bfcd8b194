"""``CoinbaseReplayServer``: a recording served on loopback as Coinbase Advanced Trade.

    server = CoinbaseReplayServer(ReplayConfig(path="data/rec", speed=0))
    await server.start()            # reads the recording (RecordingError when unusable)
    server.ws_url, server.rest_url  # CoinbaseConfig.ws_url / rest_url

A client subscribes as on Coinbase, one message per channel, and gets a ``subscriptions``
message, then the recorded messages of what it follows in ``recv_ns`` order. Each connection
numbers its own messages (``coinbase_frames.Renumber``), so the feed's ``sequence_num`` check
sees no hole. A ``level2`` subscribe starts the product on a ``snapshot``: of the book at the
replay position, rebuilt from the recording, or the next recorded one when the position is
before the product's first. Whenever nothing was sent for a second (the recording ended, or a
long silence in it) a heartbeat goes out, so the feed's watchdog keeps the connection. A client
that reconnects goes on from where its last connection had got to (its level2 subscribe gets
the book there), as a live venue would. Unknown products and channels are refused as the
simulator refuses them (``{"type":"error",...}``).

REST: ``/api/v3/brokerage/market/products`` (the recorded answer, else the simulator's
products, else rules read off nothing but the product id) and ``/api/v3/brokerage/time``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from desk.sim.coinbase.conn import CoinbaseConnection
from desk.sim.coinbase.products import DEFAULT_PRODUCTS, ProductSpec, product_json
from desk.sim.coinbase.wire import (
    EPOCH_TIME,
    L2Event,
    L2Update,
    error,
    go_time,
    message,
    rfc3339_ns,
)
from desk.sim.replay.base import ReplayServerBase, no_count
from desk.sim.replay.coinbase_frames import (
    HEARTBEATS,
    Books,
    CoinbaseTimeline,
    Renumber,
    load_coinbase,
)
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.player import Player

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000
PRODUCTS_PATH = "/api/v3/brokerage/market/products"
CHANNELS = ("level2", "market_trades", "ticker", "ticker_batch", "candles")
HEARTBEAT_S = 1.0
_decode = msgspec.json.Decoder().decode


class CoinbaseReplayServer(ReplayServerBase[CoinbaseTimeline, CoinbaseConnection]):
    """Serves one recording's Coinbase messages (see the module docstring)."""

    def __init__(self, config: ReplayConfig, timeline: CoinbaseTimeline | None = None) -> None:
        super().__init__(config, timeline, "replay:coinbase:conn")
        self.books: Books | None = None
        self._resume = 0  # where a connection that went away had got to

    async def start(self) -> dict[str, str]:
        if self.timeline is None:
            c = self.config
            self.timeline = await asyncio.to_thread(
                load_coinbase, c.path, c.start_ns or None, c.end_ns or None, c.symbols or None
            )
        self.books = Books(self.timeline)
        app = web.Application()
        app.router.add_get("/", self._ws)
        app.router.add_get(PRODUCTS_PATH, self._products)
        app.router.add_get("/api/v3/brokerage/time", self._time)
        await self.site.bind(app)
        log.info("coinbase replay of %s listening on %s", self.config.path, self.rest_url)
        return self.urls()

    @property
    def ws_url(self) -> str:
        return self.site.ws_url("/")

    def urls(self) -> dict[str, str]:
        return {"ws": self.ws_url, "rest": self.rest_url}

    # ---- WebSocket ---------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 16)
        await ws.prepare(request)
        conn_id = self._next_conn_id()
        conn = CoinbaseConnection(ws, request.transport, conn_id, "market", MAX_QUEUE, no_count)
        self._conns.add(conn)
        assert self.timeline is not None
        numbers = Renumber()
        player = Player(
            conn,
            self.timeline,
            self.config.speed,
            self._player_finished,
            rewrite=numbers,
            start=max(self.timeline.start, self._resume),
        )
        beats = asyncio.get_running_loop().create_task(self._beat_when_quiet(conn, player, numbers))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._handle(conn, player, numbers, msg.data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
            self._conns.discard(conn)
            await player.stop()
            self._resume = max(self._resume, player.position)
            if player in self.players and not player.finished:
                self.players.remove(player)
            await conn.finished()
        return ws

    def _handle(
        self, conn: CoinbaseConnection, player: Player, numbers: Renumber, text: str
    ) -> None:
        try:
            kind, channel, keys = self._parse(text)
        except ValueError as exc:
            conn.send(error(str(exc)), is_push=False)
            return
        for key in keys:
            if kind == "subscribe":
                conn.subscriptions.add(key)
            else:
                conn.subscriptions.discard(key)
        listing: dict[str, list[str]] = {}
        for ch, product in sorted(conn.subscriptions):
            listing.setdefault(ch, []).append(product or ch)
        now = self._timestamp(player.position)
        self._send(conn, numbers, message("subscriptions", now, [{"subscriptions": listing}]))
        if kind == "subscribe" and channel == "level2":
            for _channel, product in keys:
                self._snapshot(conn, numbers, product, player.position)
        if kind == "subscribe" and player not in self.players:
            self.players.append(player)
            player.start()

    def _parse(self, text: str) -> tuple[str, str, list[tuple[str, str]]]:
        assert self.timeline is not None
        try:
            req = _decode(text)
        except msgspec.DecodeError:
            raise ValueError(f"failure to parse message: {text[:100]}") from None
        if not isinstance(req, dict) or req.get("type") not in ("subscribe", "unsubscribe"):
            raise ValueError("unknown message type: expected subscribe or unsubscribe")
        channel = req.get("channel")
        if channel == HEARTBEATS:
            return req["type"], channel, [(HEARTBEATS, "")]
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        products = req.get("product_ids")
        if not isinstance(products, list) or not products:
            raise ValueError(f'"product_ids" is required for channel {channel}')
        for product in products:
            if product not in self.timeline.products:
                raise ValueError(f"unknown product id {product!r}")
        return req["type"], channel, [(channel, p) for p in dict.fromkeys(products)]

    def _snapshot(
        self, conn: CoinbaseConnection, numbers: Renumber, product: str, position: int
    ) -> None:
        """The ``l2_data`` snapshot of ``product`` at ``position`` (none before its first one:
        the recorded snapshot comes with the replay)."""
        assert self.books is not None
        book = self.books.book_at(product, position)
        if book is None:
            return
        bids, asks = book.levels()
        updates = [L2Update("bid", EPOCH_TIME, p, q) for p, q in bids]
        updates += [L2Update("offer", EPOCH_TIME, p, q) for p, q in asks]
        event = L2Event("snapshot", product, updates)
        self._send(
            conn, numbers, message("l2_data", book.timestamp or self._timestamp(position), [event])
        )

    @staticmethod
    def _send(conn: CoinbaseConnection, numbers: Renumber, msg: Any) -> None:
        conn.send(msg.frame(numbers.take()), is_push=False)

    async def _beat_when_quiet(
        self, conn: CoinbaseConnection, player: Player, numbers: Renumber
    ) -> None:
        """A heartbeat whenever nothing was sent for a second (the recording ended, or a
        silence in it longer than the feed's watchdog allows at this speed)."""
        while not conn.closing:
            await asyncio.sleep(HEARTBEAT_S)
            quiet = conn.loop.time() - conn.last_activity >= HEARTBEAT_S
            if not quiet or (HEARTBEATS, "") not in conn.subscriptions:
                continue
            assert self.timeline is not None
            ns = self.timeline.recv_ns[min(max(player.position, 1), len(self.timeline)) - 1]
            numbers.beats += 1
            beat = {"current_time": go_time(ns, 0.0), "heartbeat_counter": numbers.beats}
            self._send(conn, numbers, message(HEARTBEATS, rfc3339_ns(ns), [beat]))

    def _timestamp(self, position: int) -> str:
        assert self.timeline is not None
        i = min(max(position, self.timeline.start + 1), len(self.timeline)) - 1
        return rfc3339_ns(self.timeline.recv_ns[max(i, 0)])

    # ---- REST --------------------------------------------------------------------------

    async def _products(self, request: web.Request) -> web.Response:
        assert self.timeline is not None
        recorded = self.timeline.rest.get(PRODUCTS_PATH)
        if recorded:
            return web.Response(body=recorded[0][2], content_type="application/json")
        wanted = request.query.getall("product_ids", [])
        rows = [
            product_json(spec_for(p)) for p in self.timeline.symbols if not wanted or p in wanted
        ]
        return web.json_response({"products": rows, "num_products": len(rows)})

    async def _time(self, request: web.Request) -> web.Response:
        assert self.timeline is not None
        positions = [p.position for p in self.players]
        ns = self.timeline.recv_ns[min(max(positions, default=1), len(self.timeline)) - 1]
        return web.json_response(
            {
                "iso": rfc3339_ns(ns),
                "epochSeconds": str(ns // 1_000_000_000),
                "epochMillis": str(ns // 1_000_000),
            }
        )


def spec_for(product: str) -> ProductSpec:
    """The simulator's product, else one with cent prices and satoshi sizes."""
    for spec in DEFAULT_PRODUCTS:
        if spec.product_id == product:
            return spec
    return ProductSpec(product, "0.01", "0.00000001", "0.00000001", "1", 0.0)
