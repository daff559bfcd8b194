"""Coinbase Advanced Trade public REST: product rules, a book snapshot and the server time.

Public market endpoints (no authentication), answers as Coinbase documents them (the shapes are
not in PROTOCOLS.md and were not checked against the live venue, so only the fields desk uses are
read, every one optional where it can be):

* ``GET /api/v3/brokerage/market/products`` -> ``{"products":[{"product_id":"BTC-USD",
  "price_increment":"0.01","base_increment":"0.00000001","quote_increment":"0.01",
  "base_min_size":"0.00000001","base_max_size":"3400","quote_min_size":"1",
  "status":"online","trading_disabled":false,"cancel_only":false,"limit_only":false,
  "post_only":false,"is_disabled":false,"base_currency_id":"BTC","quote_currency_id":"USD",
  "product_type":"SPOT",...}],"num_products":1}``
* ``GET /api/v3/brokerage/market/products/{product_id}`` -> one product object
* ``GET /api/v3/brokerage/market/product_book?product_id=BTC-USD&limit=50`` ->
  ``{"pricebook":{"product_id":"BTC-USD","bids":[{"price":"60000.01","size":"0.5"}],
  "asks":[...],"time":"2024-01-01T00:00:00.123456Z"},...}``
* ``GET /api/v3/brokerage/time`` -> ``{"iso":"...","epochSeconds":"...","epochMillis":"..."}``
* ``GET /api/v3/brokerage/market/products/{product_id}/candles?start=UNIX_S&end=UNIX_S&
  granularity=ONE_MINUTE[&limit=350]`` -> ``{"candles":[{"start":"1700000000","low":"..",
  "high":"..","open":"..","close":"..","volume":".."}]}`` newest first, at most 350 a request
  (``start`` is the bar's start in seconds); see ``get_candles``.

An HTTP error raises ``CoinbaseApiError(status, message)`` with the venue's ``message`` (or
``error``) when the body has one.

``REST_TAP`` (None by default): the recorder sets it to ``tap(path, params, body)`` to keep every
reply body as raw data (the products, any book snapshot).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import msgspec

from desk.feeds.coinbase.symbols import VENUE, to_desk
from desk.feeds.coinbase.timestamps import parse_ns
from desk.market.instruments import Instrument

T = TypeVar("T")

PRODUCTS_PATH = "/api/v3/brokerage/market/products"
BOOK_PATH = "/api/v3/brokerage/market/product_book"
TIME_PATH = "/api/v3/brokerage/time"
CANDLES_MAX = 350
GRANULARITY_SECONDS: dict[str, int] = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
"""Coinbase's candle granularities and their length in seconds."""

RestTap = Callable[[str, dict[str, str], bytes], None]
REST_TAP: RestTap | None = None  # the recorder's reply tap (module docstring)


class CoinbaseApiError(Exception):
    """Coinbase answered with an HTTP error (or a body desk cannot read)."""

    def __init__(self, status: int | str, message: str) -> None:
        super().__init__(f"Coinbase error {status}: {message}")
        self.status = status
        self.message = message


class ProductRules(msgspec.Struct, frozen=True, kw_only=True):
    """One product's rules: desk's ``Instrument`` (tick, lot, minimum size, state) plus what it
    has no field for yet: the minimum and maximum order value in the quote currency and the
    native product id. ``Instrument.symbol`` is desk's normalised name."""

    instrument: Instrument
    product_id: str
    min_notional: str = ""
    max_notional: str = ""
    max_size: str = ""


class RestBook(msgspec.Struct, frozen=True):
    """A book snapshot: ``(price, size)`` strings, best first, and the venue's time in ns."""

    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    ts_ns: int


class _Product(msgspec.Struct, kw_only=True):
    product_id: str
    price_increment: str = ""
    quote_increment: str = ""
    base_increment: str
    base_min_size: str = ""
    base_max_size: str = ""
    quote_min_size: str = ""
    quote_max_size: str = ""
    base_currency_id: str = ""
    quote_currency_id: str = ""
    product_type: str = "SPOT"
    status: str = "online"
    is_disabled: bool = False
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False


class _Products(msgspec.Struct):
    products: list[_Product] = []


class _Level(msgspec.Struct):
    price: str
    size: str


class _PriceBook(msgspec.Struct):
    bids: list[_Level] = []
    asks: list[_Level] = []
    time: str = ""


class _BookReply(msgspec.Struct):
    pricebook: _PriceBook


class RestCandle(msgspec.Struct, frozen=True):
    """One Coinbase candle: ``start`` is the bar's **start** in Unix seconds (desk stamps
    candles by their end); prices and the base volume as the exchange's strings."""

    start: str
    low: str
    high: str
    open: str
    close: str
    volume: str

    @property
    def start_s(self) -> int:
        return int(self.start)


class _Candles(msgspec.Struct):
    candles: list[RestCandle] = []


class _Time(msgspec.Struct):
    epochMillis: str = ""
    iso: str = ""


