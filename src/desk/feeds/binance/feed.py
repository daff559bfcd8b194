"""The Binance Spot public market-data feed: one combined-stream connection and its events.

``BinanceFeed`` connects to ``{ws_url}/stream?streams=...`` with, per symbol, the diff depth
(``<s>@depth@100ms``), the trades (``<s>@trade`` or ``<s>@aggTrade``), ``<s>@bookTicker`` and
``<s>@miniTicker`` (the two tickers with ``book_ticker``), and turns every event into normalised
events on the bus (named ``BTC-USDT``, venue ``binance``):

* depth -> ``OrderBook`` updates via ``BinanceBookKeeper`` (REST snapshot, ``U``/``u``
  sequencing, crossed-book detection, per-symbol resync) and ``BookChanged`` on
  ``market_data:{symbol}``;
* trades -> ``Trade`` (``m`` true means the taker sold); replays dropped by trade id
  (``TradeTickerNormaliser``, which also does the next item);
* bookTicker -> ``Ticker`` with the best bid/ask, the last trade seen on this feed, and the
  latest rolling 24 h figures of miniTicker (NaN before its first push; ``ts_exchange`` 0:
  bookTicker has no time);
* miniTicker (every second) -> those 24 h figures, and a ``Ticker`` with them and the latest
  best bid/ask and last trade (``ts_exchange`` its event time);
* connects, disconnects, gaps, resyncs, decode errors, crossed books, venue errors, planned
  reconnects -> ``FeedStatus`` / ``SystemEvent`` on ``system_events``.

``handle_message`` routes a frame by its first bytes (``routing``) to its stream's handler,
bound to the stream's symbol, which decodes it with the stream's typed decoder: one parse per
message. It needs no socket, so tests and benchmarks feed it recorded frames directly. The
planned reconnect before Binance's 24 h limit (and on ``serverShutdown``) is ``Handover``'s
job: the next connection takes over without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable

import msgspec

from desk.core.bus import Bus
from desk.core.enums import ConnectionState, Severity
from desk.core.excerpt import excerpt
from desk.feeds.binance.books import BinanceBookKeeper
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.connection import BinanceConnection
from desk.feeds.binance.handover import ACTIVE, STANDBY, Handover, Link
from desk.feeds.binance.normalise import TradeTickerNormaliser
from desk.feeds.binance.rest import BinanceRestClient, RestDepth
from desk.feeds.binance.routing import FrameRoutes
from desk.feeds.binance.symbols import SymbolMap, stream_symbol
from desk.feeds.binance.wire import Envelope, combined_url, stream_name, stream_of
from desk.feeds.counters import FeedCounters
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.reporting import FeedReporter
from desk.feeds.validation import BadData
from desk.market.book import OrderBook

log = logging.getLogger(__name__)

VENUE = "binance"
SHUTDOWN_STREAM = "!serverShutdown"
EVENT_KINDS = {"trade": "trade", "aggTrade": "aggTrade", "24hrMiniTicker": "miniTicker"}
"""A bare payload's stream kind by its event type ``e`` (besides ``depthUpdate``)."""
Handler = Callable[[bytes, int], None]


