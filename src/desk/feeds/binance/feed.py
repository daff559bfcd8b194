"""The Binance Spot public market-data feed: one combined-stream connection and its events.

``BinanceFeed`` connects to ``{ws_url}/stream?streams=...`` with, per symbol, the diff depth
(``<s>@depth@100ms``), the trades (``<s>@trade`` or ``<s>@aggTrade``) and ``<s>@bookTicker``,
and turns every event into normalised events on the bus (named ``BTC-USDT``, venue ``binance``):

* depth -> ``OrderBook`` updates via ``BinanceBookKeeper`` (REST snapshot, ``U``/``u``
  sequencing, crossed-book detection, per-symbol resync) and ``BookChanged`` on
  ``market_data:{symbol}``;
* trades -> ``Trade`` (``m`` true means the taker sold); replays dropped by the deduplicator;
* bookTicker -> ``Ticker`` with the best bid/ask, the last trade seen on this feed, and NaN for
  the 24 h figures the stream does not carry (``ts_exchange`` 0: it has no time);
* connects, disconnects, gaps, resyncs, decode errors, crossed books, venue errors, planned
  reconnects -> ``FeedStatus`` / ``SystemEvent`` on ``system_events``.

``handle_message`` reads the stream name from the first bytes of the frame and decodes with that
stream's typed decoder: one parse per message. It needs no socket, so tests and benchmarks feed
it recorded frames directly. The planned reconnect before Binance's 24 h limit (and on
``serverShutdown``) is ``Handover``'s job: the next connection takes over without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable

import msgspec

from desk.core.bus import Bus
from desk.core.enums import ConnectionState, Severity, Side
from desk.core.events import Ticker, Trade
from desk.core.excerpt import excerpt
from desk.feeds.binance.books import BinanceBookKeeper
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.connection import BinanceConnection
from desk.feeds.binance.handover import ACTIVE, STANDBY, Handover, Link
from desk.feeds.binance.rest import BinanceRestClient, RestDepth
from desk.feeds.binance.symbols import SymbolMap, stream_symbol
from desk.feeds.binance.wire import (
    COMBINED_PREFIX,
    MAX_STREAM_NAME,
    AggTradeEvent,
    AggTradeFrame,
    BookTickerEvent,
    BookTickerFrame,
    Envelope,
    TradeEvent,
    TradeFrame,
    combined_url,
    decoder,
    stream_name,
)
from desk.feeds.counters import FeedCounters
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.reporting import FeedReporter
from desk.feeds.validation import BadData, bad_timestamp
from desk.market.book import OrderBook

log = logging.getLogger(__name__)

VENUE = "binance"
NS_PER_MS = 1_000_000
SHUTDOWN_STREAM = "!serverShutdown"
_PREFIX_LEN = len(COMBINED_PREFIX)
_NAME_END = _PREFIX_LEN + MAX_STREAM_NAME
NAN = math.nan
RENUMBERED = 1_000_000
"""A trade id this far below the highest seen is a fresh numbering, not a replay."""
BUY, SELL = Side.BUY, Side.SELL
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
        self.dedupe = dedupe or TradeDeduplicator()  # the desk's; trades use ids (_on_trade)
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
        self._latency_append = self.counters.latency_append
        self._publish = bus.publish
        self._ticker_u: dict[str, int] = {}
        self.streams = self._stream_names()
        self.url = combined_url(config.ws_url, self.streams)
        self._trade_decode = decoder(TradeFrame).decode
        self._agg_decode = decoder(AggTradeFrame).decode
        self._ticker_decode = decoder(BookTickerFrame).decode
        self._trade_payload = decoder(TradeEvent).decode
        self._agg_payload = decoder(AggTradeEvent).decode
        self._ticker_payload = decoder(BookTickerEvent).decode
        self._envelope_decode = msgspec.json.Decoder(Envelope).decode
        self._by_stream, self._payloads = self._handlers()
        self.handover = Handover(self)
        self.link = Link(ACTIVE)
        self._housekeeping: asyncio.Task[None] | None = None

    def _stream_names(self) -> list[str]:
        kinds = [self.config.depth_stream, self.config.trade_stream]
        if self.config.book_ticker:
            kinds.append("bookTicker")
        return [stream_name(stream_symbol(n), k) for n in self.natives for k in kinds]

    def _handlers(self) -> tuple[dict[bytes, Handler], dict[str, Handler]]:
        """Frame handlers by stream name (bytes, the fast path) and payload handlers (str)."""
        frame_of = {
            self.config.depth_stream: self.keeper.handle_frame,
            "trade": self._on_trade_frame,
            "aggTrade": self._on_agg_frame,
            "bookTicker": self._on_ticker_frame,
        }
        payload_of = {
            self.config.depth_stream: self.keeper.handle_payload,
            "trade": lambda raw, ns: self._on_trade(self._trade_payload(raw), ns, 1),
            "aggTrade": self._on_agg_payload,
            "bookTicker": lambda raw, ns: self._on_ticker(self._ticker_payload(raw), ns),
        }
        frames: dict[bytes, Handler] = {}
        payloads: dict[str, Handler] = {}
        for stream in self.streams:
            kind = stream.split("@", 1)[1]
            frames[stream.encode()] = frame_of[kind]
            payloads[stream] = payload_of[kind]
        return frames, payloads

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
            self._ticker_u.clear()
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
        if isinstance(raw, str):
            raw = raw.encode()
        if raw.startswith(COMBINED_PREFIX):
            handler = self._by_stream.get(raw[_PREFIX_LEN : raw.find(b'"', _PREFIX_LEN, _NAME_END)])
            if handler is not None:
                try:
                    handler(raw, recv_ns)
                except ValueError as exc:  # msgspec.DecodeError and BadData are ValueErrors
                    self.decode_error(raw, exc, recv_ns)
                return
        self.on_other(raw, recv_ns)

    def dispatch(self, raw: bytes, recv_ns: int, *, standby: bool = False) -> None:
        """``handle_message`` without the counting (frames of a handover's standby)."""
        if raw.startswith(COMBINED_PREFIX):
            handler = self._by_stream.get(raw[_PREFIX_LEN : raw.find(b'"', _PREFIX_LEN, _NAME_END)])
            if handler is not None:
                try:
                    handler(raw, recv_ns)
                except ValueError as exc:
                    self.decode_error(raw, exc, recv_ns)
                return
        self.on_other(raw, recv_ns, standby=standby)

    def _on_trade_frame(self, raw: bytes, recv_ns: int) -> None:
        self._on_trade(self._trade_decode(raw).data, recv_ns, 1)

    def _on_agg_frame(self, raw: bytes, recv_ns: int) -> None:
        ev = self._agg_decode(raw).data
        self._on_trade(ev, recv_ns, ev.l - ev.f + 1)

    def _on_agg_payload(self, raw: bytes, recv_ns: int) -> None:
        ev = self._agg_payload(raw)
        self._on_trade(ev, recv_ns, ev.l - ev.f + 1)

    def _on_ticker_frame(self, raw: bytes, recv_ns: int) -> None:
        self._on_ticker(self._ticker_decode(raw).data, recv_ns)

    def _on_trade(self, ev: TradeEvent | AggTradeEvent, recv_ns: int, count: int) -> None:
        """``trade`` (one fill, id ``t``) or ``aggTrade`` (``count`` fills at one price, id
        ``a``, decoded as ``t``) -> ``Trade``; a replay of a trade already seen is dropped.

        Binance numbers a symbol's trades (and aggregates) in increasing order on every
        connection, so "seen" is "at or below the highest id published": the dedupe of
        PROTOCOLS.md D.6 as one integer per symbol, shared by both connections of a handover
        (an LRU lookup cost a quarter of this path). An id more than ``RENUMBERED`` below it
        means the venue (a restarted simulator) numbers afresh: it is taken, and counts again.
        """
        sync = self._syncs.get(ev.s)
        if sync is None:
            self.counters.unknown_symbols += 1
            return
        price = ev.p
        guard = sync.guard
        if not guard.lo < price < guard.hi:
            raise guard.refuse(price, "trade price")
        ts = ev.T * NS_PER_MS
        lag = recv_ns - ts
        skew = self._skew_ns
        if not -skew <= lag <= skew:
            raise bad_timestamp(ts, recv_ns, skew)
        trade_id = ev.t
        if trade_id <= sync.last_trade_id and sync.last_trade_id - trade_id < RENUMBERED:
            self.counters.duplicate_trades += 1
            return
        sync.last_trade_id = trade_id
        guard.last = price
        sync.last_size = ev.q
        self._latency_append(lag)
        self._publish(
            sync.topic,
            Trade(
                ts_exchange=ts,
                ts_recv=recv_ns,
                venue=VENUE,
                symbol=sync.symbol,
                trade_id=str(trade_id),
                price=price,
                size=ev.q,
                side=SELL if ev.m else BUY,
                count=count,
            ),
        )

    def _on_ticker(self, ev: BookTickerEvent, recv_ns: int) -> None:
        """``bookTicker`` -> ``Ticker``; an older ``u`` than the last one seen is dropped."""
        sync = self.keeper.syncs.get(ev.s)
        if sync is None:
            self.counters.unknown_symbols += 1
            return
        if ev.u <= self._ticker_u.get(ev.s, -1):
            return  # the same update seen on the other connection of a handover
        guard = sync.guard
        for price in (ev.b, ev.a):
            if price and not guard.lo < price < guard.hi:
                raise guard.refuse(price, "book ticker price")
        self._ticker_u[ev.s] = ev.u
        last, last_size = sync.guard.last, sync.last_size
        self.bus.publish(
            sync.topic,
            Ticker(
                ts_exchange=0,
                ts_recv=recv_ns,
                venue=VENUE,
                symbol=sync.symbol,
                last=last,
                last_size=last_size,
                bid=ev.b or NAN,
                bid_size=ev.B,
                ask=ev.a or NAN,
                ask_size=ev.A,
                open_24h=NAN,
                high_24h=NAN,
                low_24h=NAN,
                volume_24h=NAN,
                volume_quote_24h=NAN,
            ),
        )

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
        elif env.e in ("depthUpdate", "trade", "aggTrade") or (env.u is not None and env.s):
            kind = {"depthUpdate": self.config.depth_stream}.get(env.e, env.e or "bookTicker")
            name = stream_name(stream_symbol(env.s), kind)
            self._dispatch_payload(name, raw, recv_ns, standby)
        else:
            self.decode_error(raw, ValueError("neither a stream event nor a reply"), recv_ns)

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
