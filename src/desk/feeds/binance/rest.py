"""Binance Spot public REST: a depth snapshot with its ``lastUpdateId``, instruments, time.

* ``GET /api/v3/depth?symbol=BNBBTC&limit=1000`` -> ``{"lastUpdateId":1027024,
  "bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}``
* ``GET /api/v3/exchangeInfo[?symbols=["BTCUSDT","ETHUSDT"]]`` -> see ``exchange_info``
* ``GET /api/v3/time`` -> ``{"serverTime":1499827319559}``
* ``GET /api/v3/klines?symbol=BTCUSDT&interval=1m&limit=500[&startTime=&endTime=]`` -> bars
  oldest first, ``[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100",
  "148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]``
  (open time, o, h, l, c, base volume, close time, quote volume, trades, taker buy base and
  quote volumes, unused); the last bar is the one still forming. See ``get_klines``.

Errors come as an HTTP error status with ``{"code":-1121,"msg":"Invalid symbol."}``; they raise
``BinanceApiError(code, msg, status)``. 429 (rate limit) and 418 (IP banned) carry
``Retry-After`` seconds, kept in ``retry_after``.

``REST_TAP`` (None by default): the recorder sets it to ``tap(path, params, body)`` to keep every
reply body as raw data (the depth snapshots the books bootstrap from, the instruments).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import aiohttp
import msgspec

from desk.feeds.binance.exchange_info import (
    SymbolRules,
    decode_exchange_info,
    parse_symbols,
)
from desk.feeds.binance.symbols import SymbolMap
from desk.feeds.binance.wire import PartialDepth
from desk.market.instruments import Instrument

T = TypeVar("T")

DEPTH_PATH = "/api/v3/depth"
KLINES_PATH = "/api/v3/klines"
KLINES_MAX = 1000
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
TIME_PATH = "/api/v3/time"

RestTap = Callable[[str, dict[str, str], bytes], None]
REST_TAP: RestTap | None = None  # the recorder's reply tap (module docstring)


class BinanceApiError(Exception):
    """Binance answered with an error: ``code`` and ``msg`` as sent, plus the HTTP status."""

    def __init__(self, code: int | str, msg: str, status: int = 0, retry_after: float = 0.0):
        super().__init__(f"Binance error {code}: {msg}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after = retry_after


class RestDepth(msgspec.Struct, frozen=True):
    """A book snapshot: raw ``(price, qty)`` strings, best first, as of ``last_update_id``."""

    last_update_id: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class Kline(msgspec.Struct, array_like=True, frozen=True):
    """One kline as Binance sends it (an array): ``open_time`` is the bar's **start** in ms
    (desk stamps candles by their end), ``close_time`` its last ms; prices and volumes as the
    exchange's strings."""

    open_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    close_time: int
    quote_volume: str
    trades: int
    taker_buy_volume: str
    taker_buy_quote_volume: str
    unused: str = "0"


class _Error(msgspec.Struct):
    code: int | str = 0
    msg: str = ""


class _Time(msgspec.Struct):
    serverTime: int


_error_decoder = msgspec.json.Decoder(_Error)
_depth_decoder = msgspec.json.Decoder(PartialDepth)
_time_decoder = msgspec.json.Decoder(_Time)
_klines_decoder = msgspec.json.Decoder(list[Kline])


class BinanceRestClient:
    """A small async client for Binance's public REST endpoints.

    Pass an ``aiohttp.ClientSession`` to share one; otherwise the client opens its own on first
    use and ``close()`` closes it.
    """

    def __init__(
        self, rest_url: str, session: aiohttp.ClientSession | None = None, *, timeout: float = 10.0
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def get_depth(self, native: str, limit: int = 1000) -> RestDepth:
        """The book of ``native`` (``BTCUSDT``) with up to ``limit`` levels a side."""
        body = await self._get(DEPTH_PATH, {"symbol": native, "limit": str(limit)})
        depth = _decode(_depth_decoder.decode, body)
        return RestDepth(depth.lastUpdateId, depth.bids, depth.asks)

    async def get_klines(
        self,
        native: str,
        interval: str,
        limit: int = 500,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Kline]:
        """Bars of ``native`` (``BTCUSDT``) on ``interval`` (``1s`` ... ``1M``), oldest first:
        the latest ``limit`` (1..1000) up to ``end_ms`` (or now), or the first ``limit`` from
        ``start_ms``. ``BinanceApiError`` on an error reply (``-1121`` unknown symbol, ``-1120``
        unknown interval) or an unexpected shape."""
        if not 1 <= limit <= KLINES_MAX:
            raise ValueError(f"limit {limit}: Binance serves 1..{KLINES_MAX} klines a request")
        params = {"symbol": native, "interval": interval, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        return _decode(_klines_decoder.decode, await self._get(KLINES_PATH, params))

    async def get_symbol_rules(
        self, natives: list[str] | None = None, names: SymbolMap | None = None
    ) -> list[SymbolRules]:
        """Rules of ``natives`` (all symbols when None); unusable symbols are left out."""
        params = {"symbols": msgspec.json.encode(natives).decode()} if natives else {}
        body = await self._get(EXCHANGE_INFO_PATH, params)
        info = _decode(decode_exchange_info, body)
        rules, _skipped = parse_symbols(info, names)
        return rules

    async def get_instruments(self, natives: list[str] | None = None) -> list[Instrument]:
        """desk's ``Instrument`` of each symbol (named ``BTC-USDT``, venue ``binance``)."""
        return [rule.instrument for rule in await self.get_symbol_rules(natives)]

    async def get_time(self) -> int:
        """The server time in ms since the epoch."""
        return _decode(_time_decoder.decode, await self._get(TIME_PATH, {})).serverTime

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _get(self, path: str, params: dict[str, str]) -> bytes:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with session.get(self.rest_url + path, params=params) as response:
            body = await response.read()
            if REST_TAP is not None:
                REST_TAP(path, params, body)
            if response.status >= 400:
                raise _api_error(body, response.status, response.headers.get("Retry-After"))
        return body


def _decode(decode: Callable[[bytes], T], body: bytes) -> T:
    try:
        return decode(body)
    except msgspec.DecodeError as exc:
        raise BinanceApiError("decode", f"unexpected reply shape: {exc}") from None


def _api_error(body: bytes, status: int, retry_after: str | None) -> BinanceApiError:
    try:
        err = _error_decoder.decode(body)
        code, msg = err.code, err.msg
    except msgspec.DecodeError:
        code, msg = f"http-{status}", body[:200].decode(errors="replace")
    try:
        wait = float(retry_after) if retry_after else 0.0
    except ValueError:
        wait = 0.0
    return BinanceApiError(code, msg, status, wait)
