"""``OkxSimulator``: a loopback OKX v5 exchange (WebSocket + REST on one aiohttp port).

    sim = OkxSimulator(SimulatorConfig(port=0, seed=7))
    await sim.start()
    sim.ws_public_url    # ws://127.0.0.1:PORT/ws/v5/public
    sim.ws_private_url   # ws://127.0.0.1:PORT/ws/v5/private (login with SIM_CREDENTIALS)
    sim.rest_url         # http://127.0.0.1:PORT
    sim.faults.sequence_gap("BTC-USDT")
    await sim.stop()

A synthetic market steps ``steps_per_second`` times a second. Every 10 ms (or every step, in
firehose mode) the simulator pushes trades, ``bbo-tbt`` and throttled ``tickers``; every
``update_interval`` it pushes ``books`` updates (only the changed levels, seqIds chained with
random steps) and ``books5``. Idle streams send heartbeats after ``heartbeat_interval``.
Connections that neither send nor receive anything for ``silence_timeout`` are closed with 4004.

For tests the market can be driven by hand: ``pause()``, ``step_market(n)``, ``publish()``,
and ``synthetic_take(inst_id, side, size)`` sends one synthetic market order.

The private side (``/ws/v5/private`` login, ``orders`` channel and order ops; signed REST trade
and account endpoints) trades for the accounts given by ``accounts=`` (default: one account
with ``SIM_CREDENTIALS``) on the same matching engines as the synthetic flow; see
``okx_private``, ``okx_private_rest`` and ``okx_trading``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp import WSMsgType, web

from desk.core.clock import NS_PER_MS, Clock, LiveClock
from desk.core.enums import Side
from desk.sim.accounts import SIM_CREDENTIALS, Account, AccountSpec, open_accounts
from desk.sim.config import SimulatorConfig, catch_up_cap
from desk.sim.fair import SharedFair
from desk.sim.faults import OrderFaults
from desk.sim.instruments import DEFAULT_INSTRUMENTS, InstrumentSpec
from desk.sim.loopback import LoopbackSite
from desk.sim.market import TAKER, FlowParams, SyntheticMarket
from desk.sim.okx.candles import BusinessStreams
from desk.sim.okx.conn import CLOSE_SILENCE, Connection
from desk.sim.okx.faults import FaultInjector
from desk.sim.okx.market_rest import MarketRest
from desk.sim.okx.private import PrivateWs
from desk.sim.okx.private_rest import PrivateRest
from desk.sim.okx.rest import RestApi
from desk.sim.okx.streams import Hub, InstrumentStreams
from desk.sim.okx.trading import PrivateTrading
from desk.sim.okx.wire import okx_checksum
from desk.sim.okx.ws import BUSINESS, PRIVATE, PUBLIC, RequestHandler

__all__ = ["SIM_CREDENTIALS", "AccountSpec", "OkxSimulator", "okx_checksum"]

log = logging.getLogger(__name__)

FAST_TICK = 0.01


class OkxSimulator:
    """An in-process OKX: public/business WebSockets, REST, a synthetic market and faults."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        instruments: Iterable[InstrumentSpec] = DEFAULT_INSTRUMENTS,
        send_book_snapshot: bool = True,
        firehose: bool = False,
        heartbeat_interval: float = 60.0,
        max_queue: int = 20_000,
        compress: bool = False,
        send_buffer: int | None = None,
        clock: Clock | None = None,
        flow: FlowParams | None = None,
        accounts: Iterable[AccountSpec] | None = None,
        fair: SharedFair | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.firehose = firehose
        self.heartbeat_interval = heartbeat_interval
        self.max_queue = max_queue
        self.compress = compress
        self.send_buffer = send_buffer
        self.clock = clock or LiveClock()
        # fair: the fair-price walk shared with the other venues' simulators (desk.sim.fair)
        self.market = SyntheticMarket(instruments, seed=self.config.seed, params=flow, shared=fair)
        self.hub = Hub()
        self._conn_ids = random.Random(f"{self.config.seed}:okx:conn")
        self.streams = {
            inst_id: InstrumentStreams(
                m, self.hub, self.config.seed, self.config.checksum, on_trades=self._on_trades
            )
            for inst_id, m in self.market.markets.items()
        }
        self.business = BusinessStreams(self.market, self.hub)
        self.requests = RequestHandler(
            self.hub, self.streams, self.business, send_book_snapshot, self.now_ms
        )
        self.faults = FaultInjector(self)
        self.rest = RestApi(self.streams, self.now_ms, self.faults.apply, self.faults.state)
        self.accounts = open_accounts(accounts if accounts is not None else [AccountSpec()])
        self.order_faults = OrderFaults()
        self.private = PrivateWs(self.accounts, self.order_faults)
        self.trading = PrivateTrading(
            self.market, self.accounts, self.now_ms, self.private.on_update
        )
        self.private.trading = self.trading
        self.private_rest = PrivateRest(self.trading, self.accounts, self.order_faults)
        self._conns: set[Connection] = set()
        self.site = LoopbackSite(self.config.host, self.config.port, "the simulator")
        self._paused = False
        self._origin = 0.0
        self._steps_since_origin = 0
        self.messages_sent = 0
        self.bytes_sent = 0
        self.connections_total = 0

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws/v5/public", self._ws_public)
        app.router.add_get("/ws/v5/business", self._ws_business)
        app.router.add_get("/ws/v5/private", self._ws_private)
        app.router.add_routes(self.rest.routes())
        app.router.add_routes(self.private_rest.routes())
        app.router.add_routes(MarketRest(self.streams, self.business, self.now_ms).routes())
        await self.site.bind(app, shutdown_timeout=1.0)
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.business.start_history(
            self.now_ms(), self.config.history_hours, self.config.steps_per_second
        )
        for stream in self.streams.values():
            stream.start(now, self.now_ms())
        self.publish()
        self._origin = now
        loop_fn = self._firehose_loop if self.firehose else self._market_loop
        self.site.add_task(loop_fn(), "okx-sim-market")
        self.site.add_task(self._watchdog_loop(), "okx-sim-watchdog")
        log.info("okx simulator listening on %s", self.rest_url)

    async def stop(self) -> None:
        await self.site.close(self._conns, "server stopping")

    async def __aenter__(self) -> OkxSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def ws_public_url(self) -> str:
        return self.site.ws_url("/ws/v5/public")

    @property
    def ws_business_url(self) -> str:
        return self.site.ws_url("/ws/v5/business")

    @property
    def ws_private_url(self) -> str:
        return self.site.ws_url("/ws/v5/private")

    @property
    def rest_url(self) -> str:
        return self.site.http_url

    def urls(self) -> dict[str, str]:
        """``{"ws_public": ..., "ws_business": ..., "rest": ...}`` (the public side; see
        ``ws_private_url`` for the private endpoint)."""
        return {
            "ws_public": self.ws_public_url,
            "ws_business": self.ws_business_url,
            "rest": self.rest_url,
        }

    def account(self, api_key: str = SIM_CREDENTIALS.api_key) -> Account:
        """The live account (balances, fee rates) behind ``api_key``."""
        return self.accounts[api_key]

    # ---- driving the market --------------------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ns() // NS_PER_MS

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop the market; streams keep running (heartbeats, pongs, REST)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._origin = asyncio.get_running_loop().time()
        self._steps_since_origin = 0

    def step_market(self, n: int = 1) -> None:
        """Advance the market ``n`` steps now; the changes go out with the next publish."""
        ts = self.now_ms()
        for _ in range(n):
            self.market.step(ts)

    def synthetic_take(self, inst_id: str, side: Side | str, size: str) -> None:
        """Send one synthetic market order of ``size`` (base currency) now: it trades against
        whatever rests, private orders included; the trades go out with the next publish."""
        market = self.market.markets[inst_id]
        lots = market.spec.lot.units(size)
        market.record(market.engine.submit_market(Side(side), lots, TAKER), self.now_ms())

    def publish(self, books: bool = True) -> None:
        """Run one publish cycle now (fast channels, and ``books``/``books5`` if ``books``)."""
        now = asyncio.get_running_loop().time()
        ts = self.now_ms()
        hb = self.heartbeat_interval
        for stream in self.streams.values():
            stream.publish_fast(now, ts, hb)
            if books:
                stream.publish_books(now, ts, hb)
        self.business.publish(now, ts)

    async def _market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.update_interval
        tick = min(FAST_TICK, interval)
        next_books = loop.time() + interval
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            self._run_due_steps(now, cap=catch_up_cap(self.config.steps_per_second))
            due = now >= next_books
            if due:
                next_books = max(next_books + interval, now - interval)
            self._safe_publish(due)

    async def _firehose_loop(self) -> None:
        """Publish after every single step, yielding between steps so senders keep up.

        Runs at ``steps_per_second`` or as fast as the CPU allows, whichever is lower.
        """
        loop = asyncio.get_running_loop()
        idle = min(FAST_TICK, 1 / self.config.steps_per_second)
        while True:
            if self._paused:
                self._safe_publish(True)
                await asyncio.sleep(FAST_TICK)
            elif self._due_steps(loop.time(), cap=1000) > 0:
                self.step_market()
                self._steps_since_origin += 1
                self._safe_publish(True)
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(idle)

    def _due_steps(self, now: float, cap: int) -> int:
        due = int((now - self._origin) * self.config.steps_per_second) - self._steps_since_origin
        if due > cap:  # fell behind (loop blocked): do not try to catch up forever
            self._origin, self._steps_since_origin = now, 0
            return cap
        return due

    def _run_due_steps(self, now: float, cap: int) -> None:
        if self._paused:
            return
        due = self._due_steps(now, cap)
        self.step_market(due)
        self._steps_since_origin += due

    def _safe_publish(self, books: bool) -> None:
        try:
            self.publish(books)
        except Exception:  # a bug must not silence the whole exchange
            log.exception("okx simulator publish failed")

    def _on_trades(self, inst_id: str, trades: list[Any]) -> None:
        self.business.on_trades(inst_id, trades)

    # ---- connections ---------------------------------------------------------------------

    async def _ws_public(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve_ws(request, PUBLIC)

    async def _ws_business(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve_ws(request, BUSINESS)

    async def _ws_private(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve_ws(request, PRIVATE)

    async def _serve_ws(self, request: web.Request, endpoint: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=self.compress, max_msg_size=1 << 16)
        transport = request.transport
        self._limit_send_buffer(transport)
        await ws.prepare(request)
        conn = Connection(
            ws, transport, self._new_conn_id(), endpoint, self.max_queue, self._count_sent
        )
        self._conns.add(conn)
        self.connections_total += 1
        handler = self.private if endpoint == PRIVATE else self.requests
        try:
            async for msg in ws:
                conn.last_activity = conn.loop.time()
                if msg.type is WSMsgType.TEXT:
                    handler.handle(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    handler.handle(conn, msg.data.decode("utf-8", "replace"))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            self.private.disconnected(conn)
            for key in conn.subscriptions:
                self.hub.discard(key, conn)
            await conn.finished()
        return ws

    def _limit_send_buffer(self, transport: asyncio.Transport | None) -> None:
        """Cap the kernel send buffer (SO_SNDBUF) so slow consumers show up sooner."""
        sock = transport.get_extra_info("socket") if transport is not None else None
        if self.send_buffer is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)

    def _new_conn_id(self) -> str:
        return f"{self._conn_ids.getrandbits(32):08x}"

    def _count_sent(self, frames: int, size: int) -> None:
        self.messages_sent += frames
        self.bytes_sent += size

    def open_connections(self) -> list[Connection]:
        return [c for c in self._conns if not c.closing]

    async def _watchdog_loop(self) -> None:
        """Close connections silent both ways for ``silence_timeout`` with 4004."""
        loop = asyncio.get_running_loop()
        timeout = self.config.silence_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 5))
            now = loop.time()
            for conn in self.open_connections():
                if not conn.stalled and now - conn.last_activity > timeout:
                    conn.close_soon(CLOSE_SILENCE, "")

    # ---- introspection -------------------------------------------------------------------

    @property
    def connections(self) -> int:
        return len(self._conns)

    def published_book(self, inst_id: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(bids desc, asks asc) as (px, sz) strings: the full book as of the last books push."""
        return self.streams[inst_id].book.raw()

    def last_seq_id(self, inst_id: str) -> int:
        """``seqId`` of the last ``books`` push (also what REST ``/market/books`` reports)."""
        return self.streams[inst_id].books_seq.last

    def published_trades(self, inst_id: str) -> list[dict[str, Any]]:
        """Data entries of the ``trades`` pushes so far (the last 10,000), oldest first."""
        return self.streams[inst_id].published_trades()

    def stats(self) -> dict[str, Any]:
        """Counters: frames written, bytes, pushes per channel (one per encode), connections."""
        return {
            "messages_sent": self.messages_sent,
            "bytes_sent": self.bytes_sent,
            "pushes": dict(self.hub.pushes),
            "connections": self.connections,
            "connections_total": self.connections_total,
            "market_steps": self.market.steps,
            "faults": dict(self.faults.injected),
        }
