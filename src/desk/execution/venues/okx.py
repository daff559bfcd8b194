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
import base64
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from desk.config import ReconnectConfig
from desk.core.clock import NS_PER_MS
from desk.core.enums import ConnectionState, Side
from desk.core.orders import CLIENT_ORDER_ID, Liquidity, OrderRequest, OrderStatus, OrderType
from desk.execution.credentials import Credentials, load_credentials
from desk.execution.venue import (
    CancelRejected,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueError,
    VenueOrder,
    VenueReport,
)
from desk.net.connection import WsConnection

log = logging.getLogger(__name__)

PROD_PRIVATE_URL = "wss://ws.okx.com:8443/ws/v5/private"
DEMO_PRIVATE_URL = "wss://wspap.okx.com:8443/ws/v5/private"
LOGIN_PATH = "/users/self/verify"
TRACKS_KEPT = 10_000
ORDER_TYPES = {
    OrderType.LIMIT: "limit",
    OrderType.MARKET: "market",
    OrderType.POST_ONLY: "post_only",
    OrderType.IOC: "ioc",
    OrderType.FOK: "fok",
}
FROM_ORD_TYPE = {v: k for k, v in ORDER_TYPES.items()}
OPEN_STATES = {"live": OrderStatus.LIVE, "partially_filled": OrderStatus.PARTIALLY_FILLED}
CANCELED_STATES = frozenset({"canceled", "mmp_canceled"})
ALL_STATES = {
    **OPEN_STATES,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "mmp_canceled": OrderStatus.CANCELED,
}


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


# ---- signing --------------------------------------------------------------------------------


def _sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def login_request(credentials: Credentials, epoch_s: int) -> dict[str, Any]:
    """``{"op":"login","args":[{"apiKey","passphrase","timestamp","sign"}]}`` (A.8)."""
    ts = str(epoch_s)
    return {
        "op": "login",
        "args": [
            {
                "apiKey": credentials.api_key,
                "passphrase": credentials.passphrase,
                "timestamp": ts,
                "sign": _sign(credentials.secret, f"{ts}GET{LOGIN_PATH}"),
            }
        ],
    }


