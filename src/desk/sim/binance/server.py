"""The stream side of the Binance simulator: endpoints, connections, keepalive and lifetime.

* ``/ws/<stream>`` (``/ws`` alone: none yet) sends raw payloads; ``/stream?streams=a/b/c``
  (``/stream`` alone: none yet) sends combined frames ``{"stream":"a","data":{...}}``. Streams in
  the URL are subscribed at once; a name that is not a stream of a listed symbol refuses the
  handshake (HTTP 400, ``{"code":-1121,"msg":"Invalid symbol."}``).
* Text frames are live requests (``requests.RequestHandler``).
* Every ``ping_interval`` the server pings with a payload; a connection whose pong (echoing that
  payload) has not come within ``pong_timeout`` is closed. The server answers pings with pongs.
  While a connection is stalled (a fault) it neither pings nor answers; the pongs go out when the
  stall ends.
* More than ``max_incoming_per_s`` frames in a second (text, ping or pong) close the connection
  (1008), as Binance disconnects a client over its limit of 5.
* A connection older than ``max_connection_age`` gets ``serverShutdown`` and is closed
  ``shutdown_grace`` seconds later (1001).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from desk.sim.binance.conn import COMBINED, RAW, StreamConnection
from desk.sim.binance.requests import RequestHandler, valid_stream
from desk.sim.binance.streams import Hub
from desk.sim.binance.wire import SHUTDOWN_STREAM, rest_error, server_shutdown, wrap
from desk.sim.config import SimulatorConfig
from desk.sim.loopback import LoopbackSite

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
KEEPALIVE_TICK = 0.05


class StreamServer:
    """aiohttp app, stream connections and their keepalive; the simulator builds on it."""

    def __init__(
        self,
        config: SimulatorConfig,
        hub: Hub,
        symbols: set[str],
        *,
        conn_ids: random.Random,
        ping_interval: float,
        pong_timeout: float,
        max_connection_age: float,
        shutdown_grace: float,
        max_incoming_per_s: int,
        max_streams: int,
        max_queue: int,
    ) -> None:
        self.config = config
        self.hub = hub
        self.symbols = symbols  # "btcusdt", as stream names write them
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_connection_age = max_connection_age
        self.shutdown_grace = shutdown_grace
        self.max_incoming_per_s = max_incoming_per_s
        self.max_queue = max_queue
        self.requests = RequestHandler(hub, symbols, max_streams)
        self._conn_ids = conn_ids
        self._conns: set[StreamConnection] = set()
        self.site = LoopbackSite(self.config.host, self.config.port, "the simulator")
        self._pongs_later: set[asyncio.Task[None]] = set()
        self.messages_sent = 0
        self.bytes_sent = 0
        self.connections_total = 0
        self.pings_sent = 0
        self.pongs_received = 0
        self.closed_for_pong = 0
        self.closed_for_rate = 0

    # ---- lifecycle -----------------------------------------------------------------------

    async def start_server(self, routes: list[web.RouteDef]) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._ws_raw)
        app.router.add_get("/ws/{streams:.+}", self._ws_raw)
        app.router.add_get("/stream", self._ws_combined)
        app.router.add_routes(routes)
        await self.site.bind(app, shutdown_timeout=1.0)
        self.add_task(self._keepalive_loop(), "binance-sim-keepalive")

    def add_task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.site.add_task(coro, name)

    async def stop_server(self) -> None:
        await self.site.cancel_tasks()
        for task in list(self._pongs_later):
            task.cancel()
        await self.site.close(self._conns, "server stopping", CLOSE_GOING_AWAY)

    # ---- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def ws_url(self) -> str:
        """The stream host, as ``BinanceConfig.ws_url`` takes it."""
        return self.site.ws_url()

    @property
    def rest_url(self) -> str:
        return self.site.http_url

    def urls(self) -> dict[str, str]:
        return {"ws": self.ws_url, "rest": self.rest_url}

    # ---- connections ---------------------------------------------------------------------

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.match_info.get("streams", "").split("/") if n]
        return await self._serve(request, RAW, names)

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._serve(request, COMBINED, names)

    async def _serve(
        self, request: web.Request, endpoint: str, names: list[str]
    ) -> web.StreamResponse:
        if not all(valid_stream(name, self.symbols) for name in names):
            body = rest_error(-1121, "Invalid symbol.")
            return web.Response(body=body, status=400, content_type="application/json")
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 16)
        await ws.prepare(request)
        conn_id = f"{self._conn_ids.getrandbits(32):08x}"
        conn = StreamConnection(
            ws, request.transport, conn_id, endpoint, self.max_queue, self._count_sent
        )
        self._conns.add(conn)
        self.connections_total += 1
        for name in names:
            self.hub.add(name, conn)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                if conn.closing:
                    continue  # going away: nothing more is answered
                conn.last_activity = conn.loop.time()
                if not conn.count_incoming(self.max_incoming_per_s):
                    self.closed_for_rate += 1
                    conn.close_soon(CLOSE_POLICY, "Too many requests")
                    continue
                await self._on_frame(conn, msg.type, msg.data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            for name in list(conn.streams):
                self.hub.discard(name, conn)
            await conn.finished()
        return ws

    async def _on_frame(self, conn: StreamConnection, kind: WSMsgType, data: Any) -> None:
        if kind is WSMsgType.TEXT:
            self.requests.handle(conn, data)
        elif kind is WSMsgType.PING:
            delay = conn.stalled_until - conn.loop.time()
            if delay > 0:  # stalled: the pong goes out with everything else afterwards
                task = conn.loop.create_task(self._pong(conn, bytes(data), delay))
                self._pongs_later.add(task)
                task.add_done_callback(self._pongs_later.discard)
            else:
                await self._pong(conn, data, 0.0)
        elif kind is WSMsgType.PONG and conn.on_pong(bytes(data)):
            self.pongs_received += 1

    @staticmethod
    async def _pong(conn: StreamConnection, payload: bytes, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if not conn.closing:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.pong(payload)

    def _count_sent(self, frames: int, size: int) -> None:
        self.messages_sent += frames
        self.bytes_sent += size

    def open_connections(self) -> list[StreamConnection]:
        return [c for c in self._conns if not c.closing]

    @property
    def connections(self) -> int:
        return len(self._conns)

    # ---- keepalive and lifetime ----------------------------------------------------------

    async def _keepalive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(KEEPALIVE_TICK, self.ping_interval / 4)
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for conn in self.open_connections():
                if conn.stalled:
                    continue
                oldest = conn.oldest_ping()
                if oldest is not None and now - oldest > self.pong_timeout:
                    self.closed_for_pong += 1
                    conn.close_soon(CLOSE_POLICY, "Pong timeout")
                elif now - conn.last_ping_at >= self.ping_interval:
                    await self._ping(conn, now)
                if not conn.shutdown_sent and now - conn.opened_at >= self.max_connection_age:
                    self._shut_down(conn)

    async def _ping(self, conn: StreamConnection, now: float) -> None:
        payload = str(self.now_ms()).encode() + b"-" + str(conn.pings_sent).encode()
        conn.pinged(payload, now)
        self.pings_sent += 1
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.ping(payload)

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def _shut_down(self, conn: StreamConnection) -> None:
        conn.shutdown_sent = True
        payload = server_shutdown(self.now_ms())
        conn.send(wrap(SHUTDOWN_STREAM, payload) if conn.combined else payload, is_push=False)
        conn.loop.call_later(self.shutdown_grace, conn.close_soon, CLOSE_GOING_AWAY, "shutdown")

    def server_stats(self) -> dict[str, Any]:
        return {
            "messages_sent": self.messages_sent,
            "bytes_sent": self.bytes_sent,
            "connections": self.connections,
            "connections_total": self.connections_total,
            "pings_sent": self.pings_sent,
            "pongs_received": self.pongs_received,
            "closed_for_pong": self.closed_for_pong,
            "closed_for_rate": self.closed_for_rate,
        }
