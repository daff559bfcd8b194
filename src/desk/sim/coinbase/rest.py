"""The simulator's Coinbase public REST endpoints, plus ``POST /sim/faults/{name}``.

* ``GET /api/v3/brokerage/market/products[?product_ids=BTC-USD&product_ids=...]
  [&product_type=SPOT]`` -> ``{"products":[...],"num_products":N}`` (fields as Coinbase
  documents them, ``products.product_json``)
* ``GET /api/v3/brokerage/market/products/{product_id}`` -> one product; 404 if unknown
* ``GET /api/v3/brokerage/market/product_book?product_id=BTC-USD[&limit=N]`` ->
  ``{"pricebook":{"product_id":"BTC-USD","bids":[{"price":"60000.01","size":"0.5"}],
  "asks":[...],"time":"..."},"last":...,"mid_market":...,"spread_bps":...,
  "spread_absolute":...}``: the book as of the last ``level2`` message, whole without ``limit``
* ``GET /api/v3/brokerage/time`` -> ``{"iso":"...","epochSeconds":"...","epochMillis":"..."}``

Errors: ``{"error":"INVALID_ARGUMENT","error_details":"...","message":"..."}`` with HTTP 400, or
``NOT_FOUND`` with 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from desk.sim.coinbase.products import ProductSpec, product_json
from desk.sim.coinbase.streams import ProductStreams
from desk.sim.coinbase.wire import encode, rfc3339_ns

NS_PER_MS = 1_000_000
MAX_BOOK_LIMIT = 10_000


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=encode(body), status=status, content_type="application/json")


def _error(code: str, text: str, status: int) -> web.Response:
    return _json({"error": code, "error_details": text, "message": text}, status)


class RestApi:
    def __init__(
        self,
        products: dict[str, ProductSpec],
        streams: dict[str, ProductStreams],
        now_ns: Callable[[], int],
        faults: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.products = products
        self.streams = streams
        self.now_ns = now_ns
        self.apply_fault = faults

    def routes(self) -> list[web.RouteDef]:
        base = "/api/v3/brokerage"
        return [
            web.get(f"{base}/market/products", self.list_products),
            web.get(f"{base}/market/products/{{product_id}}", self.product),
            web.get(f"{base}/market/product_book", self.product_book),
            web.get(f"{base}/time", self.time),
            web.post("/sim/faults/{name}", self.fault),
        ]

    async def list_products(self, request: web.Request) -> web.Response:
        wanted = request.query.getall("product_ids", [])
        kind = request.query.get("product_type", "")
        if kind and kind.upper() not in ("SPOT", "FUTURE"):
            return _error("INVALID_ARGUMENT", f"unknown product_type {kind!r}", 400)
        rows = [
            product_json(p)
            for pid, p in self.products.items()
            if (not wanted or pid in wanted) and kind.upper() in ("", "SPOT")
        ]
        return _json({"products": rows, "num_products": len(rows)})

    async def product(self, request: web.Request) -> web.Response:
        spec = self.products.get(request.match_info["product_id"])
        if spec is None:
            return _error("NOT_FOUND", "ProductID is invalid", 404)
        return _json(product_json(spec))

    async def product_book(self, request: web.Request) -> web.Response:
        product_id = request.query.get("product_id", "")
        if not product_id:
            return _error("INVALID_ARGUMENT", "product_id is required", 400)
        stream = self.streams.get(product_id)
        if stream is None:
            return _error("NOT_FOUND", "ProductID is invalid", 404)
        raw = request.query.get("limit", "")
        if raw and not (raw.isdigit() and 1 <= int(raw) <= MAX_BOOK_LIMIT):
            return _error("INVALID_ARGUMENT", f"limit must be 1..{MAX_BOOK_LIMIT}", 400)
        return _json(stream.rest_book(int(raw) if raw else None))

    async def time(self, request: web.Request) -> web.Response:
        ns = self.now_ns()
        return _json(
            {
                "iso": rfc3339_ns(ns),
                "epochSeconds": str(ns // 1_000_000_000),
                "epochMillis": str(ns // NS_PER_MS),
            }
        )

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
            return _json({"ok": False, "error": str(exc)}, 400)
        return _json({"ok": True})
