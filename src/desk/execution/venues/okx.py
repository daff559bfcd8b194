"""``OkxExecutionClient``: orders on OKX (or the simulator) over the private WebSocket.

It logs into ``/ws/v5/private`` (PROTOCOLS.md A.8), subscribes to ``orders`` (instType SPOT),
and sends ``order``/``cancel-order`` as WS ops. ``submit``/``cancel`` wait for the op's reply
(at most ``request_timeout_s``): a per-order refusal (``sCode`` != 0) becomes an
``OrderRejected``/``CancelRejected`` report, while a request that could not be delivered or got
no answer in time raises ``VenueError`` (what the circuit breaker counts; the order's fate is
then unknown until the ``orders`` channel or reconciliation says).

The ``orders`` channel is authoritative and mapped to reports: the first sign of an order at
the venue gives ``OrderAccepted`` (once), each new ``tradeId`` a ``FillReport`` (fee sign
flipped: OKX's ``fillFee`` < 0 = charged, ``FillReport.fee`` > 0 = charged), a canceled state
one ``OrderCanceled``. Duplicate and out-of-order pushes produce no duplicate reports.

The connection re-logs-in and resubscribes after every reconnect (exponential backoff with
jitter, ``desk.net.connection.WsConnection``); orders sent while it is down raise
``VenueError``. ``open_orders()`` and ``balances()`` use signed REST. ``demo=True`` adds
``x-simulated-trading: 1`` to REST calls and, when the production private URL is configured,
uses the demo one (``wspap.okx.com``). Prices and sizes go out as strings formatted from
``Decimal``. Credentials are never logged.

Against the simulator::

    sim = OkxSimulator(SimulatorConfig(port=0))
    await sim.start()
    cfg = OkxExecutionConfig(ws_private_url=sim.ws_private_url, rest_url=sim.rest_url)
    client = OkxExecutionClient(cfg, Credentials(api_key="sim-api-key", secret="sim-secret",
                                                 passphrase="sim-passphrase"))
    client.set_report_handler(reports.append)
    await client.connect()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from itertools import count
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from desk.core.clock import NS_PER_MS
from desk.core.enums import ConnectionState
from desk.core.orders import CLIENT_ORDER_ID, OrderRequest, OrderType
from desk.execution.credentials import Credentials, load_credentials
from desk.execution.venue import (
    CancelRejected,
    OrderRejected,
    VenueError,
    VenueOrder,
    VenueReport,
)
from desk.execution.venues.okx_reports import OrderReports, OrderTrack
from desk.execution.venues.okx_wire import (
    ORDER_TYPES,
    decimal_str,
    login_request,
    ms_to_ns,
    rest_headers,
    venue_order,
)
from desk.net.config import ReconnectConfig
from desk.net.connection import WsConnection

log = logging.getLogger(__name__)

PROD_PRIVATE_URL = "wss://ws.okx.com:8443/ws/v5/private"
DEMO_PRIVATE_URL = "wss://wspap.okx.com:8443/ws/v5/private"


class OkxExecutionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how the OKX execution client connects; secrets are not part of it."""

    ws_private_url: str = PROD_PRIVATE_URL
    rest_url: str = "https://www.okx.com"
    demo: bool = False
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 15.0
    ping_interval_s: float = 20.0
    credentials_file: str = ""
    api_key_env: str = "DESK_OKX_API_KEY"
    secret_env: str = "DESK_OKX_SECRET"
    passphrase_env: str = "DESK_OKX_PASSPHRASE"
    reconnect: ReconnectConfig = msgspec.field(default_factory=ReconnectConfig)

    def __post_init__(self) -> None:
        if not self.ws_private_url.startswith(("ws://", "wss://")):
            raise ValueError(
                f"ws_private_url: must start with ws:// or wss://, got {self.ws_private_url!r}"
            )
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError(
                f"rest_url: must start with http:// or https://, got {self.rest_url!r}"
            )
        for name in ("request_timeout_s", "connect_timeout_s", "ping_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)!r}")
        if self.ping_interval_s >= 30:
            raise ValueError("ping_interval_s: must be under 30 s (OKX closes silent connections)")

    @property
    def private_url(self) -> str:
        """The private WS URL actually used (the demo host when ``demo`` and left default)."""
        if self.demo and self.ws_private_url == PROD_PRIVATE_URL:
            return DEMO_PRIVATE_URL
        return self.ws_private_url

    def load_credentials(self) -> Credentials:
        """From ``credentials_file`` when set, else from the configured environment variables."""
        names = {
            "api_key": self.api_key_env,
            "secret": self.secret_env,
            "passphrase": self.passphrase_env,
        }
        return load_credentials(self.credentials_file, env_names=names)


