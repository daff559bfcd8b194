"""``BinanceReplayServer``: a recording served on loopback as Binance Spot's streams and REST.

    server = BinanceReplayServer(ReplayConfig(path="data/rec", speed=0))
    await server.start()            # reads the recording (RecordingError when unusable)
    server.ws_url, server.rest_url  # BinanceConfig.ws_url / rest_url
    await server.finished.wait()    # every connection has had its whole recording

Streams: ``/stream?streams=a/b/c`` (combined, as the feed connects) sends the recorded frames
of those streams untouched; ``/ws/<stream>`` sends their ``data`` only (raw streams). A
stream of a symbol that is not in the recording refuses the handshake (HTTP 400, ``-1121``),
as the simulator and Binance do. Pings are answered (aiohttp's autoping); the recording's end
leaves the connection open and idle. A client that reconnects goes on from where its last
connection had got to (the REST depth there lets its book chain on), as a live venue would.

REST: ``/api/v3/depth`` the book at the replay position (``binance_frames.DepthBooks``),
``/api/v3/exchangeInfo`` the recorded answer when there is one, else the simulator's listings
for the symbols it knows and rules read off the recorded prices for others, ``/api/v3/time``
the replay's data time, ``/api/v3/ping``.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import msgspec
from aiohttp import WSMsgType, web

from desk.sim.binance.listings import Listing, default_listings
from desk.sim.binance.rest import symbol_json
from desk.sim.binance.wire import rest_error
from desk.sim.instruments import InstrumentSpec
from desk.sim.loopback import json_response
from desk.sim.okx.conn import Connection
from desk.sim.replay.base import ReplayServerBase, no_count
from desk.sim.replay.binance_frames import (
    DEPTH_PATH,
    EXCHANGE_INFO_PATH,
    MARKET_KINDS,
    BinanceTimeline,
    DepthBooks,
    load_binance,
)
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.player import Player

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000
NS_PER_MS = 1_000_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 5000
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class _RawStream(Connection):
    """A ``/ws/<stream>`` client: the combined frame's ``data`` part only."""

    def send(self, data: bytes, is_push: bool = True) -> None:
        if data.startswith(b'{"stream":"'):
            start = data.index(b',"data":') + len(b',"data":')
            data = data[start:-1]
        super().send(data, is_push)


