"""OKX public REST: instruments, a book snapshot with its seqId, and the server time.

Every OKX reply is ``{"code":"0","msg":"","data":[...]}``; a non-zero ``code`` raises
``OkxApiError(code, msg)`` (also on an HTTP error status whose body says why). Replies are
decoded into typed msgspec Structs; prices and sizes stay the exchange's strings.

``REST_TAP`` (None by default): the recorder sets it to ``tap(path, params, body)`` to keep
every reply body as raw data (the book snapshots the feed bootstraps from, the instruments).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import msgspec

from desk.core.excerpt import excerpt
from desk.market.instruments import Instrument

T = TypeVar("T")

BOOKS_PATH = "/api/v5/market/books"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
TIME_PATH = "/api/v5/public/time"
CANDLES_PATH = "/api/v5/market/candles"
HISTORY_CANDLES_PATH = "/api/v5/market/history-candles"

RestTap = Callable[[str, dict[str, str], bytes], None]
REST_TAP: RestTap | None = None  # the recorder's reply tap (module docstring)


class OkxApiError(Exception):
    """OKX answered with ``code != "0"`` (or an HTTP error); ``code`` and ``msg`` as sent."""

    def __init__(self, code: str, msg: str) -> None:
        # the venue's text is quoted in 200 characters at most: it ends up in logs and events
        super().__init__(f"OKX error {code[:40]}: {excerpt(msg)}")
        self.code = code
        self.msg = msg


class RestBook(msgspec.Struct, frozen=True):
    """A book snapshot; levels are the raw ``[px, sz, "0", numOrders]`` string lists."""

    bids: list[list[str]]
    asks: list[list[str]]
    seq_id: int
    ts_ms: int


class _Head(msgspec.Struct):
    code: str | int = "0"
    msg: str = ""


class _BookData(msgspec.Struct):
    """``{"asks":[["41006.8","0.60038921","0","1"]],"bids":[["41006.3","0.30178218","0","2"]],
    "ts":"1629966436396","seqId":3008233640}``"""

    asks: list[list[str]]
    bids: list[list[str]]
    ts: str
    seqId: int = -1


class _BookReply(msgspec.Struct):
    data: list[_BookData]


class _InstrumentData(msgspec.Struct, kw_only=True):
    """``{"instType":"SPOT","instId":"BTC-USDT","instIdCode":1000000000,"baseCcy":"BTC",
    "quoteCcy":"USDT","tickSz":"0.1","lotSz":"0.00000001","minSz":"0.00001","state":"live",
    "maxLmtSz":"9999999999","maxMktSz":"","maxLmtAmt":"1000000","maxMktAmt":"1000000",...}``
    """

    instType: str = ""
    instId: str
    instIdCode: int | None = None
    baseCcy: str = ""
    quoteCcy: str = ""
    tickSz: str
    lotSz: str
    minSz: str
    state: str = "live"
    maxLmtSz: str = ""
    maxMktSz: str = ""


class _InstrumentReply(msgspec.Struct):
    data: list[_InstrumentData]


class RestCandle(msgspec.Struct, frozen=True):
    """One OKX candle row: ``start_ms`` is the bar's **start** (OKX stamps bars by their start;
    desk's candles by their end), prices and volumes as the exchange's strings."""

    start_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    confirmed: bool


class _CandleReply(msgspec.Struct):
    """``{"data":[["1597026383085","8533.02","8553.74","8527.17","8548.26","45247",
    "529.5858061","529.5858061","0"]]}`` newest first; ``confirm`` "1" once closed."""

    data: list[list[str]]


class _TimeData(msgspec.Struct):
    ts: str


class _TimeReply(msgspec.Struct):
    data: list[_TimeData]


_head_decoder = msgspec.json.Decoder(_Head)


class OkxRestClient:
    """A small async client for OKX's public REST endpoints.

    Pass an ``aiohttp.ClientSession`` to share one; otherwise the client opens its own on first
    use and ``close()`` closes it. ``simulated=True`` adds the demo-trading header.
    """

    def __init__(
        self,
        rest_url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 10.0,
        simulated: bool = False,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"x-simulated-trading": "1"} if simulated else {}
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    async def get_instruments(self, inst_type: str = "SPOT") -> list[Instrument]:
        reply = await self._get(INSTRUMENTS_PATH, {"instType": inst_type}, _InstrumentReply)
        return [_instrument(item) for item in reply.data]

    async def get_book(self, inst_id: str, depth: int = 400) -> RestBook:
        params = {"instId": inst_id, "sz": str(depth)}
        reply = await self._get(BOOKS_PATH, params, _BookReply)
        if not reply.data:
            raise OkxApiError("empty", f"no book data for {inst_id}")
        book = reply.data[0]
        return RestBook(bids=book.bids, asks=book.asks, seq_id=book.seqId, ts_ms=int(book.ts))

    async def get_candles(
        self,
        inst_id: str,
        bar: str,
        *,
        after: int | None = None,
        limit: int = 300,
        history: bool = False,
    ) -> list[RestCandle]:
        """Candles of ``bar`` (OKX's name: ``1m``, ``1H``, ``1Dutc`` ...), newest first:
        ``market/candles`` (the recent ones, ``limit`` up to 300) or ``history-candles`` (older,
        up to 100), those starting before ``after`` (ms) when given."""
        params = {"instId": inst_id, "bar": bar, "limit": str(limit)}
        if after is not None:
            params["after"] = str(after)
        path = HISTORY_CANDLES_PATH if history else CANDLES_PATH
        reply = await self._get(path, params, _CandleReply)
        out = []
        for row in reply.data:
            if len(row) < 6:
                raise OkxApiError("decode", f"candle row too short: {row!r}")
            quote = row[6] if len(row) > 6 else "0"
            confirmed = row[8] == "1" if len(row) > 8 else True
            out.append(RestCandle(int(row[0]), *row[1:6], quote, confirmed))
        return out

    async def get_time(self) -> int:
        """The server time in ms since the epoch."""
        reply = await self._get(TIME_PATH, {}, _TimeReply)
        if not reply.data:
            raise OkxApiError("empty", "no time in reply")
        return int(reply.data[0].ts)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _get(self, path: str, params: dict[str, str], reply_type: type[T]) -> T:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = self.rest_url + path
        async with session.get(url, params=params, headers=self._headers) as response:
            body = await response.read()
            status = response.status
        if REST_TAP is not None:
            REST_TAP(path, params, body)
        return self._decode(body, status, reply_type)

    def _decode(self, body: bytes, status: int, reply_type: type[T]) -> T:
        try:
            head = _head_decoder.decode(body)
        except msgspec.DecodeError:
            raise OkxApiError(f"http-{status}", body[:200].decode(errors="replace")) from None
        code = str(head.code)
        if code != "0":
            raise OkxApiError(code, head.msg)
        if status >= 400:
            raise OkxApiError(f"http-{status}", head.msg)
        decoder = self._decoders.get(reply_type)
        if decoder is None:
            decoder = self._decoders[reply_type] = msgspec.json.Decoder(reply_type)
        try:
            return decoder.decode(body)  # type: ignore[no-any-return]
        except msgspec.DecodeError as exc:
            raise OkxApiError("decode", f"unexpected reply shape: {exc}") from None


def _instrument(item: _InstrumentData) -> Instrument:
    return Instrument(
        venue="okx",
        symbol=item.instId,
        base=item.baseCcy,
        quote=item.quoteCcy,
        tick_size=item.tickSz,
        lot_size=item.lotSz,
        min_size=item.minSz,
        state=item.state,
    )
