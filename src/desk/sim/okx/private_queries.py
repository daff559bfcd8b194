"""Signed read-only endpoints of the simulated OKX (mixed into ``PrivateRest``).

* ``GET /api/v5/trade/orders-history?instType=SPOT[&instId=&ordType=limit,ioc&state=filled|
  canceled&after=&before=&begin=&end=&limit=100]`` (and ``orders-history-archive``) -> finished
  orders newest first; ``after``/``before`` page by ``ordId`` (older / newer than), ``begin``/
  ``end`` filter ``cTime`` (ms, inclusive), ``limit`` at most 100 (a larger one gives 100).
  Other ``instType`` values answer an empty list; a bad value is ``51000`` "Parameter {name}
  error" (HTTP 400).
* ``GET /api/v5/trade/fills`` and ``fills-history`` (``instType`` required there) with
  ``instId``, ``ordId``, ``after``/``before`` (``billId``), ``begin``/``end`` (ts), ``limit``
  -> fills newest first (``desk.sim.okx.fills``).
* ``GET /api/v5/asset/currencies[?ccy=BTC,USDT]`` -> one entry per currency (one chain each):
  ``{"ccy":"BTC","name":"BTC","chain":"BTC-Bitcoin","canDep":true,"canWd":true,
  "canInternal":true,"minWd":"0.0001","maxWd":"1000000","wdTickSz":"8",...}``. ccxt calls it
  from ``load_markets()`` whenever keys are set.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from desk.sim.accounts import ZERO, Account
from desk.sim.okx.fills import FillQuery
from desk.sim.okx.wire import rest_error, rest_ok
from desk.sim.private_orders import ORD_TYPES, PrivateOrder, decimal_str, order_data

if TYPE_CHECKING:
    from desk.sim.okx.trading import PrivateTrading

REST_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
FINISHED_STATES = frozenset({"filled", "canceled", "mmp_canceled"})
HISTORY_LIMIT = 100
NETWORKS = {"BTC": "Bitcoin", "ETH": "ERC20", "SOL": "Solana", "USDT": "TRC20", "USDC": "ERC20"}


class QueryError(Exception):
    def __init__(self, name: str, missing: bool = False) -> None:
        super().__init__(name)
        self.name, self.missing = name, missing

    def response(self) -> web.Response:
        if self.missing:
            body = rest_error("50014", f"Parameter {self.name} can not be empty")
        else:
            body = rest_error("51000", f"Parameter {self.name} error")
        return web.Response(body=body, status=400, content_type="application/json")


def _number(query: Any, name: str, low: int = 0, high: int = 1 << 62, default: int = 0) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise QueryError(name)
    return int(raw)


def _limit(query: Any) -> int:
    """``limit`` 1.. (default and most 100: a larger one answers 100, it is not refused)."""
    return min(_number(query, "limit", 1, default=HISTORY_LIMIT), HISTORY_LIMIT)


def _ok(data: list[Any]) -> web.Response:
    return web.Response(body=rest_ok(data), content_type="application/json")


def balance_details(account: Account, wanted: Iterable[str] = (), now_ms: int = 0) -> list[Any]:
    """``details`` entries of ``account/balance`` and the WS ``account`` channel."""
    keep = set(wanted)
    now = str(now_ms or int(time.time() * 1000))
    out = []
    for ccy in account.currencies():
        if keep and ccy not in keep:
            continue
        avail, frozen = account.available.get(ccy, ZERO), account.frozen.get(ccy, ZERO)
        total = decimal_str(avail + frozen)
        out.append(
            {
                "ccy": ccy,
                "eq": total,
                "cashBal": total,
                "availBal": decimal_str(avail),
                "availEq": decimal_str(avail),
                "frozenBal": decimal_str(frozen),
                "ordFrozen": decimal_str(frozen),
                "uTime": now,
            }
        )
    return out


def currency_entry(ccy: str) -> dict[str, Any]:
    network = NETWORKS.get(ccy, ccy)
    return {
        "ccy": ccy,
        "name": ccy,
        "chain": f"{ccy}-{network}",
        "canDep": True,
        "canWd": True,
        "canInternal": True,
        "mainNet": True,
        "minDep": "0.00000001",
        "minWd": "0.0001",
        "maxWd": "1000000",
        "wdTickSz": "8",
        "wdQuota": "10000000",
        "usedWdQuota": "0",
        "fee": "0",
        "minFee": "0",
        "maxFee": "0",
        "minDepArrivalConfirm": "1",
        "minWdUnlockConfirm": "1",
        "needTag": False,
        "logoLink": "",
        "ctAddr": "",
    }


class PrivateQueries:
    """The handlers above; ``PrivateRest`` supplies ``trading`` and signs the routes."""

    trading: PrivateTrading

    def query_routes(self, signed: Any) -> list[web.RouteDef]:
        return [
            web.get("/api/v5/trade/orders-history", signed(self.orders_history)),
            web.get("/api/v5/trade/orders-history-archive", signed(self.orders_history)),
            web.get("/api/v5/trade/fills", signed(self.fills)),
            web.get("/api/v5/trade/fills-history", signed(self.fills_history)),
            web.get("/api/v5/asset/currencies", signed(self.currencies)),
        ]

    async def orders_history(
        self, request: web.Request, account: Account, body: bytes
    ) -> web.Response:
        """Finished orders matching every filter given, newest first."""
        query = request.query
        try:
            inst_type = query.get("instType", "")
            if not inst_type:
                raise QueryError("instType", missing=True)
            if inst_type not in REST_INST_TYPES:
                raise QueryError("instType")
            state = query.get("state", "")
            if state and state not in FINISHED_STATES:
                raise QueryError("state")
            types = {t for t in query.get("ordType", "").split(",") if t}
            if not types <= ORD_TYPES:
                raise QueryError("ordType")
            after, before = _number(query, "after"), _number(query, "before")
            begin, end = _number(query, "begin"), _number(query, "end")
            limit = _limit(query)
        except QueryError as exc:
            return exc.response()
        if inst_type != "SPOT":
            return _ok([])

        def wanted(o: PrivateOrder) -> bool:
            ord_id = int(o.ord_id)
            return (
                (not state or o.state == state)
                and (not types or o.params.ord_type in types)
                and (not after or ord_id < after)
                and (not before or ord_id > before)
                and (not begin or o.c_time >= begin)
                and (not end or o.c_time <= end)
            )

        orders = [o for o in self.trading.finished(account, query.get("instId", "")) if wanted(o)]
        return _ok([order_data(o) for o in orders[:limit]])

    async def fills(self, request: web.Request, account: Account, body: bytes) -> web.Response:
        return self._fills(request, account, type_required=False)

    async def fills_history(
        self, request: web.Request, account: Account, body: bytes
    ) -> web.Response:
        return self._fills(request, account, type_required=True)

    def _fills(self, request: web.Request, account: Account, type_required: bool) -> web.Response:
        query = request.query
        try:
            inst_type = query.get("instType", "")
            if type_required and not inst_type:
                raise QueryError("instType", missing=True)
            if inst_type and inst_type not in REST_INST_TYPES:
                raise QueryError("instType")
            q = FillQuery(
                inst_id=query.get("instId", ""),
                ord_id=query.get("ordId", ""),
                after=_number(query, "after"),
                before=_number(query, "before"),
                begin=_number(query, "begin"),
                end=_number(query, "end"),
                limit=_limit(query),
            )
        except QueryError as exc:
            return exc.response()
        if inst_type not in ("", "SPOT"):
            return _ok([])
        return _ok(self.trading.fills.query(account.api_key, q))

    async def currencies(self, request: web.Request, account: Account, body: bytes) -> web.Response:
        wanted = [c for c in request.query.get("ccy", "").split(",") if c]
        known = set(account.currencies())
        for spec in self.trading.by_id.values():
            known |= {spec.base_ccy, spec.quote_ccy}
        chosen = [c for c in sorted(known) if not wanted or c in wanted]
        return _ok([currency_entry(c) for c in chosen])
