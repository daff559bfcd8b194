"""The simulator's Binance REST endpoints, plus ``POST /sim/faults/{name}``.

* ``GET /api/v3/ping`` -> ``{}``; ``GET /api/v3/time`` -> ``{"serverTime":1499827319559}``
* ``GET /api/v3/exchangeInfo[?symbol=BTCUSDT | ?symbols=["BTCUSDT","ETHUSDT"]]`` -> symbols with
  their status, assets and filters (``PRICE_FILTER``, ``LOT_SIZE``, ``MIN_NOTIONAL``,
  ``NOTIONAL``), strings with eight decimals as Binance writes them (PROTOCOLS.md B.4)
* ``GET /api/v3/depth?symbol=BTCUSDT[&limit=100]`` -> ``{"lastUpdateId":1027024,"bids":
  [["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}``: the current book
  (newer than the last diff pushed, as on Binance); ``limit`` 1..5000, default 100
* ``GET /api/v3/ticker/bookTicker?symbol=BTCUSDT`` -> ``{"symbol":"BTCUSDT","bidPrice":...,
  "bidQty":...,"askPrice":...,"askQty":...}``

Errors are HTTP 400 with Binance's body: ``{"code":-1102,"msg":"Mandatory parameter 'symbol'
was not sent, was empty/null, or malformed."}``, ``-1121`` "Invalid symbol.", ``-1100`` for an
unusable parameter value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from desk.sim.binance.listings import Listing, pad
from desk.sim.binance.streams import SymbolStreams
from desk.sim.binance.wire import encode, rest_error

MAX_DEPTH_LIMIT = 5000


def symbol_json(listing: Listing) -> dict[str, Any]:
    """One ``exchangeInfo`` symbol (the fields desk reads, and the common rest)."""
    spec = listing.spec
    return {
        "symbol": listing.native,
        "status": "TRADING",
        "baseAsset": spec.base_ccy,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote_ccy,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": pad(spec.tick_sz),
                "maxPrice": pad("1000000"),
                "tickSize": pad(spec.tick_sz),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": pad(spec.min_sz),
                "maxQty": pad("9000"),
                "stepSize": pad(spec.lot_sz),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": pad(listing.min_notional),
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": pad(listing.min_notional),
                "applyMinToMarket": True,
                "maxNotional": pad(listing.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _missing(name: str) -> web.Response:
    msg = f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    return _json(rest_error(-1102, msg), 400)


def _bad(name: str) -> web.Response:
    return _json(rest_error(-1100, f"Illegal characters found in parameter '{name}'."), 400)


def _invalid_symbol() -> web.Response:
    return _json(rest_error(-1121, "Invalid symbol."), 400)


class RestApi:
    def __init__(
        self,
        streams: dict[str, SymbolStreams],
        now_ms: Callable[[], int],
        faults: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.streams = streams  # by native symbol
        self.now_ms = now_ms
        self.apply_fault = faults
        self.depth_requests = 0

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v3/ping", self.ping),
            web.get("/api/v3/time", self.time),
            web.get("/api/v3/exchangeInfo", self.exchange_info),
            web.get("/api/v3/depth", self.depth),
            web.get("/api/v3/ticker/bookTicker", self.book_ticker),
            web.post("/sim/faults/{name}", self.fault),
        ]

    async def ping(self, request: web.Request) -> web.Response:
        return _json(b"{}")

    async def time(self, request: web.Request) -> web.Response:
        return _json(encode({"serverTime": self.now_ms()}))

    async def exchange_info(self, request: web.Request) -> web.Response:
        wanted = self._wanted_symbols(request)
        if isinstance(wanted, web.Response):
            return wanted
        rows = [symbol_json(s.listing) for n, s in self.streams.items() if n in wanted]
        body = {
            "timezone": "UTC",
            "serverTime": self.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                }
            ],
            "exchangeFilters": [],
            "symbols": rows,
        }
        return _json(encode(body))

    def _wanted_symbols(self, request: web.Request) -> set[str] | web.Response:
        query = request.query
        if "symbol" in query:
            if query["symbol"] not in self.streams:
                return _invalid_symbol()
            return {query["symbol"]}
        if "symbols" in query:
            try:
                names = msgspec.json.decode(query["symbols"])
            except msgspec.DecodeError:
                return _bad("symbols")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return _bad("symbols")
            if any(n not in self.streams for n in names):
                return _invalid_symbol()
            return set(names)
        return set(self.streams)

    async def depth(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        if isinstance(stream, web.Response):
            return stream
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_DEPTH_LIMIT:
            return _bad("limit")
        self.depth_requests += 1
        return _json(encode(stream.rest_depth(int(raw))))

    async def book_ticker(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        if isinstance(stream, web.Response):
            return stream
        stream.collect()
        t = stream.ticker()
        body = {"symbol": t.s, "bidPrice": t.b, "bidQty": t.B, "askPrice": t.a, "askQty": t.A}
        return _json(encode(body))

    def _stream(self, request: web.Request) -> SymbolStreams | web.Response:
        symbol = request.query.get("symbol", "")
        if not symbol:
            return _missing("symbol")
        stream = self.streams.get(symbol)
        return _invalid_symbol() if stream is None else stream

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
            return _json(encode({"ok": False, "error": str(exc)}), 400)
        return _json(b'{"ok":true}')