class OkxExecutionClient(OrderReports):
    """The OKX venue client (see the module docstring)."""

    name = "okx"

    def __init__(
        self,
        config: OkxExecutionConfig,
        credentials: Credentials | None = None,
        *,
        connection_name: str = "okx-private",
    ) -> None:
        self.config = config
        self._credentials = credentials if credentials is not None else config.load_credentials()
        self._connection_name = connection_name
        self._handler: Callable[[VenueReport], None] = lambda _report: None
        self._conn: WsConnection | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ready = asyncio.Event()
        self._auth_failed = asyncio.Event()
        self._auth_error = ""
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = count(1)
        self._tracks: OrderedDict[str, OrderTrack] = OrderedDict()
        self._inst_codes: dict[str, int] = {}
        self.logins = 0

    # ---- ExecutionClient -----------------------------------------------------------------

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self._handler = handler

    async def connect(self) -> None:
        """Load instrument codes, log in and subscribe; ``VenueError`` if that fails."""
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
        self._http = aiohttp.ClientSession(timeout=timeout)
        try:
            await self._load_instruments()
        except VenueError:
            await self.close()
            raise
        self._conn = WsConnection(
            self.config.private_url,
            self._on_message,
            on_open=self._on_open,
            on_state=self._on_state,
            name=self._connection_name,
            ping_interval=self.config.ping_interval_s,
            connect_timeout=self.config.connect_timeout_s,
            reconnect=self.config.reconnect,
        )
        await self._conn.start()
        ready = asyncio.ensure_future(self._ready.wait())
        refused = asyncio.ensure_future(self._auth_failed.wait())
        done, _ = await asyncio.wait(
            {ready, refused},
            timeout=self.config.connect_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in (ready, refused):
            task.cancel()
        if ready not in done:
            reason = self._auth_error or self._conn.reason or "no answer"
            await self.close()
            raise VenueError(f"okx: could not log in to {self.config.private_url}: {reason}")

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.stop()
        self._fail_waiters("client closed")
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def submit(self, request: OrderRequest) -> None:
        cl = request.client_order_id
        now = time.time_ns()
        problem = self._invalid(request)
        if problem:
            self._emit(OrderRejected(client_order_id=cl, reason=problem, ts=now))
            return
        self._tracks[cl] = OrderTrack()  # a reused clOrdId starts over
        self._tracks.move_to_end(cl)
        self._trim_tracks()
        reply = await self._request("order", [self._order_arg(request)])
        entries = reply.get("data") or []
        if not entries:
            self._reject(cl, f"{reply.get('code')}: {reply.get('msg')}", now)
            return
        for entry in entries:
            ts = ms_to_ns(entry.get("ts"))
            if entry.get("sCode") == "0":
                self._accepted(cl, str(entry.get("ordId", "")), ts)
            else:
                self._reject(cl, f"venue {entry.get('sCode')}: {entry.get('sMsg')}", ts)

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        arg = self._instrument_arg(symbol)
        arg["clOrdId"] = client_order_id
        reply = await self._request("cancel-order", [arg])
        entries = reply.get("data") or [{"sCode": reply.get("code"), "sMsg": reply.get("msg")}]
        for entry in entries:
            if entry.get("sCode") != "0":
                reason = f"venue {entry.get('sCode')}: {entry.get('sMsg')}"
                self._emit(
                    CancelRejected(
                        client_order_id=client_order_id,
                        reason=reason,
                        ts=ms_to_ns(entry.get("ts")),
                    )
                )

    async def open_orders(self) -> list[VenueOrder]:
        data = await self._signed_get("/api/v5/trade/orders-pending?instType=SPOT")
        return [venue_order(entry) for entry in data]

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        path = f"/api/v5/trade/order?instId={symbol}&clOrdId={client_order_id}"
        try:
            data = await self._signed_get(path)
        except VenueError as exc:
            if "51603" in str(exc):  # "Order does not exist"
                return None
            raise
        return venue_order(data[0]) if data else None

    async def balances(self) -> dict[str, Decimal]:
        data = await self._signed_get("/api/v5/account/balance")
        out: dict[str, Decimal] = {}
        for account in data:
            for detail in account.get("details", []):
                avail = detail.get("availBal") or "0"
                out[str(detail["ccy"])] = Decimal(avail)
        return out

    # ---- introspection -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Logged in and subscribed right now."""
        return self._ready.is_set()

    @property
    def connection(self) -> WsConnection | None:
        return self._conn

    # ---- requests ------------------------------------------------------------------------

    @staticmethod
    def _invalid(request: OrderRequest) -> str:
        if not CLIENT_ORDER_ID.fullmatch(request.client_order_id):
            return f"client order id {request.client_order_id!r} is not 1-32 letters/digits"
        if request.order_type is not OrderType.MARKET and request.price is None:
            return f"a {request.order_type.value} order needs a price"
        if request.size <= 0:
            return f"size must be positive, got {request.size}"
        return ""

    def _instrument_arg(self, symbol: str) -> dict[str, Any]:
        code = self._inst_codes.get(symbol)
        return {"instIdCode": code} if code is not None else {"instId": symbol}

    def _order_arg(self, request: OrderRequest) -> dict[str, Any]:
        arg = self._instrument_arg(request.symbol)
        arg.update(
            tdMode="cash",
            clOrdId=request.client_order_id,
            side=request.side.value,
            ordType=ORDER_TYPES[request.order_type],
            sz=decimal_str(request.size),
        )
        if request.order_type is OrderType.MARKET:
            arg["tgtCcy"] = "base_ccy"  # OrderRequest.size is always base currency
        else:
            assert request.price is not None
            arg["px"] = decimal_str(request.price)
        return arg

    async def _request(self, op: str, args: list[dict[str, Any]]) -> dict[str, Any]:
        """Send one WS op and wait for its reply; ``VenueError`` if it cannot be had."""
        conn = self._conn
        if conn is None or not self._ready.is_set():
            raise VenueError(f"okx: not connected, {op} not sent")
        req_id = f"d{next(self._ids)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[req_id] = waiter
        try:
            await conn.send(msgspec.json.encode({"id": req_id, "op": op, "args": args}).decode())
            reply = await asyncio.wait_for(waiter, self.config.request_timeout_s)
        except TimeoutError:
            raise VenueError(
                f"okx: no answer to {op} {req_id} within {self.config.request_timeout_s}s"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise VenueError(f"okx: {op} not sent: {exc}") from None
        finally:
            self._waiters.pop(req_id, None)
        code = str(reply.get("code", ""))
        if code not in ("0", "1", "2") and not (code == "60013" or code.startswith("51")):
            raise VenueError(f"okx: {op} failed: {code} {reply.get('msg', '')}")
        return reply

    def _fail_waiters(self, reason: str) -> None:
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(VenueError(f"okx: {reason} before the venue answered"))
        self._waiters.clear()

    # ---- REST ----------------------------------------------------------------------------

    async def _load_instruments(self) -> None:
        data = await self._get("/api/v5/public/instruments?instType=SPOT", signed=False)
        self._inst_codes = {
            str(row["instId"]): int(row["instIdCode"])
            for row in data
            if isinstance(row.get("instIdCode"), int)
        }

    async def _signed_get(self, request_path: str) -> list[dict[str, Any]]:
        return await self._get(request_path, signed=True)

    async def _get(self, request_path: str, signed: bool) -> list[dict[str, Any]]:
        http = self._http
        if http is None:
            raise VenueError("okx: not connected (call connect first)")
        if signed:
            now_ms = time.time_ns() // NS_PER_MS
            headers = rest_headers(
                self._credentials, "GET", request_path, "", now_ms, self.config.demo
            )
        else:
            headers = {"x-simulated-trading": "1"} if self.config.demo else {}
        url = URL(self.config.rest_url.rstrip("/") + request_path, encoded=True)
        try:
            async with http.get(url, headers=headers) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VenueError(f"okx: GET {request_path.split('?')[0]} failed: {exc!r}") from None
        try:
            reply = msgspec.json.decode(body)
        except msgspec.DecodeError:
            reply = {}
        code = str(reply.get("code", "")) if isinstance(reply, dict) else ""
        if status != 200 or code != "0":
            msg = reply.get("msg", "") if isinstance(reply, dict) else ""
            raise VenueError(
                f"okx: GET {request_path.split('?')[0]} refused: HTTP {status}, code {code}: {msg}"
            )
        return list(reply.get("data") or [])

    # ---- connection ----------------------------------------------------------------------

    async def _on_open(self, conn: WsConnection) -> None:
        """Log in, then subscribe to ``orders``; raising drops the connection (and retries)."""
        login = login_request(self._credentials, int(time.time()))
        reply = await self._handshake(conn, "login", login)
        if reply.get("event") != "login" or reply.get("code") != "0":
            self._auth_error = f"login refused: {reply.get('code')} {reply.get('msg')}"
            self._auth_failed.set()
            raise VenueError(self._auth_error)
        self.logins += 1
        subscribe = {"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}
        reply = await self._handshake(conn, "orders", subscribe)
        if reply.get("event") != "subscribe":
            raise VenueError(f"orders subscription refused: {reply.get('code')} {reply.get('msg')}")
        self._ready.set()
        log.info("okx: logged in and subscribed to orders on %s", conn.url)

    async def _handshake(
        self, conn: WsConnection, key: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        req_id = f"{key}{next(self._ids)}"
        request = {"id": req_id, **request}
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[req_id] = waiter
        try:
            await conn.send(msgspec.json.encode(request).decode())
            return await asyncio.wait_for(waiter, self.config.request_timeout_s)
        finally:
            self._waiters.pop(req_id, None)

    def _on_state(self, state: ConnectionState, reason: str) -> None:
        if state is not ConnectionState.CONNECTED:
            if self._ready.is_set():
                log.warning("okx private connection %s: %s", state.value, reason)
            self._ready.clear()
            self._fail_waiters(f"connection {state.value}")

    def _on_message(self, raw: bytes | str, recv_ns: int) -> None:
        if raw in (b"pong", "pong"):
            return
        try:
            msg = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            log.warning("okx private: undecodable frame (%d bytes)", len(raw))
            return
        if not isinstance(msg, dict):
            return
        req_id = msg.get("id")
        waiter = self._waiters.get(req_id) if isinstance(req_id, str) else None
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)
            return
        arg = msg.get("arg")
        if isinstance(arg, dict) and arg.get("channel") == "orders" and "data" in msg:
            for entry in msg["data"]:
                self._on_order(entry)
        elif msg.get("event") == "notice" and self._conn is not None:
            self._conn.request_reconnect(f"venue notice {msg.get('code')}")
        elif msg.get("event") == "error":
            log.warning("okx private error %s: %s", msg.get("code"), msg.get("msg"))


__all__ = ["OkxExecutionClient", "OkxExecutionConfig"]
