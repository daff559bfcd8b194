"""``ReplayServer``: a recording served on loopback as OKX's public WebSocket and REST.

    server = ReplayServer(ReplayConfig(path="data/rec", speed=0))
    await server.start()            # reads the recording (RecordingError when unusable)
    server.ws_public_url            # ws://127.0.0.1:PORT/ws/v5/public, as the simulator's
    await server.finished.wait()    # every connection has had its whole recording
    await server.stop()

A client subscribes as on OKX (``{"op":"subscribe","args":[{"channel":"books","instId":
"BTC-USDT"}]}``) and gets OKX's ack, then the recorded pushes of what it subscribed, untouched
and in ``recv_ns`` order (``desk.sim.replay.player``). An instrument that is not in the
recording is refused with ``60018``, as OKX refuses an unknown one; a channel that was not
recorded is acked and stays silent. The same feed code that runs live therefore rebuilds the
same books (checksums and ``seqId`` chains verified as live) from a recording.
A client that reconnects goes on from where the last connection to that endpoint had got to,
its ``books`` starting on a snapshot of the book there, as a live venue would: a feed's
watchdog reconnect mid-replay neither replays the start again nor loses its books.

REST: ``/api/v5/public/instruments`` answers with the recorded answer when there is one, else
with the simulator's rules for the instruments it knows and rules read off the recorded prices
for others; ``/api/v5/market/books`` with the book at the replay position (``desk.sim.replay.
books``) or the recorded answer; ``/api/v5/public/time`` with the replay's data time.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from desk.sim.instruments import DEFAULT_INSTRUMENTS, InstrumentSpec
from desk.sim.loopback import json_response
from desk.sim.okx.conn import Connection
from desk.sim.okx.rest import instrument_json
from desk.sim.okx.wire import ack, error, rest_error, rest_ok
from desk.sim.okx.ws import PUBLIC_CHANNELS, RequestError, RequestHandler, wrong_channel
from desk.sim.replay.base import ReplayServerBase, no_count
from desk.sim.replay.books import BookIndex
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.player import Player
from desk.sim.replay.timeline import Timeline, load_timeline

log = logging.getLogger(__name__)

PUBLIC, BUSINESS = "public", "business"
MAX_QUEUE = 20_000
INSTRUMENTS_PATH = "/api/v5/public/instruments"
BOOKS_PATH = "/api/v5/market/books"
NS_PER_MS = 1_000_000


class ReplayServer(ReplayServerBase[Timeline, Connection]):
    """Serves one recording (see the module docstring)."""

    def __init__(self, config: ReplayConfig, timeline: Timeline | None = None) -> None:
        super().__init__(config, timeline, "replay:conn")
        self.books: BookIndex | None = None
        self._latest: dict[str, Player] = {}
        self._resume: dict[str, int] = {}  # by endpoint: where the last connection got to

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> dict[str, str]:
        """Read the recording (off the event loop), bind, and return the URLs."""
        if self.timeline is None:
            c = self.config
            self.timeline = await asyncio.to_thread(
                load_timeline, c.path, c.start_ns or None, c.end_ns or None, c.symbols or None
            )
        for path, why in self.timeline.skipped:
            log.warning("replay: skipped %s: %s", path, why)
        self.books = BookIndex(self.timeline.keys, self.timeline.payloads)
        app = web.Application()
        app.router.add_get("/ws/v5/public", self._ws_public)
        app.router.add_get("/ws/v5/business", self._ws_business)
        app.router.add_get(INSTRUMENTS_PATH, self._instruments)
        app.router.add_get(BOOKS_PATH, self._books)
        app.router.add_get("/api/v5/public/time", self._time)
        await self.site.bind(app)
        log.info("replay of %s listening on %s", self.config.path, self.rest_url)
        return self.urls()

    # ---- addresses ---------------------------------------------------------------------

    @property
    def ws_public_url(self) -> str:
        return self.site.ws_url("/ws/v5/public")

    @property
    def ws_business_url(self) -> str:
        return self.site.ws_url("/ws/v5/business")

    def urls(self) -> dict[str, str]:
        return {
            "ws_public": self.ws_public_url,
            "ws_business": self.ws_business_url,
            "rest": self.rest_url,
        }

    # ---- WebSockets --------------------------------------------------------------------

    async def _ws_public(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, PUBLIC)

    async def _ws_business(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, BUSINESS)

    async def _serve(self, request: web.Request, endpoint: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 16)  # batched raw writes
        await ws.prepare(request)
        conn = Connection(
            ws, request.transport, self._next_conn_id(), endpoint, MAX_QUEUE, no_count
        )
        self._conns.add(conn)
        assert self.timeline is not None
        start = self._resume.get(endpoint, 0)
        player = Player(conn, self.timeline, self.config.speed, self._player_finished, start=start)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._handle(conn, player, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._handle(conn, player, msg.data.decode("utf-8", "replace"))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            await player.stop()
            self._resume[endpoint] = max(self._resume.get(endpoint, 0), player.position)
            if player in self.players and not player.finished:
                self.players.remove(player)  # gone before the end: not waited for
            await conn.finished()
        return ws

    def _handle(self, conn: Connection, player: Player, text: str) -> None:
        """``ping`` -> ``pong``; (un)subscribe -> acks (or one error), then the replay."""
        if text == "ping":
            conn.send(b"pong", is_push=False)
            return
        req_id: str | None = None
        try:
            req = RequestHandler._decode(text)
            req_id = RequestHandler._req_id(req, text)
            op, args = RequestHandler._op_args(req, text)
            keys = [self._check(conn.endpoint, arg) for arg in args]
        except RequestError as exc:
            conn.send(error(exc.code, exc.msg, conn.conn_id, req_id), is_push=False)
            return
        for arg, key in zip(args, keys, strict=True):
            echo = {k: arg[k] for k in ("channel", "instType", "instFamily", "instId") if k in arg}
            if op == "subscribe":
                conn.subscriptions.add(key)
                self._latest[key[1]] = player
            else:
                conn.subscriptions.discard(key)
            conn.send(ack(op, echo, conn.conn_id, req_id), is_push=False)
            if op == "subscribe" and key[0] == "books" and player.position:
                self._resubscribed(conn, player, key[1])
        if op == "subscribe" and player not in self.players:
            self.players.append(player)
            player.start()

    def _resubscribed(self, conn: Connection, player: Player, symbol: str) -> None:
        """A ``books`` subscribe mid-replay (a feed resyncing): as OKX does, a snapshot of the
        book as the replay has reached it, so the next recorded update chains on it."""
        assert self.books is not None
        frame = self.books.snapshot_push(symbol, player.position)
        if frame is not None:
            conn.send(frame)

    def _check(self, endpoint: str, arg: Any) -> tuple[str, str]:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            raise RequestError("60013", "Invalid args")
        channel, inst_id = arg["channel"], arg.get("instId")
        if not isinstance(inst_id, str) or not inst_id:
            raise RequestError("60013", "Invalid args")
        public = channel in PUBLIC_CHANNELS
        assert self.timeline is not None
        if public != (endpoint == PUBLIC) or inst_id not in self.timeline.symbols:
            raise wrong_channel(channel, inst_id)
        return channel, inst_id

    # ---- REST --------------------------------------------------------------------------

    def _position_ns(self, symbol: str) -> tuple[Player | None, int | None]:
        player = self._latest.get(symbol)
        assert self.timeline is not None
        if player is None or player.position == 0:
            return player, None
        return player, self.timeline.recv_ns[min(player.position, len(self.timeline)) - 1]

    async def _instruments(self, request: web.Request) -> web.Response:
        assert self.timeline is not None
        inst_type = request.query.get("instType", "")
        if not inst_type:
            return json_response(rest_error("50014", "Parameter instType can not be empty"), 400)
        recorded = self.timeline.rest_answer(INSTRUMENTS_PATH, "", None)
        if recorded is not None:
            return json_response(recorded)
        if inst_type != "SPOT":
            return json_response(rest_ok([]))
        inst_id = request.query.get("instId", "")
        rows = [
            instrument_json(spec_for(symbol, self.timeline))
            for symbol in self.timeline.symbols
            if inst_id in ("", symbol)
        ]
        if inst_id and not rows:
            return json_response(rest_error("51001", "Instrument ID does not exist"))
        return json_response(rest_ok(rows))

    async def _books(self, request: web.Request) -> web.Response:
        assert self.timeline is not None and self.books is not None
        inst_id = request.query.get("instId", "")
        if inst_id not in self.timeline.symbols:
            return json_response(rest_error("51001", "Instrument ID does not exist"))
        raw = request.query.get("sz", "1")
        depth = int(raw) if raw.isdigit() and 1 <= int(raw) <= 400 else 1
        player, at_ns = self._position_ns(inst_id)
        book = self.books.book(inst_id, player.position, depth) if player else None
        if book is not None:
            return json_response(rest_ok([book]))
        recorded = self.timeline.rest_answer(BOOKS_PATH, inst_id, at_ns)
        if recorded is not None:
            return json_response(recorded)
        return json_response(rest_ok([{"asks": [], "bids": [], "ts": "0", "seqId": -1}]))

    async def _time(self, request: web.Request) -> web.Response:
        assert self.timeline is not None
        positions = [p.position for p in self.players if p.position]
        i = min(max(positions, default=1), len(self.timeline)) - 1
        return json_response(rest_ok([{"ts": str(self.timeline.recv_ns[i] // NS_PER_MS)}]))


def spec_for(symbol: str, timeline: Timeline) -> InstrumentSpec:
    """The simulator's rules for ``symbol``, else a tick and lot read off recorded prices."""
    for spec in DEFAULT_INSTRUMENTS:
        if spec.inst_id == symbol:
            return spec
    tick, lot = _steps_seen(symbol, timeline)
    return InstrumentSpec(symbol, tick, lot, lot, "1", 0)


def _steps_seen(symbol: str, timeline: Timeline) -> tuple[str, str]:
    """The finest price and size steps in the symbol's first recorded book or trades."""
    decode = msgspec.json.Decoder().decode
    px_places, sz_places = 0, 0
    for key, payload in zip(timeline.keys, timeline.payloads, strict=True):
        if key[1] != symbol:
            continue
        for entry in decode(payload).get("data", ()):
            if not isinstance(entry, dict):
                continue
            levels = [*entry.get("bids", ()), *entry.get("asks", ())]
            pairs = [(lv[0], lv[1]) for lv in levels] + [(entry.get("px"), entry.get("sz"))]
            for px, sz in pairs:
                if isinstance(px, str) and isinstance(sz, str):
                    px_places = max(px_places, _places(px))
                    sz_places = max(sz_places, _places(sz))
        if px_places or sz_places:
            break
    return format(Decimal(1).scaleb(-px_places), "f"), format(Decimal(1).scaleb(-sz_places), "f")


def _places(text: str) -> int:
    exponent = Decimal(text).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
