"""``GET /api/v3/brokerage/market/products/{product_id}/candles`` of the simulated Coinbase.

``?start=UNIX_S&end=UNIX_S&granularity=ONE_MINUTE[&limit=350]`` -> newest first, as Coinbase
documents it::

    {"candles":[{"start":"1700000040","low":"59990.01","high":"60010.5","open":"60000",
                 "close":"60005.25","volume":"1.25"}, ...]}

``start`` is each bar's start in Unix seconds; prices and the (base) volume as the product's
strings. The bars returned start in [start, end) (the one still forming included when ``end``
is now). ``granularity``: ``ONE_MINUTE FIVE_MINUTE FIFTEEN_MINUTE THIRTY_MINUTE ONE_HOUR
TWO_HOUR SIX_HOUR ONE_DAY`` (UTC-anchored). At most 350 candles a request: a range holding
more is refused; ``limit`` (1..350) keeps the newest ``limit`` of the range.

The bars come from the venue's ``BarHistory`` (``desk.sim.history``: the simulated past, then
every trade this simulator published).

Errors: ``{"error":"INVALID_ARGUMENT","error_details":"...","message":"..."}`` with HTTP 400
(a parameter missing or unusable, too many candles), ``NOT_FOUND`` with 404 for an unknown
product, as the other endpoints answer.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from aiohttp import web

from desk.sim.coinbase.rest import _error, _json
from desk.sim.history_book import HistoryBook
from desk.sim.instruments import InstrumentSpec

MAX_CANDLES = 350
GRANULARITIES: dict[str, tuple[str, int]] = {
    "ONE_MINUTE": ("1m", 60),
    "FIVE_MINUTE": ("5m", 300),
    "FIFTEEN_MINUTE": ("15m", 900),
    "THIRTY_MINUTE": ("30m", 1800),
    "ONE_HOUR": ("1H", 3600),
    "TWO_HOUR": ("2H", 7200),
    "SIX_HOUR": ("6H", 21600),
    "ONE_DAY": ("1D", 86400),
}
"""Coinbase granularity -> (bar name for ``desk.sim.okx.bars.bar_start``, seconds)."""


def _invalid(text: str) -> web.Response:
    return _error("INVALID_ARGUMENT", text, 400)


class Candles:
    """The candles route over the venue's products and bar histories."""

    def __init__(
        self,
        specs: dict[str, InstrumentSpec],
        histories: HistoryBook,
        now_ms: Callable[[], int],
    ) -> None:
        self.specs = specs  # by product id
        self.histories = histories
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        path = "/api/v3/brokerage/market/products/{product_id}/candles"
        return [web.get(path, self.candles)]

    async def candles(self, request: web.Request) -> web.Response:
        product_id = request.match_info["product_id"]
        spec = self.specs.get(product_id)
        if spec is None:
            return _error("NOT_FOUND", "ProductID is invalid", 404)
        query = request.query
        for name in ("start", "end", "granularity"):
            if not query.get(name):
                return _invalid(f"{name} is required")
        granularity = GRANULARITIES.get(query["granularity"])
        if granularity is None:
            return _invalid(f"unknown granularity {query['granularity']!r}")
        bar, seconds = granularity
        if not (query["start"].isdigit() and query["end"].isdigit()):
            return _invalid("start and end must be UNIX timestamps in seconds")
        start, end = int(query["start"]), int(query["end"])
        if start > end:
            return _invalid("start and end argument is invalid - start is after end")
        if -(-(end - start) // seconds) > MAX_CANDLES:
            return _invalid(
                "start and end argument is invalid - number of candles requested should be "
                f"less than {MAX_CANDLES}"
            )
        raw = query.get("limit", "")
        if raw and not (raw.isdigit() and 1 <= int(raw) <= MAX_CANDLES):
            return _invalid(f"limit must be 1..{MAX_CANDLES}")
        limit = int(raw) if raw else MAX_CANDLES
        now = self.now_ms()
        history = self.histories.get(product_id, now)
        rows = history.rows(bar, True, now, after=end * 1000, before=start * 1000 - 1)
        return _json({"candles": [_candle(spec, *r[:3]) for r in islice(rows, limit)]})


def _candle(
    spec: InstrumentSpec, start: int, _end: int, values: tuple[int, int, int, int, int, int]
) -> dict[str, Any]:
    o, h, lo, c, volume, _quote = values
    px = spec.price_str
    return {
        "start": str(start // 1000),
        "low": px(lo),
        "high": px(h),
        "open": px(o),
        "close": px(c),
        "volume": spec.size_str(volume),
    }
