"""Public market-data REST endpoints of the simulated OKX: candles, trades and tickers.

* ``GET /api/v5/market/candles?instId=BTC-USDT[&bar=1m&after=&before=&limit=100]`` and
  ``GET /api/v5/market/history-candles`` (same parameters) -> rows newest first,
  ``[["1597026383085","8533.02","8553.74","8527.17","8548.26","45247","529.58","529.58","1"]]``
  (``ts`` = bar start in ms, o, h, l, c, vol (base), volCcy and volCcyQuote (quote), confirm
  "1" once closed). ``bar``: ``1m 3m 5m 15m 30m 1H 2H 4H`` and, anchored at UTC+8 unless
  suffixed ``utc``, ``6H 12H 1D 2D 3D 1W 1M 3M`` (``1s`` is refused with 51000, as OKX's REST
  does). ``after``: bars older than this ts; ``before``: newer. ``limit``: at most 300
  (default 100). Served from the simulator's ``BarHistory``.
* ``GET /api/v5/market/trades?instId=..[&limit=100]`` (at most 500) and
  ``GET /api/v5/market/history-trades?instId=..[&type=1|2&after=&before=&limit=100]`` (at most
  100; ``type`` 1 pages by ``tradeId``, 2 by ``ts``) -> newest first, ``{"instId":"BTC-USDT",
  "side":"buy","sz":"0.0012","px":"60012.3","source":"0","tradeId":"130639474",
  "ts":"1630048897897"}``; the trades published since start (the last 10,000).
* ``GET /api/v5/market/tickers?instType=SPOT`` -> one ``tickers`` entry per instrument.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from aiohttp import web

from desk.sim.okx.bars import parse_bar
from desk.sim.okx.candles import BusinessStreams
from desk.sim.okx.rest import INST_TYPES, _bad, _json, _missing, _unknown_instrument
from desk.sim.okx.streams import InstrumentStreams
from desk.sim.okx.wire import rest_ok

CANDLES_MAX = 300
HISTORY_MAX = 300  # history-candles: 300 in the current docs (ccxt still asks for 100)
TRADES_MAX = 500
TRADES_HISTORY_MAX = 100


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in [low, high]; ValueError names it when it is not."""
    raw = request.query.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(name)
    return int(raw)


class MarketRest:
    """The routes above, over the public streams and the bar histories."""

    def __init__(
        self,
        streams: dict[str, InstrumentStreams],
        business: BusinessStreams,
        now_ms: Callable[[], int],
    ) -> None:
        self.streams = streams
        self.business = business
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v5/market/candles", self.candles),
            web.get("/api/v5/market/history-candles", self.history_candles),
            web.get("/api/v5/market/trades", self.trades),
            web.get("/api/v5/market/history-trades", self.history_trades),
            web.get("/api/v5/market/tickers", self.tickers),
        ]

    def _stream(self, request: web.Request) -> InstrumentStreams | web.Response:
        inst_id = request.query.get("instId", "")
        if not inst_id:
            return _missing("instId")
        stream = self.streams.get(inst_id)
        return _unknown_instrument() if stream is None else stream

    async def candles(self, request: web.Request) -> web.Response:
        return self._candles(request, CANDLES_MAX)

    async def history_candles(self, request: web.Request) -> web.Response:
        return self._candles(request, HISTORY_MAX)

    def _candles(self, request: web.Request, most: int) -> web.Response:
        stream = self._stream(request)
        if isinstance(stream, web.Response):
            return stream
        bar_name = request.query.get("bar", "1m")
        parsed = parse_bar("candle" + bar_name) if bar_name != "1s" else None
        if parsed is None:
            return _bad("bar")
        try:
            limit = _int_param(request, "limit", 100, 1, most)
            after = _int_param(request, "after", 0, 0, 1 << 62)
            before = _int_param(request, "before", 0, 0, 1 << 62)
        except ValueError as exc:
            return _bad(str(exc))
        spec = stream.spec
        now = self.now_ms()
        history = self.business.history(stream.inst_id, now)
        px, sz = spec.price_str, spec.size_str
        rows = []
        for start, _end, (o, h, lo, c, vol, quote), done in islice(
            history.rows(parsed[0], parsed[1], now, after, before), limit
        ):
            vq, confirm = spec.notional_str(quote), "1" if done else "0"
            rows.append([str(start), px(o), px(h), px(lo), px(c), sz(vol), vq, vq, confirm])
        return _json(rest_ok(rows))

    async def trades(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        if isinstance(stream, web.Response):
            return stream
        try:
            limit = _int_param(request, "limit", 100, 1, TRADES_MAX)
        except ValueError as exc:
            return _bad(str(exc))
        entries = list(islice(reversed(stream.trades), limit))
        return _json(rest_ok([_trade_row(t) for t in entries]))

    async def history_trades(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        if isinstance(stream, web.Response):
            return stream
        try:
            limit = _int_param(request, "limit", 100, 1, TRADES_HISTORY_MAX)
            by_ts = _int_param(request, "type", 1, 1, 2) == 2
            after = _int_param(request, "after", 0, 0, 1 << 62)
            before = _int_param(request, "before", 0, 0, 1 << 62)
        except ValueError as exc:
            return _bad(str(exc))

        def key(t: Any) -> int:
            return int(t.ts) if by_ts else int(t.tradeId)

        chosen = (
            t
            for t in reversed(stream.trades)
            if (not after or key(t) < after) and (not before or key(t) > before)
        )
        return _json(rest_ok([_trade_row(t) for t in islice(chosen, limit)]))

    async def tickers(self, request: web.Request) -> web.Response:
        inst_type = request.query.get("instType", "")
        if not inst_type:
            return _missing("instType")
        if inst_type not in INST_TYPES:
            return _bad("instType")
        if inst_type != "SPOT":
            return _json(rest_ok([]))
        now = self.now_ms()
        return _json(rest_ok([s.ticker_data(now) for s in self.streams.values()]))


def _trade_row(t: Any) -> dict[str, str]:
    return {
        "instId": t.instId,
        "side": t.side,
        "sz": t.sz,
        "px": t.px,
        "source": t.source,
        "tradeId": t.tradeId,
        "ts": t.ts,
    }
