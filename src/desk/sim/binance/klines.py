"""``GET /api/v3/klines`` of the simulated Binance: bars of the venue's own simulated market.

``GET /api/v3/klines?symbol=BTCUSDT&interval=1m[&limit=500&startTime=&endTime=]`` -> oldest
first, one array a bar, as Binance documents it::

    [[1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100", "148976.11427815",
      1499644799999, "2434.19055334", 308, "1756.87402397", "28.46694368", "0"]]

(open time, open, high, low, close, volume, close time = open time + interval - 1, quote asset
volume, number of trades, taker buy base volume, taker buy quote volume, unused). Intervals
``1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M``, UTC-anchored (weeks from Monday);
``limit`` 1..1000 (default 500). Without ``startTime`` the latest ``limit`` bars up to
``endTime`` (or now) come back, the last one still forming; with it, the first ``limit`` bars
opening at or after it (and at or before ``endTime``).

The bars come from the venue's ``BarHistory`` (``desk.sim.history``: the simulated past, then
every trade this simulator published). The simulator keeps no trade counts or taker sides per
second, so the number of trades and the taker buy volumes read 0.

Errors, HTTP 400 with Binance's body: ``-1102`` a mandatory parameter missing, ``-1121``
"Invalid symbol.", ``-1120`` "Invalid interval.", ``-1100`` an unusable number, ``-1023``
"Start time is greater than end time.".
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

from aiohttp import web

from desk.sim.binance.listings import WIRE_DECIMALS, Listing
from desk.sim.binance.rest import _bad, _invalid_symbol, _json, _missing
from desk.sim.binance.streams import SymbolStreams
from desk.sim.binance.wire import encode, rest_error
from desk.sim.history_book import HistoryBook

KLINES_PATH = "/api/v3/klines"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

INTERVALS: dict[str, str] = {
    "1s": "1s",
    "1m": "1m",
    "3m": "3m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1H",
    "2h": "2H",
    "4h": "4H",
    "6h": "6H",
    "8h": "8H",
    "12h": "12H",
    "1d": "1D",
    "3d": "3D",
    "1w": "1W",
    "1M": "1M",
}
"""Binance interval -> the bar name ``desk.sim.okx.bars.bar_start`` spans (UTC-anchored)."""


def _number(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return None
    if not raw.isdigit():
        raise ValueError(name)
    return int(raw)


class Klines:
    """The klines route over the venue's symbol streams and bar histories."""

    def __init__(
        self,
        streams: dict[str, SymbolStreams],
        histories: HistoryBook,
        now_ms: Callable[[], int],
    ) -> None:
        self.streams = streams  # by native symbol
        self.histories = histories
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [web.get(KLINES_PATH, self.klines)]

    async def klines(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        if not symbol:
            return _missing("symbol")
        stream = self.streams.get(symbol)
        if stream is None:
            return _invalid_symbol()
        interval = request.query.get("interval", "")
        if not interval:
            return _missing("interval")
        bar = INTERVALS.get(interval)
        if bar is None:
            return _json(rest_error(-1120, "Invalid interval."), 400)
        try:
            limit = _number(request, "limit")
            start = _number(request, "startTime")
            end = _number(request, "endTime")
        except ValueError as exc:
            return _bad(str(exc))
        limit = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            return _bad("limit")
        if start is not None and end is not None and start > end:
            return _json(rest_error(-1023, "Start time is greater than end time."), 400)
        now = self.now_ms()
        history = self.histories.get(stream.listing.spec.inst_id, now)
        if start is not None:
            last = now if end is None else end
            rows = list(islice(history.forward(bar, True, now, start, last), limit))
        else:
            newest = history.rows(bar, True, now, after=end + 1 if end is not None else 0)
            rows = list(islice(newest, limit))[::-1]
        return _json(encode([kline(stream.listing, *row[:3]) for row in rows]))


def kline(
    listing: Listing, start: int, end: int, values: tuple[int, int, int, int, int, int]
) -> list[object]:
    """One kline array (module docstring) of a bar over [start, end) ms."""
    o, h, lo, c, volume, quote = values
    px = listing.price
    zero = "0." + "0" * WIRE_DECIMALS
    return [
        start,
        px(o),
        px(h),
        px(lo),
        px(c),
        listing.qty(volume),
        end - 1,
        quote_str(listing, quote),
        0,
        zero,
        zero,
        "0",
    ]


def quote_str(listing: Listing, ticks_times_lots: int) -> str:
    """A quote volume (a sum of ticks * lots) with Binance's eight decimals."""
    return listing.quote(ticks_times_lots)