class _Error(msgspec.Struct):
    message: str = ""
    error: str = ""
    error_details: str = ""


def product_state(p: _Product) -> str:
    """desk's instrument state: ``live`` only when the product takes every kind of order."""
    if p.is_disabled or p.trading_disabled or p.status.lower() not in ("online", ""):
        return "suspend"
    if p.cancel_only:
        return "cancel_only"
    if p.post_only:
        return "post_only"
    if p.limit_only:
        return "limit_only"
    return "live"


def product_rules(p: _Product) -> ProductRules:
    base, _, quote = p.product_id.partition("-")
    instrument = Instrument(
        venue=VENUE,
        symbol=to_desk(p.product_id),
        base=p.base_currency_id or base,
        quote=p.quote_currency_id or quote,
        tick_size=p.price_increment or p.quote_increment,
        lot_size=p.base_increment,
        min_size=p.base_min_size or p.base_increment,
        state=product_state(p),
    )
    return ProductRules(
        instrument=instrument,
        product_id=p.product_id,
        min_notional=p.quote_min_size,
        max_notional=p.quote_max_size,
        max_size=p.base_max_size,
    )


class CoinbaseRestClient:
    """A small async client for Coinbase's public market endpoints.

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
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    async def get_products(self, product_ids: list[str] | None = None) -> list[ProductRules]:
        """Rules of every spot product (or of ``product_ids``, Coinbase's native ids)."""
        params = [("product_type", "SPOT")] + [("product_ids", p) for p in product_ids or ()]
        reply = await self._get(PRODUCTS_PATH, params, _Products)
        return [product_rules(p) for p in reply.products if p.product_type.upper() == "SPOT"]

    async def get_product(self, product_id: str) -> ProductRules:
        return product_rules(await self._get(f"{PRODUCTS_PATH}/{product_id}", [], _Product))

    async def get_book(self, product_id: str, limit: int = 50) -> RestBook:
        params = [("product_id", product_id), ("limit", str(limit))]
        book = (await self._get(BOOK_PATH, params, _BookReply)).pricebook
        return RestBook(
            bids=[(lv.price, lv.size) for lv in book.bids],
            asks=[(lv.price, lv.size) for lv in book.asks],
            ts_ns=parse_ns(book.time) if book.time else 0,
        )

    async def get_candles(
        self,
        product_id: str,
        granularity: str,
        start_s: int,
        end_s: int,
        limit: int | None = None,
    ) -> list[RestCandle]:
        """Bars of ``product_id`` on ``granularity`` (``ONE_MINUTE`` ...) starting in
        [``start_s``, ``end_s``), newest first (the one still forming included when ``end_s`` is
        now); the range may hold at most 350 of them. ``CoinbaseApiError`` on an error reply
        (404 unknown product, 400 a bad range or granularity) or an unexpected shape."""
        seconds = GRANULARITY_SECONDS.get(granularity)
        if seconds is None:
            raise ValueError(f"unknown Coinbase granularity {granularity!r}")
        if -(-(end_s - start_s) // seconds) > CANDLES_MAX:
            raise ValueError(f"{start_s}..{end_s}: more than {CANDLES_MAX} {granularity} candles")
        params = [("start", str(start_s)), ("end", str(end_s)), ("granularity", granularity)]
        if limit is not None:
            params.append(("limit", str(limit)))
        reply = await self._get(f"{PRODUCTS_PATH}/{product_id}/candles", params, _Candles)
        for candle in reply.candles:
            if not candle.start.isdigit():
                raise CoinbaseApiError("decode", f"candle start {candle.start!r} is not a time")
        return reply.candles

    async def get_time(self) -> int:
        """The server time in ms since the epoch."""
        reply = await self._get(TIME_PATH, [], _Time)
        if reply.epochMillis:
            return int(reply.epochMillis)
        if reply.iso:
            return parse_ns(reply.iso) // 1_000_000
        raise CoinbaseApiError("decode", "no time in the reply")

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _get(self, path: str, params: list[tuple[str, str]], reply_type: type[T]) -> T:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with session.get(self.rest_url + path, params=params) as response:
            body = await response.read()
            status = response.status
        if REST_TAP is not None:
            REST_TAP(path, dict(params), body)
        return self._decode(body, status, reply_type)

    def _decode(self, body: bytes, status: int, reply_type: type[T]) -> T:
        if status >= 400:
            try:
                err = msgspec.json.decode(body, type=_Error)
                message = err.message or err.error_details or err.error
            except msgspec.DecodeError:
                message = ""
            raise CoinbaseApiError(status, message or body[:200].decode(errors="replace"))
        decoder = self._decoders.get(reply_type)
        if decoder is None:
            decoder = self._decoders[reply_type] = msgspec.json.Decoder(reply_type)
        try:
            return decoder.decode(body)  # type: ignore[no-any-return]
        except msgspec.DecodeError as exc:
            raise CoinbaseApiError("decode", f"unexpected reply shape: {exc}") from None