class BinanceReplayServer(ReplayServerBase[BinanceTimeline, Connection]):
    """Serves one recording's Binance frames (see the module docstring)."""

    def __init__(self, config: ReplayConfig, timeline: BinanceTimeline | None = None) -> None:
        super().__init__(config, timeline, "replay:binance:conn")
        self.books: DepthBooks | None = None
        self._latest: dict[str, Player] = {}  # by stream symbol ("btcusdt")
        self._resume = 0  # where a connection that went away had got to

    async def start(self) -> dict[str, str]:
        """Read the recording (off the event loop), bind, and return the URLs."""
        if self.timeline is None:
            c = self.config
            self.timeline = await asyncio.to_thread(
                load_binance, c.path, c.start_ns or None, c.end_ns or None, c.symbols or None
            )
        self.books = DepthBooks(self.timeline)
        app = web.Application()
        app.router.add_get("/stream", self._ws_combined)
        app.router.add_get("/ws/{streams:.+}", self._ws_raw)
        app.router.add_get(DEPTH_PATH, self._depth)
        app.router.add_get(EXCHANGE_INFO_PATH, self._exchange_info)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/ping", self._ping)
        await self.site.bind(app)
        log.info("binance replay of %s listening on %s", self.config.path, self.rest_url)
        return self.urls()

    @property
    def ws_url(self) -> str:
        return self.site.ws_url()

    def urls(self) -> dict[str, str]:
        return {"ws": self.ws_url, "rest": self.rest_url}

    # ---- streams -----------------------------------------------------------------------

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._serve(request, names, Connection)

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.match_info.get("streams", "").split("/") if n]
        return await self._serve(request, names, _RawStream)

    def _valid(self, name: str) -> bool:
        assert self.timeline is not None
        symbol, _, kind = name.partition("@")
        return symbol in self.timeline.stream_symbols and kind in MARKET_KINDS

    async def _serve(
        self, request: web.Request, names: list[str], kind: type[Connection]
    ) -> web.StreamResponse:
        if not names or not all(self._valid(n) for n in names):
            return json_response(rest_error(-1121, "Invalid symbol."), 400)
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 16)
        await ws.prepare(request)
        conn_id = self._next_conn_id()
        conn = kind(ws, request.transport, conn_id, "stream", MAX_QUEUE, no_count)
        self._conns.add(conn)
        assert self.timeline is not None
        wanted = frozenset(names)
        player = Player(
            conn,
            self.timeline,
            self.config.speed,
            self._player_finished,
            subscribed=wanted,
            start=max(self.timeline.start, self._resume),
        )
        for name in names:
            self._latest[name.partition("@")[0]] = player
        self.players.append(player)
        player.start()
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                if msg.type is WSMsgType.TEXT:  # live requests: acknowledged, nothing changes
                    conn.send(_reply(msg.data), is_push=False)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            await player.stop()
            self._resume = max(self._resume, player.position)
            if player in self.players and not player.finished:
                self.players.remove(player)  # gone before the end: not waited for
            await conn.finished()
        return ws

    # ---- REST --------------------------------------------------------------------------

    def _native(self, request: web.Request) -> str | web.Response:
        assert self.timeline is not None
        native = request.query.get("symbol", "")
        if not native:
            msg = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            return json_response(rest_error(-1102, msg), 400)
        if native.lower() not in self.timeline.stream_symbols:
            return json_response(rest_error(-1121, "Invalid symbol."), 400)
        return native.lower()

    async def _depth(self, request: web.Request) -> web.Response:
        assert self.timeline is not None and self.books is not None
        native = self._native(request)
        if isinstance(native, web.Response):
            return native
        raw = request.query.get("limit", str(DEFAULT_LIMIT))
        limit = int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT else DEFAULT_LIMIT
        player = self._latest.get(native)
        position = player.position if player is not None else self.timeline.start
        symbol = self.timeline.natives[native]
        body = self.books.depth(symbol, position, limit)
        if body is None:  # no snapshot recorded: an empty book the diffs from here fill
            first = self._first_id(native, position)
            body = _encode({"lastUpdateId": first, "bids": [], "asks": []})
        return json_response(body)

    def _first_id(self, native: str, position: int) -> int:
        assert self.timeline is not None
        for i in range(position, len(self.timeline)):
            key = self.timeline.keys[i]
            if key.startswith(native + "@depth"):
                data = _decode(self.timeline.payloads[i])["data"]
                return int(data["U"]) - 1
        return 0

    async def _exchange_info(self, request: web.Request) -> web.Response:
        assert self.timeline is not None
        recorded = self.timeline.rest.get(EXCHANGE_INFO_PATH)
        if recorded:
            return json_response(recorded[0][2])
        symbols = [symbol_json(listing_for(s, self.timeline)) for s in self.timeline.symbols]
        body = {
            "timezone": "UTC",
            "serverTime": self._data_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }
        return json_response(_encode(body))

    async def _time(self, request: web.Request) -> web.Response:
        return json_response(_encode({"serverTime": self._data_ms()}))

    async def _ping(self, request: web.Request) -> web.Response:
        return json_response(b"{}")

    def _data_ms(self) -> int:
        assert self.timeline is not None
        positions = [p.position for p in self.players if p.position]
        i = min(max(positions, default=self.timeline.start + 1), len(self.timeline)) - 1
        return self.timeline.recv_ns[max(i, 0)] // NS_PER_MS


def listing_for(symbol: str, timeline: BinanceTimeline) -> Listing:
    """The simulator's listing of ``symbol``, else one with steps read off recorded prices."""
    for listing in default_listings():
        if listing.spec.inst_id == symbol:
            return listing
    tick, lot = _steps_seen(symbol, timeline)
    return Listing(InstrumentSpec(symbol, tick, lot, lot, "1", 0))


def _steps_seen(symbol: str, timeline: BinanceTimeline) -> tuple[str, str]:
    px_places, sz_places = 0, 0
    for _recv_ns, name, payload in timeline.rest.get(DEPTH_PATH, ()):
        if name != symbol:
            continue
        book = _decode(payload)
        for price, qty in [*book.get("bids", ()), *book.get("asks", ())]:
            px_places = max(px_places, _places(price))
            sz_places = max(sz_places, _places(qty))
        break
    step = Decimal(1)
    return format(step.scaleb(-px_places), "f"), format(step.scaleb(-sz_places), "f")


def _places(text: str) -> int:
    exponent = Decimal(text).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _reply(text: str) -> bytes:
    """``{"result":null,"id":...}`` for a live request (the replay's streams are fixed)."""
    try:
        request = _decode(text)
    except msgspec.DecodeError:
        return rest_error(3, "Invalid JSON")
    request_id = request.get("id") if isinstance(request, dict) else None
    return _encode({"result": None, "id": request_id})