class BinanceFeed:
    """One Binance combined-stream connection and everything it publishes (module docstring).

    ``symbols`` are desk's names; they default to ``config.symbols``.
    """

    def __init__(
        self,
        config: BinanceConfig,
        bus: Bus,
        *,
        symbols: Iterable[str] | None = None,
        rest: BinanceRestClient | None = None,
        rng: random.Random | None = None,
        name: str = VENUE,
        dedupe: TradeDeduplicator | None = None,
    ) -> None:
        self.config = config
        self.symbols = tuple(dict.fromkeys(config.symbols if symbols is None else symbols))
        self.names = SymbolMap(self.symbols)
        self.natives = {self.names.native(s): s for s in self.symbols}
        self.bus = bus
        self.name = name
        self.counters = FeedCounters(name)
        # not ``dedupe or ...``: an empty deduplicator is falsy (``__len__``), and the desk's must
        # be kept even before its first trade; trades use ids (normalise.py)
        self.dedupe = TradeDeduplicator() if dedupe is None else dedupe
        self.reporter = FeedReporter(bus, name, VENUE)
        self._report = self.reporter.report
        self.venue_errors = 0
        self.replies = 0
        self.handovers = 0
        self._rest = rest
        self._own_rest = rest is None
        self._rng = rng
        self._skew_ns = config.validation.skew_ns
        self.keeper = BinanceBookKeeper(
            self.natives,
            publish=bus.publish,
            counters=self.counters,
            report=self._report,
            fetch_depth=self._fetch_depth,
            skew_ns=self._skew_ns,
            price_band=config.validation.price_band,
            venue=VENUE,
        )
        self.books: dict[str, OrderBook] = self.keeper.books
        self._syncs = self.keeper.syncs
        self.normaliser = TradeTickerNormaliser(
            self._syncs, publish=bus.publish, counters=self.counters, skew_ns=self._skew_ns
        )
        self.streams = self._stream_names()
        self.url = combined_url(config.ws_url, self.streams)
        self._envelope_decode = msgspec.json.Decoder(Envelope).decode
        self._routes, self._payloads = self._handlers()
        self._heads, self._head_len = self._routes.heads, self._routes.length
        self.handover = Handover(self)
        self.link = Link(ACTIVE)
        self._housekeeping: asyncio.Task[None] | None = None

    def _kinds(self) -> list[str]:
        kinds = [self.config.depth_stream, self.config.trade_stream]
        if self.config.book_ticker:
            kinds += ["bookTicker", "miniTicker"]
        return kinds

    def _stream_names(self) -> list[str]:
        return [stream_name(stream_symbol(n), k) for n in self.natives for k in self._kinds()]

    def _handlers(self) -> tuple[FrameRoutes, dict[str, Handler]]:
        """Frame handlers by stream, bound to their symbol (the fast path, see ``routing``),
        and payload handlers by stream."""
        depth = self.config.depth_stream
        payload_of = {
            depth: self.keeper.handle_payload,
            "trade": self.normaliser.trade_payload,
            "aggTrade": self.normaliser.agg_payload,
            "bookTicker": self.normaliser.ticker_payload,
            "miniTicker": self.normaliser.mini_payload,
        }
        frames: dict[str, Handler] = {}
        payloads: dict[str, Handler] = {}
        for native in self.natives:
            frame_of = self.normaliser.frame_handlers(native)
            frame_of[depth] = self.keeper.frame_handler(native)
            for kind in self._kinds():
                stream = stream_name(stream_symbol(native), kind)
                frames[stream] = frame_of[kind]
                payloads[stream] = payload_of[kind]
        return FrameRoutes(frames), payloads

    # --- life cycle -----------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        conn = self.link.conn
        return ConnectionState.DISCONNECTED if conn is None else conn.state

    @property
    def connection(self) -> BinanceConnection | None:
        return self.link.conn

    def new_connection(self, link: Link) -> BinanceConnection:
        """A connection for ``link`` whose frames and state changes are routed by its role."""

        def receive(raw: bytes | str, recv_ns: int) -> None:
            if link.role is ACTIVE:
                self.handle_message(raw, recv_ns)
            elif link.role is STANDBY:
                self.handover.receive(raw, recv_ns)

        config = self.config
        link.conn = BinanceConnection(
            self.url,
            receive,
            on_state=lambda state, reason: self._on_state(link, state, reason),
            name=self._connection_name(link),
            ping_interval=config.ping_interval,
            pong_timeout=config.pong_timeout,
            connect_timeout=config.connect_timeout,
            reconnect=config.reconnect,
            rng=self._rng,
        )
        return link.conn

    def _connection_name(self, link: Link) -> str:
        """The feed's name; a handover's standby gets whichever of ``binance`` and
        ``binance~2`` the active connection does not have, so the recorder's raw frames never
        hold two connections' copies of one event under one name."""
        active = self.link.conn
        if link is self.link or active is None or active.name != self.name:
            return self.name
        return f"{self.name}~2"

    async def start(self) -> None:
        """Connect in the background; see ``wait_ready``."""
        if self.link.conn is None:
            self.new_connection(self.link)
        assert self.link.conn is not None
        await self.link.conn.start()
        if self._housekeeping is None:
            loop = asyncio.get_running_loop()
            self._housekeeping = loop.create_task(self._housekeep(), name=f"{self.name}-house")

    async def stop(self) -> None:
        task, self._housekeeping = self._housekeeping, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.handover.stop()
        if self.link.conn is not None:
            await self.link.conn.stop()
        self.keeper.close()
        if self._own_rest and self._rest is not None:
            await self._rest.close()
            self._rest = None

    async def wait_ready(self, timeout: float) -> None:
        """Wait until connected and every book has a snapshot applied; ``TimeoutError`` else."""
        try:
            async with asyncio.timeout(timeout):
                while self.link.conn is None or not self.link.conn.connected:
                    await asyncio.sleep(0.02)
                await self.keeper.ready.wait()
        except TimeoutError:
            waiting = sorted(s for s, book in self.books.items() if not book)
            raise TimeoutError(
                f"{self.name} not ready after {timeout}s: state {self.state}, "
                f"books without data {waiting}"
            ) from None

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.keeper.refresh_guards()
            link = self.link
            age = time.monotonic() - link.connected_at
            if link.connected and age >= self.config.max_connection_age:
                self.handover.begin(f"connection {age / 3600:.1f} h old")

    def _on_state(self, link: Link, state: ConnectionState, reason: str) -> None:
        if state is ConnectionState.CONNECTED:
            link.connected_at = time.monotonic()
        if link.role is STANDBY:
            self.handover.on_standby_state(state)
            return
        if link.role is not ACTIVE:
            return  # a retired connection going away
        if state is ConnectionState.DISCONNECTED and self.handover.take_over_on_drop():
            return  # the standby took over without a gap
        if state is ConnectionState.CONNECTED and link.conn is not None and link.conn.connects > 1:
            self.counters.reconnects += 1
        if state is ConnectionState.DISCONNECTED:
            self.keeper.reset_all()  # a book is only as good as the stream that feeds it
            self.normaliser.forget_connection()
        self.reporter.status(state, reason, self.url)

    async def _fetch_depth(self, native: str) -> RestDepth:
        if self._rest is None:
            self._rest = BinanceRestClient(self.config.rest_url)
        return await self._rest.get_depth(native, self.config.snapshot_limit)

    # --- the hot path -----------------------------------------------------------------------

    def handle_message(self, raw: bytes | str, recv_ns: int) -> None:
        """Decode, normalise and apply one frame received at ``recv_ns`` (ns since the epoch)."""
        counters = self.counters
        if recv_ns >= counters.next_mark_ns:
            counters.mark(recv_ns)
        counters.messages += 1
        counters.bytes += len(raw)
        counters.last_recv_ns = recv_ns
        handler = self._heads.get(raw[: self._head_len])  # type: ignore[call-overload]
        if handler is None:
            self.dispatch(raw, recv_ns)
            return
        try:
            handler(raw, recv_ns)
        except ValueError as exc:  # msgspec.DecodeError and BadData are ValueErrors
            self.decode_error(raw, exc, recv_ns)

    def dispatch(self, raw: bytes | str, recv_ns: int, *, standby: bool = False) -> None:
        """``handle_message`` without the counting (frames of a handover's standby, and frames
        off the fast path: another layout, text, a stream without a header key, no stream)."""
        if isinstance(raw, str):
            raw = raw.encode()
        name = stream_of(raw)
        handler = None if name is None else self._routes.by_name.get(name)
        if handler is None:
            self.on_other(raw, recv_ns, standby=standby)
            return
        try:
            handler(raw, recv_ns)
        except ValueError as exc:
            self.decode_error(raw, exc, recv_ns)

    # --- everything else: replies, errors, shutdown notices, unusual layouts, garbage -------

    def on_other(self, raw: bytes, recv_ns: int, *, standby: bool = False) -> None:
        """A frame off the fast path (wire samples in ``wire.Envelope``)."""
        try:
            env = self._envelope_decode(raw)
        except ValueError as exc:
            self.decode_error(raw, exc, recv_ns)
            return
        if env.stream is not None and env.data:
            if env.stream == SHUTDOWN_STREAM:
                self._on_shutdown(standby)
            else:
                self._dispatch_payload(env.stream, bytes(env.data), recv_ns, standby)
        elif env.result is not msgspec.UNSET:
            self.replies += 1
        elif env.code is not None:
            self.venue_errors += 1
            self._report("error", f"Binance error {env.code}: {env.msg}", Severity.ERROR, "")
        elif env.e == "serverShutdown":
            self._on_shutdown(standby)
        elif env.e == "depthUpdate" or env.e in EVENT_KINDS or (env.u is not None and env.s):
            kind = self._kind_of(env.e)
            name = stream_name(stream_symbol(env.s), kind)
            self._dispatch_payload(name, raw, recv_ns, standby)
        else:
            self.decode_error(raw, ValueError("neither a stream event nor a reply"), recv_ns)

    def _kind_of(self, event_type: str) -> str:
        """The stream kind of a bare payload of ``event_type`` (``bookTicker`` has none)."""
        if not event_type:
            return "bookTicker"
        if event_type == "depthUpdate":
            return self.config.depth_stream
        return EVENT_KINDS.get(event_type, event_type)

    def _dispatch_payload(self, stream: str, data: bytes, recv_ns: int, standby: bool) -> None:
        handler = self._payloads.get(stream)
        if handler is None:
            self.counters.unknown_channels += 1
            return
        if standby and handler == self.keeper.handle_payload:
            handler = self.handover.buffer_payload
        try:
            handler(data, recv_ns)
        except ValueError as exc:
            self.decode_error(data, exc, recv_ns)

    def _on_shutdown(self, standby: bool) -> None:
        self._report(
            "notice", "serverShutdown: the server closes this connection soon", Severity.WARNING, ""
        )
        if not standby:
            self.handover.begin("serverShutdown")

    def decode_error(self, raw: bytes | str, exc: Exception, recv_ns: int) -> None:
        """Count a frame that could not be used and say why (at most once a second)."""
        counters = self.counters
        counters.decode_errors += 1
        if isinstance(exc, BadData):
            if exc.kind == "timestamp":
                counters.bad_timestamps += 1
            else:
                counters.bad_values += 1
        text = f"unusable frame of {len(raw)} bytes skipped: {exc}; starts {excerpt(raw, 120)}"
        self._report("decode_error", text, Severity.WARNING, "", recv_ns)
