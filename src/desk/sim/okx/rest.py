"""The simulator's OKX REST endpoints, plus ``POST /sim/faults/{name}`` for out-of-process use
(and ``GET /sim/faults``: ``{"injected":{"nan_price":2},"pending":["books:BTC-USDT"]}``, the
faults injected so far and the value corruptions still waiting for their push).

* ``GET /api/v5/public/instruments?instType=SPOT[&instId=BTC-USDT]`` (fields as PROTOCOLS.md A.7)
* ``GET /api/v5/market/books?instId=BTC-USDT[&sz=400]`` -> ``{"code":"0","msg":"","data":[{"asks":
  [["60012.4","0.5","0","2"]],"bids":[...],"ts":"1597026383085","seqId":123456}]}``; ``sz``
  defaults to 1 as on OKX. The book and ``seqId`` are those of the last ``books`` push.
* ``GET /api/v5/market/ticker?instId=BTC-USDT`` -> the ``tickers`` data entry.
* ``GET /api/v5/public/time`` -> ``{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}``

Errors use OKX's envelope: ``{"code":"51001","msg":"Instrument ID does not exist","data":[]}``
(HTTP 200, as a business error), ``50014`` for a missing required parameter and ``51000`` for a
bad one (HTTP 400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from desk.sim.instruments import InstrumentSpec
from desk.sim.okx.streams import InstrumentStreams
from desk.sim.okx.wire import rest_error, rest_ok

INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS")
LIST_TIME = "1606468572000"


def instrument_json(spec: InstrumentSpec) -> dict[str, Any]:
    """One ``instruments`` row; strings except the integer ``instIdCode``."""
    return {
        "instType": "SPOT",
        "instId": spec.inst_id,
        "instIdCode": spec.inst_id_code,
        "baseCcy": spec.base_ccy,
        "quoteCcy": spec.quote_ccy,
        "settleCcy": "",
        "ctVal": "",
        "ctMult": "",
        "ctValCcy": "",
        "ctType": "",
        "tickSz": spec.tick_sz,
        "lotSz": spec.lot_sz,
        "minSz": spec.min_sz,
        "maxLmtSz": "9999999999",
        "maxMktSz": "",
        "maxLmtAmt": "1000000",
        "maxMktAmt": "1000000",
        "state": "live",
        "ruleType": "normal",
        "listTime": LIST_TIME,
        "expTime": "",
        "lever": "10",
        "groupId": "1",
        "upcChg": [],
    }


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _missing(name: str) -> web.Response:
    return _json(rest_error("50014", f"Parameter {name} can not be empty"), 400)


def _bad(name: str) -> web.Response:
    return _json(rest_error("51000", f"Parameter {name} error"), 400)


def _unknown_instrument() -> web.Response:
    return _json(rest_error("51001", "Instrument ID does not exist"))


class RestApi:
    def __init__(
        self,
        streams: dict[str, InstrumentStreams],
        now_ms: Callable[[], int],
        faults: Callable[[str, dict[str, Any]], None],
        fault_state: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.streams = streams
        self.now_ms = now_ms
        self.apply_fault = faults
        self.fault_state = fault_state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v5/public/instruments", self.instruments),
            web.get("/api/v5/market/books", self.books),
            web.get("/api/v5/market/ticker", self.ticker),
            web.get("/api/v5/public/time", self.time),
            web.post("/sim/faults/{name}", self.fault),
            web.get("/sim/faults", self.faults),
        ]

    async def instruments(self, request: web.Request) -> web.Response:
        inst_type = request.query.get("instType", "")
        inst_id = request.query.get("instId", "")
        if not inst_type:
            return _missing("instType")
        if inst_type not in INST_TYPES:
            return _bad("instType")
        if inst_type != "SPOT":
            return _json(rest_ok([]))
        if inst_id and inst_id not in self.streams:
            return _unknown_instrument()
        rows = [
            instrument_json(s.spec) for s in self.streams.values() if inst_id in ("", s.inst_id)
        ]
        return _json(rest_ok(rows))

    async def books(self, request: web.Request) -> web.Response:
        inst_id = request.query.get("instId", "")
        if not inst_id:
            return _missing("instId")
        stream = self.streams.get(inst_id)
        if stream is None:
            return _unknown_instrument()
        raw = request.query.get("sz", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= 400:
            return _bad("sz")
        return _json(rest_ok([stream.rest_book(int(raw))]))

    async def ticker(self, request: web.Request) -> web.Response:
        inst_id = request.query.get("instId", "")
        if not inst_id:
            return _missing("instId")
        stream = self.streams.get(inst_id)
        if stream is None:
            return _unknown_instrument()
        return _json(rest_ok([stream.ticker_data(self.now_ms())]))

    async def time(self, request: web.Request) -> web.Response:
        return _json(rest_ok([{"ts": str(self.now_ms())}]))

    async def faults(self, request: web.Request) -> web.Response:
        """``GET /sim/faults`` -> what was injected and what still waits for its push."""
        state = self.fault_state() if self.fault_state is not None else {}
        return _json(msgspec.json.encode(state))

    async def fault(self, request: web.Request) -> web.Response:
        """``POST /sim/faults/stall`` with ``{"seconds": 2}`` -> ``{"ok":true}``."""
        name = request.match_info["name"]
        body = await request.read()
        try:
            kwargs = msgspec.json.decode(body) if body.strip() else {}
            if not isinstance(kwargs, dict):
                raise ValueError("the body must be a JSON object of keyword arguments")
            self.apply_fault(name, kwargs)
        except (ValueError, TypeError, KeyError, msgspec.DecodeError) as exc:
            return _json(msgspec.json.encode({"ok": False, "error": str(exc)}), 400)
        return _json(b'{"ok":true}')