def iso_timestamp(epoch_ms: int) -> str:
    """``2020-12-08T09:08:57.715Z``."""
    when = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def rest_headers(
    credentials: Credentials, method: str, request_path: str, body: str, epoch_ms: int, demo: bool
) -> dict[str, str]:
    """The OK-ACCESS-* headers of one signed REST call (A.9)."""
    ts = iso_timestamp(epoch_ms)
    headers = {
        "OK-ACCESS-KEY": credentials.api_key,
        "OK-ACCESS-SIGN": _sign(credentials.secret, ts + method.upper() + request_path + body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": credentials.passphrase,
        "Content-Type": "application/json",
    }
    if demo:
        headers["x-simulated-trading"] = "1"
    return headers


def decimal_str(value: Decimal) -> str:
    """A Decimal as a plain wire string (``Decimal("1E+2")`` -> ``"100"``), never via float."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"not a finite Decimal: {value!r}")
    return format(value, "f")


# ---- per-order report state -----------------------------------------------------------------


@dataclass(slots=True)
class _Track:
    """What was already reported for one clOrdId (duplicates and reordering are absorbed)."""

    venue_order_id: str = ""
    accepted: bool = False
    done: bool = False
    trades: set[str] = field(default_factory=set)


def _ms_to_ns(text: Any) -> int:
    try:
        return int(text) * NS_PER_MS
    except (TypeError, ValueError):
        return time.time_ns()


class OkxExecutionClient:
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
        self._tracks: OrderedDict[str, _Track] = OrderedDict()
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
        self._tracks[cl] = _Track()  # a reused clOrdId starts over
        self._tracks.move_to_end(cl)
        self._trim_tracks()
        reply = await self._request("order", [self._order_arg(request)])
        entries = reply.get("data") or []
        if not entries:
            self._reject(cl, f"{reply.get('code')}: {reply.get('msg')}", now)
            return
        for entry in entries:
            ts = _ms_to_ns(entry.get("ts"))
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
                        ts=_ms_to_ns(entry.get("ts")),
                    )
                )

    async def open_orders(self) -> list[VenueOrder]:
        data = await self._signed_get("/api/v5/trade/orders-pending?instType=SPOT")
        return [self._venue_order(entry) for entry in data]

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        path = f"/api/v5/trade/order?instId={symbol}&clOrdId={client_order_id}"
        try:
            data = await self._signed_get(path)
        except VenueError as exc:
            if "51603" in str(exc):  # "Order does not exist"
                return None
            raise
        return self._venue_order(data[0]) if data else None

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

    @staticmethod
    def _venue_order(entry: dict[str, Any]) -> VenueOrder:
        px = entry.get("px") or ""
        return VenueOrder(
            client_order_id=str(entry.get("clOrdId", "")),
            venue_order_id=str(entry.get("ordId", "")),
            symbol=str(entry.get("instId", "")),
            side=Side(entry.get("side", "buy")),
            order_type=FROM_ORD_TYPE.get(entry.get("ordType", ""), OrderType.LIMIT),
            price=Decimal(px) if px else None,
            size=Decimal(entry.get("sz") or "0"),
            filled=Decimal(entry.get("accFillSz") or "0"),
            status=ALL_STATES.get(entry.get("state", ""), OrderStatus.LIVE),
            avg_price=Decimal(entry.get("avgPx") or "0"),
            fee=-Decimal(entry.get("fee") or "0"),  # OKX: negative = charged
            fee_ccy=str(entry.get("feeCcy", "")),
        )

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

    # ---- order updates -------------------------------------------------------------------

    def _track(self, cl: str) -> _Track:
        track = self._tracks.get(cl)
        if track is None:
            track = self._tracks[cl] = _Track()
            self._trim_tracks()
        return track

    def _trim_tracks(self) -> None:
        while len(self._tracks) > TRACKS_KEPT:
            self._tracks.popitem(last=False)

    def _on_order(self, entry: dict[str, Any]) -> None:
        cl = str(entry.get("clOrdId") or "")
        if not cl:
            return  # not placed by desk
        ord_id = str(entry.get("ordId", ""))
        state = entry.get("state", "")
        ts = _ms_to_ns(entry.get("uTime"))
        self._accepted(cl, ord_id, ts)
        track = self._track(cl)
        trade_id = str(entry.get("tradeId") or "")
        fill_sz = Decimal(entry.get("fillSz") or "0")
        if trade_id and fill_sz > 0 and trade_id not in track.trades:
            track.trades.add(trade_id)
            fee = entry.get("fillFee") or "0"
            self._emit(
                FillReport(
                    client_order_id=cl,
                    venue_order_id=ord_id,
                    trade_id=trade_id,
                    price=Decimal(entry["fillPx"]),
                    size=fill_sz,
                    fee=-Decimal(fee),
                    fee_ccy=str(entry.get("fillFeeCcy", "")),
                    liquidity=Liquidity.MAKER if entry.get("execType") == "M" else Liquidity.TAKER,
                    ts=_ms_to_ns(entry.get("fillTime") or entry.get("uTime")),
                )
            )
        if state == "filled":
            track.done = True
        elif state in CANCELED_STATES and not track.done:
            track.done = True
            source = entry.get("cancelSourceReason") or entry.get("msg") or ""
            reason = f"venue cancelSource {entry.get('cancelSource', '')}: {source}".rstrip(": ")
            self._emit(
                OrderCanceled(client_order_id=cl, venue_order_id=ord_id, reason=reason, ts=ts)
            )

    def _accepted(self, cl: str, ord_id: str, ts: int) -> None:
        track = self._track(cl)
        if not track.accepted:
            track.accepted, track.venue_order_id = True, ord_id
            self._emit(OrderAccepted(client_order_id=cl, venue_order_id=ord_id, ts=ts))

    def _reject(self, cl: str, reason: str, ts: int) -> None:
        track = self._track(cl)
        if not track.accepted and not track.done:
            track.done = True
            self._emit(OrderRejected(client_order_id=cl, reason=reason, ts=ts))

    def _emit(self, report: VenueReport) -> None:
        try:
            self._handler(report)
        except Exception:
            log.exception("okx: report handler failed on %s", type(report).__name__)


__all__ = [
    "OkxExecutionClient",
    "OkxExecutionConfig",
    "decimal_str",
    "iso_timestamp",
    "login_request",
    "rest_headers",
]
