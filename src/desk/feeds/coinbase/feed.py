"""The Coinbase Advanced Trade market-data feed: one connection, its subscriptions, wire -> events.

``CoinbaseFeed`` subscribes, one message per channel (the venue wants it so), ``level2``,
``market_trades`` and ``ticker`` for its products and always ``heartbeats`` (one message a
second, which keeps quiet products' connections open and feeds the watchdog), and publishes:

* ``l2_data`` -> ``OrderBook`` updates via ``CoinbaseBookKeeper`` and a ``BookChanged`` on
  ``market_data:{symbol}``;
* ``market_trades`` -> ``Trade`` (aggressor side, de-duplicated across reconnects);
* ``ticker`` -> ``Ticker``;
* connects, disconnects, gaps, resyncs, decode errors, crossed books and venue errors ->
  ``FeedStatus`` / ``SystemEvent`` on ``system_events`` (rate-limited per kind and symbol).

Sequencing (PROTOCOLS.md C): ``sequence_num`` is checked per connection (``ConnectionSequence``).
A stale number drops the message. A hole is a gap: counted, reported, and charged to the books
of the ``l2_data`` message that shows it, or to every book when another channel shows it or
``gap_resync`` is ``connection`` (the number cannot say what a lost message was about). A
message that does not decode still has its number read when its envelope does, so a refused
message is not mistaken for a lost one, and its books (if it was a book update) are resynced.

Events name desk's normalised symbol (``symbols.to_desk``) and the venue ``coinbase``.
The per-message path (``handle_message``) needs no socket: tests and benchmarks feed it frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

import msgspec

from desk.core.bus import Bus
from desk.core.enums import ConnectionState, Severity
from desk.core.excerpt import excerpt
from desk.feeds.coinbase.books import CoinbaseBookKeeper
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.coinbase.normalise import TradeTickerNormaliser
from desk.feeds.coinbase.routing import HEAD_LEN, channel_heads
from desk.feeds.coinbase.sequence import STALE, ConnectionSequence
from desk.feeds.coinbase.symbols import VENUE, to_native
from desk.feeds.coinbase.timestamps import parse_ns
from desk.feeds.coinbase.wire import (
    HEARTBEATS,
    L2_DATA,
    MARKET_TRADES,
    SUBSCRIBE_CHANNELS,
    SUBSCRIPTIONS,
    TICKER,
    Envelope,
    HeartbeatMessage,
    L2Message,
    SubscriptionsMessage,
    TickerMessage,
    TradesMessage,
    channel_of,
    decoder,
    encode_subscribe,
)
from desk.feeds.counters import FeedCounters
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.reporting import FeedReporter
from desk.feeds.validation import BadData, PriceGuard, bad_timestamp
from desk.market.book import OrderBook
from desk.net.connection import WsConnection

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 0.5
_L2_KEY = b'{"channel":"l2_data",'
_L2_KEY_LEN = len(_L2_KEY)
Handler = Callable[[bytes, int], None]


class SendBudget:
    """At most ``limit`` client messages per ``window_s`` (Coinbase: 8 per second per IP)."""

    def __init__(self, limit: int, window_s: float = 1.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._spent: deque[float] = deque()

    def take(self, n: int = 1, now: float | None = None, force: bool = False) -> bool:
        """Spend ``n`` if the window allows (always with ``force``); False otherwise."""
        now = time.monotonic() if now is None else now
        spent = self._spent
        while spent and now - spent[0] >= self.window_s:
            spent.popleft()
        if not force and len(spent) + n > self.limit:
            return False
        spent.extend([now] * n)
        return True


class _SalvageEvent(msgspec.Struct):
    type: str = ""
    product_id: str = ""


class _Salvage(msgspec.Struct):
    """What is read of a message whose full shape was refused: its number and books."""

    channel: str = ""
    sequence_num: int = -1
    events: list[_SalvageEvent] = []


def _updated(msg: L2Message) -> list[str]:
    """The products an ``l2_data`` message updates (a snapshot repairs its book by itself)."""
    return [e.product_id for e in msg.events if e.type == "update"]


class CoinbaseFeed:
    """One Coinbase market-data connection and everything it publishes (module docstring)."""

    def __init__(
        self,
        config: CoinbaseConfig,
        symbols: Iterable[str],
        channels: Iterable[str],
        bus: Bus,
        *,
        rng: random.Random | None = None,
        send: Callable[[str], None] | None = None,
        name: str = VENUE,
        dedupe: TradeDeduplicator | None = None,
    ) -> None:
        self.config = config
        self.symbols = tuple(dict.fromkeys(symbols))
        self.channels = tuple(dict.fromkeys(channels))
        unknown = [c for c in self.channels if c not in SUBSCRIBE_CHANNELS]
        if unknown:
            raise ValueError(
                f"unsupported Coinbase channels {unknown}; expected some of "
                f"{tuple(SUBSCRIBE_CHANNELS)}"
            )
        self.bus = bus
        self.name = name
        self.products = {to_native(s): s for s in self.symbols}  # product id -> desk symbol
        self.counters = FeedCounters(name)
        # not ``dedupe or ...``: an empty deduplicator is falsy (``__len__``), and the desk's must
        # be kept even before its first trade; trades use trade_ids.py
        self.dedupe = TradeDeduplicator() if dedupe is None else dedupe
        self.sequence = ConnectionSequence()
        self.venue_errors = 0
        self.heartbeats = 0
        self.heartbeat_gaps = 0
        self.subscriptions: dict[str, list[str]] = {}
        self.reporter = FeedReporter(bus, name, VENUE)
        self._report = self.reporter.report
        self._budget = SendBudget(config.messages_per_second)
        self._skew = config.validation.skew_ns
        self._latency_append = self.counters.latency_append
        band = config.validation.price_band
        self.guards = {symbol: PriceGuard(band) for symbol in self.symbols}
        self.keeper = CoinbaseBookKeeper(
            self.products if "level2" in self.channels else {},
            publish=bus.publish,
            counters=self.counters,
            report=self._report,
            resubscribe=self._resubscribe,
            guards=self.guards,
            price_band=band,
        )
        self.books: dict[str, OrderBook] = self.keeper.books
        self.normaliser = TradeTickerNormaliser(
            self.products,
            self.guards,
            publish=bus.publish,
            counters=self.counters,
            skew_ns=self._skew,
        )
        self._conn = self._connection(config, rng)
        self._send = send if send is not None else self._conn.send_soon
        self._housekeeping: asyncio.Task[None] | None = None
        self._last_heartbeat = -1
        self._l2_decode = decoder(L2Message).decode
        self._trades_decode = decoder(TradesMessage).decode
        self._ticker_decode = decoder(TickerMessage).decode
        self._heartbeat_decode = decoder(HeartbeatMessage).decode
        self._subscriptions_decode = decoder(SubscriptionsMessage).decode
        self._envelope_decode = decoder(Envelope).decode
        self._salvage_decode = decoder(_Salvage).decode
        self._handlers: dict[bytes, Handler] = {
            L2_DATA.encode(): self._on_l2,
            MARKET_TRADES.encode(): self._on_trades,
            TICKER.encode(): self._on_ticker,
            HEARTBEATS.encode(): self._on_heartbeats,
            SUBSCRIPTIONS.encode(): self._on_subscriptions,
        }
        self._heads = channel_heads({c.decode(): h for c, h in self._handlers.items()})

    @classmethod
    def from_config(cls, config: CoinbaseConfig, bus: Bus, **options: object) -> CoinbaseFeed:
        """A feed of ``config.symbols`` on ``config.channels``."""
        return cls(config, config.symbols, config.channels, bus, **options)  # type: ignore[arg-type]

    def _connection(self, config: CoinbaseConfig, rng: random.Random | None) -> WsConnection:
        # No client ping: Coinbase has no text ping, and heartbeats arrive every second, so the
        # watchdog alone decides when the connection is dead.
        return WsConnection(
            config.ws_url,
            self.handle_message,
            on_open=self._on_open,
            on_state=self._on_state,
            name=self.name,
            ping_interval=math.inf,
            watchdog_timeout=config.watchdog_timeout,
            connect_timeout=config.connect_timeout,
            reconnect=config.reconnect,
            rng=rng,
        )

    # --- life cycle -----------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._conn.state

    @property
    def connection(self) -> WsConnection:
        return self._conn

    async def start(self) -> None:
        """Connect and subscribe in the background; see ``wait_ready``."""
        await self._conn.start()
        if self._housekeeping is None:
            loop = asyncio.get_running_loop()
            self._housekeeping = loop.create_task(self._housekeep(), name=f"{self.name}-house")

    async def stop(self) -> None:
        task, self._housekeeping = self._housekeeping, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._conn.stop()

    async def wait_ready(self, timeout: float) -> None:
        """Wait until connected and every book has its snapshot; ``TimeoutError`` otherwise."""
        try:
            async with asyncio.timeout(timeout):
                await self._conn.wait_connected(timeout)
                await self.keeper.ready.wait()
        except TimeoutError:
            waiting = sorted(s for s, book in self.books.items() if not book)
            raise TimeoutError(
                f"{self.name} not ready after {timeout}s: state {self.state}, "
                f"books without data {waiting}"
            ) from None

    async def _housekeep(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            ticks += 1
            if self._conn.connected:  # a new connection subscribes everything anyway
                self.keeper.check_stuck()
            if ticks % 2 == 0:
                self.keeper.refresh_limits()
                for symbol, guard in self.guards.items():
                    if symbol not in self.books:
                        guard.refresh()

    async def _on_open(self, conn: WsConnection) -> None:
        """(Re)connected: clear every book and subscribe everything again, one channel each."""
        self.sequence.reset()
        self._last_heartbeat = -1
        self.keeper.reset_all()
        products = list(self.products)
        for channel in self.channels:
            self._budget.take(force=True)
            await conn.send(encode_subscribe("subscribe", channel, products))
        self._budget.take(force=True)
        await conn.send(encode_subscribe("subscribe", HEARTBEATS))

    def _on_state(self, state: ConnectionState, reason: str) -> None:
        if state is ConnectionState.CONNECTED and self._conn.connects > 1:
            self.counters.reconnects += 1
        if state is ConnectionState.DISCONNECTED:
            self.keeper.reset_all()  # a book is only as good as the stream that feeds it
        self.reporter.status(state, reason, self._conn.url)

    def _resubscribe(self, product_ids: list[str]) -> bool:
        """Unsubscribe and subscribe ``level2`` of these products, if the budget allows."""
        if not self._budget.take(2):
            return False
        self._send(encode_subscribe("unsubscribe", "level2", product_ids))
        self._send(encode_subscribe("subscribe", "level2", product_ids))
        return True

    # --- the hot path -----------------------------------------------------------------------

    def handle_message(self, raw: bytes | str, recv_ns: int) -> None:
        """Decode, check, normalise and apply one frame received at ``recv_ns`` (ns)."""
        counters = self.counters
        if recv_ns >= counters.next_mark_ns:
            counters.mark(recv_ns)
        counters.messages += 1
        counters.bytes += len(raw)
        counters.last_recv_ns = recv_ns
        if raw[:_L2_KEY_LEN] == _L2_KEY:  # most messages: skip the general dispatch
            try:
                self._on_l2(raw, recv_ns)  # type: ignore[arg-type]
            except ValueError as exc:
                self._decode_error(raw, exc, recv_ns)  # type: ignore[arg-type]
            return
        handler = self._heads.get(raw[:HEAD_LEN])  # type: ignore[call-overload]
        if handler is None:  # another layout, text, an error, garbage: the slow way
            if isinstance(raw, str):  # tests and replays may hand over text
                raw = raw.encode()
            channel = channel_of(raw)
            handler = self._handlers.get(channel) if channel is not None else None
            if handler is None:
                self._on_other(raw, recv_ns)
                return
        try:
            handler(raw, recv_ns)  # type: ignore[arg-type]
        except ValueError as exc:  # msgspec.DecodeError and BadData are ValueErrors
            self._decode_error(raw, exc, recv_ns)  # type: ignore[arg-type]

    def _in_sequence(self, seq: int, l2_updates: list[str] | None) -> bool:
        """Check a message's number; False for a stale one. ``l2_updates``: the products an
        ``l2_data`` message updates (None for any other channel), to charge a hole to."""
        sequence = self.sequence
        if seq == sequence.last + 1:
            sequence.last = seq
            return True
        lost = sequence.check(seq)
        if lost == STALE:
            return False
        if lost:
            self.counters.gaps += 1
            text = f"sequence_num jumped to {seq}: {lost} message(s) lost"
            self._report("gap", text, Severity.WARNING, "")
            whole = l2_updates is None or self.config.gap_resync == "connection"
            self.keeper.on_gap(None if whole else l2_updates, text)
        return True

    def _stamp(self, text: str, recv_ns: int) -> int:
        """The message's send time (ns), checked against the clock and sampled as latency."""
        ts = parse_ns(text)
        latency = recv_ns - ts
        if not -self._skew <= latency <= self._skew:
            raise bad_timestamp(ts, recv_ns, self._skew)
        self._latency_append(latency)
        return ts

    def _on_l2(self, raw: bytes, recv_ns: int) -> None:
        """``l2_data``: the hot path. The number and the time are checked inline."""
        try:
            msg = self._l2_decode(raw)
        except ValueError:
            self._salvage(raw)
            raise
        seq = msg.sequence_num
        sequence = self.sequence
        if seq == sequence.last + 1:
            sequence.last = seq
        elif not self._in_sequence(seq, _updated(msg)):
            return
        ts = parse_ns(msg.timestamp)
        latency = recv_ns - ts
        if not -self._skew <= latency <= self._skew:
            self.keeper.on_gap(_updated(msg), "a book update was refused")  # they missed it
            raise bad_timestamp(ts, recv_ns, self._skew)
        self._latency_append(latency)
        self.keeper.handle(msg, len(raw), ts, recv_ns)

    def _on_trades(self, raw: bytes, recv_ns: int) -> None:
        try:
            msg = self._trades_decode(raw)
        except ValueError:
            self._salvage(raw)
            raise
        seq = msg.sequence_num
        sequence = self.sequence
        if seq == sequence.last + 1:  # _in_sequence's usual case, inline
            sequence.last = seq
        elif not self._in_sequence(seq, None):
            return
        self._stamp(msg.timestamp, recv_ns)
        self.normaliser.trades(msg, recv_ns)

    def _on_ticker(self, raw: bytes, recv_ns: int) -> None:
        try:
            msg = self._ticker_decode(raw)
        except ValueError:
            self._salvage(raw)
            raise
        if self._in_sequence(msg.sequence_num, None):
            self.normaliser.tickers(msg, self._stamp(msg.timestamp, recv_ns), recv_ns)

    def _on_heartbeats(self, raw: bytes, recv_ns: int) -> None:
        """``heartbeats``: liveness, plus a check of ``heartbeat_counter`` for lost beats."""
        try:
            msg = self._heartbeat_decode(raw)
        except ValueError:
            self._salvage(raw)
            raise
        if not self._in_sequence(msg.sequence_num, None):
            return
        self._stamp(msg.timestamp, recv_ns)
        for event in msg.events:
            counter = event.heartbeat_counter
            self.heartbeats += 1
            if 0 <= self._last_heartbeat < counter - 1:
                self.heartbeat_gaps += 1
                text = f"heartbeat_counter jumped from {self._last_heartbeat} to {counter}"
                self._report("heartbeat_gap", text, Severity.WARNING, "")
            self._last_heartbeat = counter

    def _on_subscriptions(self, raw: bytes, recv_ns: int) -> None:
        """The venue's list of what this connection is subscribed to (after every request)."""
        try:
            msg = self._subscriptions_decode(raw)
        except ValueError:
            self._salvage(raw)
            raise
        if self._in_sequence(msg.sequence_num, None):
            for event in msg.events:
                self.subscriptions = event.subscriptions

    # --- everything else: errors, other key orders, unknown channels, garbage ---------------

    def _on_other(self, raw: bytes, recv_ns: int) -> None:
        try:
            env = self._envelope_decode(raw)
        except ValueError as exc:
            self._decode_error(raw, exc, recv_ns)
            return
        if env.type == "error":
            self.venue_errors += 1
            text = f"Coinbase error: {excerpt(env.message)}"
            self._report("error", text, Severity.ERROR, "")
            return
        handler = self._handlers.get(env.channel.encode()) if env.channel else None
        if handler is not None:
            try:
                handler(raw, recv_ns)
            except ValueError as exc:
                self._decode_error(raw, exc, recv_ns)
        elif env.channel:
            self._in_sequence(env.sequence_num, None)
            self.counters.unknown_channels += 1
            log.debug("%s: message on unhandled channel %s", self.name, excerpt(env.channel, 40))
        else:
            self._decode_error(raw, ValueError("neither a channel message nor an error"), recv_ns)

    def _salvage(self, raw: bytes) -> None:
        """A message of a known channel was refused whole: read what can be read of it, so its
        number is not taken for a loss and the books it updated are resynced."""
        try:
            msg = self._salvage_decode(raw)
        except ValueError:
            return  # garbage: the next numbered message shows the hole, if it took a number
        updates = (
            [e.product_id for e in msg.events if e.type == "update"]
            if msg.channel == L2_DATA
            else None
        )
        if self._in_sequence(msg.sequence_num, updates) and updates:
            self.keeper.on_gap(updates, "a book update was refused")

    def _decode_error(self, raw: bytes, exc: Exception, recv_ns: int) -> None:
        counters = self.counters
        counters.decode_errors += 1
        if isinstance(exc, BadData):
            if exc.kind == "timestamp":
                counters.bad_timestamps += 1
            else:
                counters.bad_values += 1
        text = f"frame of {len(raw)} bytes skipped: {exc}; starts {excerpt(raw, 120)}"
        self._report("decode_error", text, Severity.WARNING, "", recv_ns)
