"""The OKX public market-data feed: one connection, its subscriptions, and the wire -> events.

``OkxFeed`` subscribes ``books``/``books5``/``bbo-tbt``, ``trades`` and ``tickers`` for its
symbols on ``/ws/v5/public`` and turns every push into normalized events on the bus:

* books -> ``OrderBook`` updates via ``OkxBookKeeper`` (sequence checks, checksum, crossed-book
  detection, per-book resync, REST bootstrap) and a ``BookChanged`` on ``market_data:{symbol}``;
* trades -> ``Trade`` (duplicates across reconnects dropped by ``TradeDeduplicator``);
* tickers -> ``Ticker``;
* connects, disconnects, gaps, resyncs, checksum failures, decode errors, crossed books, venue
  errors and notices -> ``FeedStatus`` / ``SystemEvent`` on ``system_events`` (rate-limited per
  kind and symbol, so a broken stream cannot flood the bus).

The per-message path (``handle_message``) reads the channel from the first bytes of the frame
and decodes with that channel's typed decoder: one parse per message. It needs no socket, so
tests and benchmarks feed it recorded frames directly. Dispatch is on the exact channel name:
a push on a channel desk did not subscribe (``trades-all``, ``tickersX``) is counted
(``unknown_channels``) and dropped, like one for a symbol it does not follow
(``unknown_symbols``).

Every value that becomes an event is validated here, at the boundary (``desk.feeds.validation``,
``exchanges.okx.validation``): prices finite, positive and within a band around the symbol's last
good price, sizes finite and not negative, exchange times within ``max_clock_skew`` of the
receive time. Nothing refused is published (a push of several trades keeps its good ones); the
frame is counted as a decode error (and as ``bad_values`` / ``bad_timestamps``) and reported
with an excerpt (``desk.core.excerpt``: at most 200 characters and the length), and a refused
book frame resyncs that book.

A symbol's book follows the best configured book channel (``books`` > ``books5`` > ``bbo-tbt``);
the shallower ones are then not subscribed for it (they would only repeat the same book).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from functools import partial

import msgspec

from desk.core.bus import Bus
from desk.core.enums import ConnectionState, Severity
from desk.core.events import Ticker, Trade
from desk.core.excerpt import excerpt
from desk.core.topics import market_data
from desk.feeds.counters import FeedCounters
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.okx.books import CAREFUL_BYTES, OkxBookKeeper
from desk.feeds.okx.budget import SubscribeBudget
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.rest import OkxRestClient, RestBook
from desk.feeds.okx.wire import (
    BOOK_CHANNELS,
    DISPATCH_KEY_LEN,
    Arg,
    Envelope,
    TickersPush,
    TradesPush,
    channel_of,
    chunk_args,
    dispatch_key,
    encode_request,
    push_decoder,
)
from desk.feeds.reporting import FeedReporter
from desk.feeds.validation import (
    BadData,
    PriceGuard,
    bad_timestamp,
    check_ticker_number,
    refusal_kind,
)
from desk.market.book import OrderBook
from desk.net.connection import WsConnection

log = logging.getLogger(__name__)

__all__ = ["OkxFeed", "SubscribeBudget"]

VENUE = "okx"
CHANNELS = ("books", "books5", "bbo-tbt", "trades", "tickers")
NS_PER_MS = 1_000_000
NOTICE_UPGRADE = "64008"
REST_BOOK_DEPTH = 400
Handler = Callable[[bytes, int], None]


class OkxFeed:
    """One OKX public connection and everything it publishes (see the module docstring)."""

    def __init__(
        self,
        config: OkxConfig,
        symbols: Iterable[str],
        channels: Iterable[str],
        bus: Bus,
        *,
        rest: OkxRestClient | None = None,
        rng: random.Random | None = None,
        send: Callable[[str], None] | None = None,
        name: str = VENUE,
        dedupe: TradeDeduplicator | None = None,
    ) -> None:
        self.config = config
        self.symbols = tuple(dict.fromkeys(symbols))
        self.channels = tuple(dict.fromkeys(channels))
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unsupported OKX channels {unknown}; expected some of {CHANNELS}")
        self.bus = bus
        self.name = name
        self.counters = FeedCounters(name)
        # not ``dedupe or ...``: an empty deduplicator is falsy (``__len__``), and the one the
        # manager shares would be swapped for a private one
        self.dedupe = dedupe if dedupe is not None else TradeDeduplicator()
        self.conn_id = ""
        self.pongs = 0
        self.venue_errors = 0
        self._rest = rest
        self._own_rest = rest is None
        self._topics = {symbol: market_data(symbol) for symbol in self.symbols}
        checks = config.validation
        self._skew_ns = checks.skew_ns
        self._latency_window = (-checks.skew_ns, checks.skew_ns)  # receive - exchange time, ns
        self.guards = {symbol: PriceGuard(checks.price_band) for symbol in self.symbols}
        self._routes = {s: (self._topics[s], self.guards[s]) for s in self.symbols}
        self._seen = {s: self.dedupe.recent(VENUE, s).seen for s in self.symbols}
        self.book_channel = next((c for c in BOOK_CHANNELS if c in self.channels), None)
        self.args = self._subscription_args()
        self._budget = SubscribeBudget()
        self.reporter = FeedReporter(bus, name, VENUE)
        self._report = self.reporter.report
        self.keeper = self._book_keeper(config)
        self.books: dict[str, OrderBook] = self.keeper.books
        self._conn = self._connection(config, rng)
        self._send = send if send is not None else self._conn.send_soon
        self._housekeeping: asyncio.Task[None] | None = None
        self._trades_decode = push_decoder(TradesPush).decode
        self._tickers_decode = push_decoder(TickersPush).decode
        self._envelope_decode = msgspec.json.Decoder(Envelope).decode
        self._handlers: dict[str, Handler] = {
            "books": self.keeper.handle_books,
            "books5": self.keeper.handle_book_snapshots,
            "bbo-tbt": self.keeper.handle_book_snapshots,
            "trades": self._on_trades,
            "tickers": self._on_tickers,
        }
        self._by_key = {dispatch_key(name): fn for name, fn in self._handlers.items()}
        self._careful: dict[Handler, Handler] = {
            self.keeper.handle_books: partial(self.keeper.handle_books, careful=True),
            self.keeper.handle_book_snapshots: partial(
                self.keeper.handle_book_snapshots, careful=True
            ),
        }

    def _connection(self, config: OkxConfig, rng: random.Random | None) -> WsConnection:
        return WsConnection(
            config.ws_public_url,
            self.handle_message,
            on_open=self._on_open,
            on_state=self._on_state,
            name=self.name,
            ping_interval=config.ping_interval,
            pong_timeout=config.pong_timeout,
            watchdog_timeout=config.watchdog_timeout,
            connect_timeout=config.connect_timeout,
            reconnect=config.reconnect,
            rng=rng,
        )

    def _book_keeper(self, config: OkxConfig) -> OkxBookKeeper:
        channel = self.book_channel
        return OkxBookKeeper(
            {symbol: channel for symbol in self.symbols} if channel else {},
            publish=self.bus.publish,
            counters=self.counters,
            report=self._report,
            resubscribe=self._resubscribe,
            fetch_book=self._fetch_book,
            verify_checksum=config.verify_checksum,
            venue=VENUE,
            guards=self.guards,
            skew_ns=self._skew_ns,
            price_band=config.validation.price_band,
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
        self.keeper.close()
        if self._own_rest and self._rest is not None:
            await self._rest.close()
            self._rest = None

    async def wait_ready(self, timeout: float) -> None:
        """Wait until connected and every book has a snapshot applied; ``TimeoutError`` else."""
        try:
            async with asyncio.timeout(timeout):
                await self._conn.wait_connected(timeout)
                await self.keeper.ready.wait()
        except TimeoutError:
            waiting = sorted(s for s, sync in self.keeper.syncs.items() if not len(sync.book))
            raise TimeoutError(
                f"{self.name} not ready after {timeout}s: state {self.state}, "
                f"books without data {waiting}"
            ) from None

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.tick()

    def tick(self) -> None:
        """The once-a-second chores: re-request stuck resyncs, re-centre every symbol's band on
        its last good price (runs by itself after ``start``; in-process users call it)."""
        self.keeper.check_stuck()
        self.keeper.refresh_limits()
        for symbol, guard in self.guards.items():
            if symbol not in self.books:
                guard.refresh()

    def _subscription_args(self) -> list[Arg]:
        wanted = [c for c in self.channels if c not in BOOK_CHANNELS or c == self.book_channel]
        return [Arg(channel, symbol) for symbol in self.symbols for channel in wanted]

    async def _on_open(self, conn: WsConnection) -> None:
        """(Re)connected: clear every book and subscribe everything again."""
        self._budget.reset()
        self.keeper.reset_all()
        for chunk in chunk_args(self.args):
            self._budget.take()
            await conn.send(encode_request("subscribe", chunk))

    def _on_state(self, state: ConnectionState, reason: str) -> None:
        if state is ConnectionState.CONNECTED and self._conn.connects > 1:
            self.counters.reconnects += 1
        if state is ConnectionState.DISCONNECTED:
            self.keeper.reset_all()  # a book is only as good as the stream that feeds it
        self.reporter.status(state, reason, self._conn.url)

    # --- resync plumbing --------------------------------------------------------------------

    def _resubscribe(self, channel: str, symbol: str) -> bool:
        """Unsubscribe and subscribe one arg again, if the hourly request budget allows."""
        if not self._budget.take(2):
            return False
        args = [Arg(channel, symbol)]
        self._send(encode_request("unsubscribe", args))
        self._send(encode_request("subscribe", args))
        return True

    async def _fetch_book(self, symbol: str) -> RestBook:
        if self._rest is None:
            self._rest = OkxRestClient(self.config.rest_url)
        return await self._rest.get_book(symbol, REST_BOOK_DEPTH)

    # --- the hot path -----------------------------------------------------------------------

    def handle_message(self, raw: bytes | str, recv_ns: int) -> None:
        """Decode, normalize and apply one frame received at ``recv_ns`` (ns since the epoch).

        Frames normally arrive as ``bytes``; ``str`` works too (it takes the slower path).
        """
        counters = self.counters
        new_second = recv_ns >= counters.next_mark_ns
        if new_second:
            counters.mark(recv_ns, fold=False)  # folded below, once the frame is published
        counters.messages += 1
        nbytes = len(raw)
        counters.bytes += nbytes
        counters.last_recv_ns = recv_ns
        handler = self._by_key.get(raw[:DISPATCH_KEY_LEN])  # type: ignore[call-overload]
        if handler is not None:
            if nbytes > CAREFUL_BYTES:  # unusually large: every book level gets parsed
                handler = self._careful.get(handler, handler)
            try:
                handler(raw, recv_ns)
            except ValueError as exc:  # msgspec.DecodeError is a ValueError
                self._decode_error(raw, exc, recv_ns)
        else:
            self._on_other(raw, recv_ns)
        if new_second:
            counters.fold_latency()

    def _on_trades(self, raw: bytes, recv_ns: int) -> None:
        """``trades`` -> ``Trade`` per new trade; replays after a reconnect are dropped.

        ``{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",
        "tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",
        "ts":"1630048897897","count":"3","source":"0","seqId":1234}]}``

        The decoder refuses impossible prices, sizes and times; here each trade is checked
        against the symbol's price band and the clock. Trades are facts of their own: a refused
        one is dropped (and its push counted as a decode error), the others of the push stand.
        The band is centred on the last good price by ``tick``.
        """
        push = self._trades_decode(raw)
        symbol = push.arg.instId
        route = self._routes.get(symbol)
        if route is None:
            self.counters.unknown_symbols += 1
            return
        topic, guard = route
        lo, hi = guard.lo, guard.hi
        early, late = self._latency_window
        seen = self._seen[symbol]
        publish = self.bus.publish
        counters = self.counters
        latency_append = counters.latency_append
        refused: BadData | None = None
        for d in push.data:
            px = d.px
            ts = d.ts * NS_PER_MS
            latency = recv_ns - ts
            if px <= lo or px >= hi:  # two plain comparisons: the decoder refused NaN already
                refused = guard.refuse(px, "trade price")
                continue
            if latency < early or latency > late:
                refused = bad_timestamp(ts, recv_ns, late)
                continue
            guard.last = px
            count = d.count
            if seen(d.tradeId, count):
                counters.duplicate_trades += 1
                continue
            latency_append(latency)
            publish(
                topic,
                Trade(
                    ts_exchange=ts,
                    ts_recv=recv_ns,
                    venue=VENUE,
                    symbol=symbol,
                    trade_id=d.tradeId,
                    price=px,
                    size=d.sz,
                    side=d.side,
                    count=count,
                ),
            )
        if refused is not None:
            raise refused

    def _on_tickers(self, raw: bytes, recv_ns: int) -> None:
        """``tickers`` -> ``Ticker``; an empty field ("") becomes NaN, a bad one refuses the push.

        ``{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT",
        "instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11",
        "bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88",
        "volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222","ts":"1597026383085"}]}``
        """
        push = self._tickers_decode(raw)
        symbol = push.arg.instId
        route = self._routes.get(symbol)
        if route is None:
            self.counters.unknown_symbols += 1
            return
        topic, guard = route
        skew = self._skew_ns
        tickers = []
        for d in push.data:
            ts = d.ts * NS_PER_MS
            if not -skew <= recv_ns - ts <= skew:
                raise bad_timestamp(ts, recv_ns, skew)
            tickers.append(
                Ticker(
                    ts_exchange=ts,
                    ts_recv=recv_ns,
                    venue=VENUE,
                    symbol=symbol,
                    last=check_ticker_number(d.last, guard, "ticker last"),
                    last_size=check_ticker_number(d.lastSz, None, "ticker lastSz"),
                    bid=check_ticker_number(d.bidPx, guard, "ticker bidPx"),
                    bid_size=check_ticker_number(d.bidSz, None, "ticker bidSz"),
                    ask=check_ticker_number(d.askPx, guard, "ticker askPx"),
                    ask_size=check_ticker_number(d.askSz, None, "ticker askSz"),
                    open_24h=check_ticker_number(d.open24h, None, "ticker open24h"),
                    high_24h=check_ticker_number(d.high24h, None, "ticker high24h"),
                    low_24h=check_ticker_number(d.low24h, None, "ticker low24h"),
                    volume_24h=check_ticker_number(d.vol24h, None, "ticker vol24h"),
                    volume_quote_24h=check_ticker_number(d.volCcy24h, None, "ticker volCcy24h"),
                )
            )
        for ticker in tickers:
            self.counters.on_latency(ticker.ts_exchange, recv_ns)
            self.bus.publish(topic, ticker)

    # --- everything else: pong, events, pushes in an unusual layout, garbage ----------------

    def _on_other(self, raw: bytes | str, recv_ns: int) -> None:
        if isinstance(raw, str):  # tests and replays may hand over text
            raw = raw.encode()
            channel = channel_of(raw)
            if channel is not None and self._dispatch(channel, raw, recv_ns):
                return
        if raw == b"pong":
            self.pongs += 1
            return
        try:
            envelope = self._envelope_decode(raw)
        except ValueError as exc:
            self._decode_error(raw, exc, recv_ns)
            return
        if envelope.event:
            self._on_event(envelope)
        elif envelope.arg is not None:
            if not self._dispatch(envelope.arg.channel, raw, recv_ns):
                self.counters.unknown_channels += 1
                log.debug(
                    "%s: push on unhandled channel %s", self.name, excerpt(envelope.arg.channel)
                )
        else:
            self._decode_error(raw, ValueError("neither a push nor an event"), recv_ns)

    def _dispatch(self, channel: str, raw: bytes, recv_ns: int) -> bool:
        """Run ``channel``'s handler; False when there is none."""
        handler = self._handlers.get(channel)
        if handler is None:
            return False
        if len(raw) > CAREFUL_BYTES:
            handler = self._careful.get(handler, handler)
        try:
            handler(raw, recv_ns)
        except ValueError as exc:
            self._decode_error(raw, exc, recv_ns)
        return True

    def _on_event(self, env: Envelope) -> None:
        """Acks, errors and notices (wire samples in ``okx_wire.Envelope``)."""
        event, code = env.event, str(env.code)
        if env.connId:
            self.conn_id = env.connId[:64]
        if event == "subscribe" and env.arg is not None:
            self.keeper.on_subscribed(env.arg.channel, env.arg.instId)
        elif event == "error":
            self.venue_errors += 1
            text = f"OKX error {excerpt(code, 20)}: {excerpt(env.msg)}"
            self._report("error", text, Severity.ERROR, "")
        elif event == "notice":
            text = f"OKX notice {excerpt(code, 20)}: {excerpt(env.msg)}"
            self._report("notice", text, Severity.WARNING, "")
            if code == NOTICE_UPGRADE:
                self._conn.request_reconnect(f"notice {code}: service upgrade")
        elif event not in ("unsubscribe", "login", "channel-conn-count"):
            log.info("%s: unhandled OKX event %s", self.name, excerpt(event, 40))

    def _decode_error(self, raw: bytes | str, exc: Exception, recv_ns: int) -> None:
        """Count a refused frame and report it (rate-limited) with an excerpt of the frame."""
        counters = self.counters
        counters.decode_errors += 1
        kind = refusal_kind(exc)
        if kind == "timestamp":
            counters.bad_timestamps += 1
        elif kind == "value":
            counters.bad_values += 1
        why = str(exc)
        if len(why) > 300:
            why = why[:300] + "…"
        what = "frame refused" if kind else "undecodable frame skipped"
        text = f"{what}: {why}; frame {excerpt(raw)}"
        self._report("decode_error", text, Severity.WARNING, "", recv_ns)
