"""The gateway: an aiohttp server with read-only WebSocket routes and Prometheus ``/metrics``.

Routes (all GET; with a token set, each needs ``Authorization: Bearer <token>``):

* ``/ws/market/{symbol}[?depth=N&venue=V]`` - one venue's book top-N, trades and ticker
  (:mod:`.market`; OKX unless ``venue`` names another);
* ``/ws/bot/{bot_id}/status`` - a bot's state and its signals with their fate (:mod:`.bot`);
* ``/ws/portfolio/{bot_id}``, ``/ws/portfolio/all`` - positions, orders, fills, PnL;
* ``/ws/system`` - system events and health (:mod:`.system`);
* ``/metrics`` - Prometheus text format (:mod:`.metrics`); ``/schema`` - the messages' JSON
  Schema (:mod:`.messages`).

Every WebSocket starts with a ``hello`` message. The routes only read: what a client sends is
ignored. Close codes: 4008 the client fell behind (``gateway.client_queue`` messages waiting),
1001 the gateway is stopping. HTTP 401 without the right token, 404 for an unknown venue, symbol or
bot, 400 for a bad ``depth``, 503 past ``gateway.max_clients``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from desk.bridge.venue_views import PRIMARY_VENUE
from desk.core.orders import MANUAL_ACCOUNT
from desk.gateway.auth import GatewayRefused, authorized, bind_problem, load_token
from desk.gateway.bot import BotStream
from desk.gateway.clients import (
    CLOSE_GOING_AWAY,
    Client,
    GatewayStats,
    Stream,
    abort_transport,
)
from desk.gateway.config import MAX_BOOK_DEPTH, GatewayConfig
from desk.gateway.market import MarketStream
from desk.gateway.messages import Hello, encode, message_schema
from desk.gateway.metrics import DeskCollector
from desk.gateway.portfolio import ALL, PortfolioStream
from desk.gateway.source import DeskViews, EngineSource
from desk.gateway.system import SystemStream
from desk.gateway.tally import TradeTally

log = logging.getLogger(__name__)

SEND_BUFFER_BYTES = 64 * 1024
"""The kernel's send buffer per client (Linux doubles it) and aiohttp's writer limit: with the
queue, what one slow client can hold before it is closed (a few hundred KiB)."""
HEARTBEAT_S = 30.0
MAX_CLIENT_MESSAGE = 4096
"""Clients have nothing to say (the routes are read-only): bigger frames end the connection."""


class Gateway:
    """The HTTP + WebSocket server over one engine; :meth:`start` binds, :meth:`stop` closes.

    Raises :class:`GatewayRefused` when built with a config it must not run with (no token
    while listening beyond loopback, a token too short).
    """

    def __init__(
        self,
        config: GatewayConfig,
        source: EngineSource,
        views: DeskViews,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        problem = bind_problem(config, environ)
        if problem:
            raise GatewayRefused(problem)
        self.config = config
        self.source = source
        self.views = views
        self.token = load_token(config, environ)
        self.stats = GatewayStats()
        self.streams: dict[tuple[str, ...], Stream] = {}
        self.clients: set[Client] = set()
        self.tally = TradeTally(source.bus)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DeskCollector(source, self.stats, self.tally, self.client_counts))
        self.port = 0
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/schema", self._schema)
        app.router.add_get("/ws/market/{symbol}", self._market)
        app.router.add_get("/ws/bot/{bot_id}/status", self._bot)
        app.router.add_get("/ws/portfolio/{bot_id}", self._portfolio)
        app.router.add_get("/ws/system", self._system)
        return app

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self.tally.close()
            raise GatewayRefused(
                f"$.gateway.port: cannot listen on {self.config.host}:{self.config.port}: "
                f"{exc.strerror or exc}"
            ) from None
        self._runner = runner
        addresses = runner.addresses
        self.port = addresses[0][1] if addresses else self.config.port
        log.info("gateway listening on %s", self.url)

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (the real port when the config asked for 0)."""
        host = self.config.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        """Close every client (1001), stop the streams and the server; idempotent."""
        for client in list(self.clients):
            client.close("stopping", CLOSE_GOING_AWAY, "the desk is stopping")
        for client in list(self.clients):
            await client.finish()
        for stream in self.streams.values():
            if stream.active:
                stream.shut()
                stream.active = False
        self.streams.clear()
        self.tally.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def client_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter({route: 0 for route in _ROUTES})
        for client in self.clients:
            counts[client.route] += 1
        return dict(counts)

    # -- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not authorized(request.headers.get("Authorization"), self.token):
            self.stats.refused["unauthorized"] += 1
            return web.Response(
                status=401,
                text="a bearer token is required (Authorization: Bearer <token>)\n",
                headers={"WWW-Authenticate": 'Bearer realm="desk"'},
            )
        return await handler(request)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _schema(self, request: web.Request) -> web.Response:
        return web.json_response(message_schema())

    # -- WebSocket routes ------------------------------------------------------------------

    async def _market(self, request: web.Request) -> web.StreamResponse:
        symbol = request.match_info["symbol"]
        venue = request.query.get("venue", PRIMARY_VENUE)
        feeds = self.source.feeds
        venues = feeds.venues() if feeds is not None else [PRIMARY_VENUE]
        if venue not in venues:
            return self._not_found(f"unknown venue {venue!r} ({', '.join(venues)})")
        symbols = feeds.symbols(venue) if feeds is not None else self.views.symbols
        if symbol not in symbols:
            listed = ", ".join(symbols)
            return self._not_found(f"unknown symbol {symbol!r} on {venue} ({listed})")
        try:
            depth = int(request.query.get("depth", self.config.book_depth))
        except ValueError:
            depth = 0
        if not 1 <= depth <= MAX_BOOK_DEPTH:
            self.stats.refused["bad_request"] += 1
            return web.Response(
                status=400, text=f"depth must be a whole number from 1 to {MAX_BOOK_DEPTH}\n"
            )
        hz = self.config.market_hz
        return await self._serve(
            request,
            ("market", venue, symbol, str(depth)),
            lambda: MarketStream(symbol, depth, hz, self.source.bus, self.views, venue),
            hz,
        )

    async def _bot(self, request: web.Request) -> web.StreamResponse:
        bot_id = request.match_info["bot_id"]
        if bot_id not in self._bot_ids():
            return self._not_found(f"unknown bot {bot_id!r}")
        return await self._serve(
            request,
            ("bot", bot_id),
            lambda: BotStream(bot_id, self._status_interval, self.views),
            self.config.status_hz,
        )

    async def _portfolio(self, request: web.Request) -> web.StreamResponse:
        scope = request.match_info["bot_id"]
        if scope not in (ALL, MANUAL_ACCOUNT) and scope not in self._bot_ids():
            return self._not_found(f"unknown account {scope!r} (a bot id, manual or all)")
        return await self._serve(
            request,
            ("portfolio", scope),
            lambda: PortfolioStream(scope, self._status_interval, self.views),
            self.config.status_hz,
        )

    async def _system(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(
            request,
            ("system",),
            lambda: SystemStream(self._status_interval, self.views),
            self.config.status_hz,
        )

    @property
    def _status_interval(self) -> float:
        return 1.0 / self.config.status_hz

    def _bot_ids(self) -> set[str]:
        return {bot.bot_id for bot in self.views.bots().bots}

    def _not_found(self, why: str) -> web.Response:
        self.stats.refused["not_found"] += 1
        return web.Response(status=404, text=why + "\n")

    async def _serve(
        self,
        request: web.Request,
        key: tuple[str, ...],
        make: Callable[[], Stream],
        rate_hz: float,
    ) -> web.StreamResponse:
        """Upgrade, say hello, join the stream of ``key``, and wait for the client to leave."""
        if len(self.clients) >= self.config.max_clients:
            self.stats.refused["full"] += 1
            return web.Response(
                status=503, text=f"the gateway serves {self.config.max_clients} clients at most\n"
            )
        _limit_send_buffer(request.transport)
        ws = web.WebSocketResponse(
            compress=False,  # encoded once for every client: no per-client deflate
            heartbeat=HEARTBEAT_S,
            max_msg_size=MAX_CLIENT_MESSAGE,
            writer_limit=SEND_BUFFER_BYTES,
        )
        await ws.prepare(request)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = make()
        client = Client(
            ws,
            stream.route,
            self.config.client_queue,
            self.stats,
            abort_transport(request.transport),
        )
        self.clients.add(client)
        self.stats.connected[stream.route] += 1
        try:
            client.offer(encode(Hello(ts=time.time_ns(), route=request.path, rate_hz=rate_hz)))
            stream.add(client)
            client.start()
            async for _ in ws:  # read-only: what a client sends is ignored
                pass
        finally:
            stream.remove(client)
            if not stream.clients and self.streams.get(key) is stream:
                del self.streams[key]
            self.clients.discard(client)
            await client.finish()
        return ws


_ROUTES = (
    MarketStream.route,
    BotStream.route,
    PortfolioStream.route,
    "/ws/portfolio/all",
    SystemStream.route,
)


def _limit_send_buffer(transport: asyncio.BaseTransport | None) -> None:
    """Cap the kernel's send buffer for one client (see :data:`SEND_BUFFER_BYTES`)."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
