"""Signed REST endpoints of the simulated OKX (PROTOCOLS.md A.9).

Every request carries ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN`` = Base64(HMAC_SHA256(secret,
timestamp + METHOD + requestPath(+query) + body)), ``OK-ACCESS-TIMESTAMP`` (ISO 8601 ms, e.g.
``2020-12-08T09:08:57.715Z``) and ``OK-ACCESS-PASSPHRASE``; ``x-simulated-trading`` is accepted
and ignored. Refusals, all HTTP 401 with OKX's envelope ``{"code":..,"msg":..,"data":[]}``:
``50103`` no key header, ``50104`` no passphrase header, ``50106`` no sign header, ``50107`` no
timestamp header, ``50111`` unknown key, ``50112`` timestamp not ISO 8601, ``50102`` timestamp
more than 30 s off, ``50105`` wrong passphrase, ``50113`` "Invalid Sign".

* ``POST /api/v5/trade/order`` / ``cancel-order`` / ``amend-order`` (body: one order, ``instId``)
  and ``batch-orders`` (a list) -> ``{"code":"0","msg":"","data":[{"clOrdId":..,"ordId":..,
  "tag":"","ts":..,"sCode":"0","sMsg":"","subCode":""}],"inTime":..,"outTime":..}``; ``code``
  "1" when every order failed, "2" when some did.
* ``GET /api/v5/trade/orders-pending[?instType=SPOT&instId=BTC-USDT]`` -> open orders, newest
  first, as ``orders`` push entries.
* ``orders-history`` (with ``state``, ``ordType``, ``after``/``before``, ``begin``/``end``,
  ``limit``), ``fills``, ``fills-history`` and ``asset/currencies``: see ``okx_private_queries``.
* ``GET /api/v5/trade/order?instId=BTC-USDT&ordId=..`` (or ``clOrdId``) -> one order, or
  ``51603`` "Order does not exist".
* ``GET /api/v5/account/balance[?ccy=BTC,USDT]`` -> ``{"data":[{"totalEq":"","uTime":..,
  "details":[{"ccy":"USDT","eq":..,"cashBal":..,"availBal":..,"frozenBal":..,"availEq":..,
  "uTime":..}]}]}``.

Injected order faults (``OrderFaults``) apply to the POST trade calls: ``error`` answers HTTP 503
with ``50001``; ``timeout`` holds the request open without an answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from desk.sim.accounts import Account
from desk.sim.faults import OrderFaults
from desk.sim.okx.auth import MAX_SKEW_S, parse_iso_ms, sign, signature_ok
from desk.sim.okx.private import SERVICE_DOWN
from desk.sim.okx.private_queries import PrivateQueries, balance_details
from desk.sim.okx.trading import BATCH_MAX, Ack, PrivateTrading
from desk.sim.okx.wire import encode, rest_error, rest_ok
from desk.sim.private_orders import order_data

HANG_S = 300.0
Handler = Callable[[web.Request, Account, bytes], Awaitable[web.Response]]


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


class _AuthError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


class PrivateRest(PrivateQueries):
    def __init__(
        self, trading: PrivateTrading, accounts: dict[str, Account], faults: OrderFaults
    ) -> None:
        self.trading = trading
        self.accounts = accounts
        self.faults = faults

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v5/trade/order", self._signed(self.order)),
            web.post("/api/v5/trade/batch-orders", self._signed(self.batch_orders)),
            web.post("/api/v5/trade/cancel-order", self._signed(self.cancel_order)),
            web.post("/api/v5/trade/amend-order", self._signed(self.amend_order)),
            web.get("/api/v5/trade/orders-pending", self._signed(self.orders_pending)),
            web.get("/api/v5/trade/order", self._signed(self.get_order)),
            web.get("/api/v5/account/balance", self._signed(self.balance)),
            *self.query_routes(self._signed),
        ]

    # ---- authentication ------------------------------------------------------------------

    def _signed(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def route(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                account = self._authenticate(request, body)
            except _AuthError as exc:
                return _json(rest_error(exc.code, exc.msg), 401)
            return await handler(request, account, body)

        return route

    def _authenticate(self, request: web.Request, body: bytes) -> Account:
        headers = request.headers
        key = headers.get("OK-ACCESS-KEY", "")
        if not key:
            raise _AuthError("50103", "Request header OK-ACCESS-KEY can not be empty.")
        passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
        if not passphrase:
            raise _AuthError("50104", "Request header OK-ACCESS-PASSPHRASE can not be empty.")
        given = headers.get("OK-ACCESS-SIGN", "")
        if not given:
            raise _AuthError("50106", "Request header OK-ACCESS-SIGN can not be empty.")
        ts = headers.get("OK-ACCESS-TIMESTAMP", "")
        if not ts:
            raise _AuthError("50107", "Request header OK-ACCESS-TIMESTAMP can not be empty.")
        account = self.accounts.get(key)
        if account is None:
            raise _AuthError("50111", "Invalid OK-ACCESS-KEY.")
        try:
            when = parse_iso_ms(ts)
        except ValueError:
            raise _AuthError("50112", "Invalid OK-ACCESS-TIMESTAMP.") from None
        if abs(time.time() - when) > MAX_SKEW_S:
            raise _AuthError("50102", "Timestamp request expired.")
        creds = account.credentials
        if passphrase != creds.passphrase:
            raise _AuthError("50105", "Request header OK-ACCESS-PASSPHRASE incorrect.")
        prehash = ts + request.method.upper() + request.raw_path + body.decode("utf-8", "replace")
        if not signature_ok(sign(creds.secret, prehash), given):
            raise _AuthError("50113", "Invalid Sign")
        return account

    # ---- trading -------------------------------------------------------------------------

    async def _trade(
        self, body: bytes, run: Callable[[Any], list[Ack]], batch: bool = False
    ) -> web.Response:
        in_time = str(time.time_ns() // 1000)
        failure = self.faults.take()
        if failure == "timeout":
            await asyncio.sleep(HANG_S)
        if failure is not None:
            return _json(rest_error(*SERVICE_DOWN), 503)
        try:
            arg = msgspec.json.decode(body) if body.strip() else None
        except msgspec.DecodeError:
            arg = None
        shape_ok = (
            isinstance(arg, list) and 0 < len(arg) <= BATCH_MAX if batch else isinstance(arg, dict)
        )
        if not shape_ok:
            return _json(rest_error("50000", "Body can not be empty or malformed."), 400)
        acks = run(arg)
        failed = sum(not a.ok for a in acks)
        code = "0" if failed == 0 else "1" if failed == len(acks) else "2"
        msg = {"0": "", "1": "All operations failed", "2": "Batch operation partially succeeded"}
        reply = {
            "code": code,
            "msg": msg[code],
            "data": [a.data() for a in acks],
            "inTime": in_time,
            "outTime": str(time.time_ns() // 1000),
        }
        return _json(encode(reply))

    async def order(self, request: web.Request, account: Account, body: bytes) -> web.Response:
        return await self._trade(body, lambda arg: [self.trading.place(account, arg)])

    async def batch_orders(
        self, request: web.Request, account: Account, body: bytes
    ) -> web.Response:
        return await self._trade(
            body, lambda args: self.trading.place_batch(account, args), batch=True
        )

    async def cancel_order(
        self, request: web.Request, account: Account, body: bytes
    ) -> web.Response:
        return await self._trade(body, lambda arg: [self.trading.cancel(account, arg)])

    async def amend_order(
        self, request: web.Request, account: Account, body: bytes
    ) -> web.Response:
        return await self._trade(body, lambda arg: [self.trading.amend(account, arg)])

    # ---- queries -------------------------------------------------------------------------

    async def orders_pending(
        self, request: web.Request, account: Account, body: bytes
    ) -> web.Response:
        inst_type = request.query.get("instType", "")
        if inst_type and inst_type != "SPOT":
            return _json(rest_ok([]))
        orders = self.trading.pending(account, request.query.get("instId", ""))
        return _json(rest_ok([order_data(o) for o in orders]))

    async def get_order(self, request: web.Request, account: Account, body: bytes) -> web.Response:
        query = request.query
        inst_id = query.get("instId", "")
        if not inst_id:
            return _json(rest_error("50014", "Parameter instId can not be empty"), 400)
        ord_id, cl = query.get("ordId", ""), query.get("clOrdId", "")
        if not ord_id and not cl:
            return _json(rest_error("50014", "Parameter ordId or clOrdId can not be empty"), 400)
        order = self.trading.find(account, inst_id, ord_id, cl)
        if order is None:
            return _json(rest_error("51603", "Order does not exist"))
        return _json(rest_ok([order_data(order, order.last_fill)]))

    async def balance(self, request: web.Request, account: Account, body: bytes) -> web.Response:
        wanted = [c for c in request.query.get("ccy", "").split(",") if c]
        now = int(time.time() * 1000)
        details = balance_details(account, wanted, now)
        return _json(rest_ok([{"totalEq": "", "uTime": str(now), "details": details}]))
