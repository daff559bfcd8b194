"""Per-instrument OKX public streams: ``books``, ``books5``, ``bbo-tbt``, ``trades``, ``tickers``.

The streams run whether anyone listens or not (sequence ids and the published book must stay
true for REST callers and late subscribers), but a push is only encoded when the stream has a
subscriber, and then exactly once for all of them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from desk.core.enums import Side
from desk.sim.market import InstrumentMarket, TradeAggregate
from desk.sim.okx.book import MAX_DEPTH, PublishedBook, SeqChain
from desk.sim.okx.conn import Connection
from desk.sim.okx.wire import (
    BboData,
    Books5Data,
    BooksData,
    Level,
    TickerData,
    TradeData,
    push,
    push_prefix,
)

StreamKey = tuple[str, str]  # (channel, instId)
TICKER_MIN_GAP = 0.1
PUBLISHED_TRADES_KEPT = 10_000


class Hub:
    """Who listens to what; broadcasts one encoded frame to every subscriber of a stream.

    ``corrupt_next`` (the value faults) rewrites the next frame of one stream on its way out.
    """

    def __init__(self) -> None:
        self.subs: dict[StreamKey, set[Connection]] = {}
        self.pushes: dict[str, int] = {}
        self.corruptions: dict[StreamKey, Callable[[bytes], bytes | None]] = {}

    def corrupt_next(self, key: StreamKey, corrupt: Callable[[bytes], bytes | None]) -> None:
        """Send the next frame of ``key`` that ``corrupt`` can rewrite (not None) rewritten."""
        self.corruptions[key] = corrupt

    def has(self, key: StreamKey) -> bool:
        return bool(self.subs.get(key))

    def add(self, key: StreamKey, conn: Connection) -> None:
        self.subs.setdefault(key, set()).add(conn)

    def discard(self, key: StreamKey, conn: Connection) -> None:
        conns = self.subs.get(key)
        if conns is not None:
            conns.discard(conn)

    def broadcast(self, key: StreamKey, data: bytes) -> None:
        conns = self.subs.get(key)
        if not conns:
            return
        if self.corruptions and key in self.corruptions:
            bad = self.corruptions[key](data)
            if bad is not None:
                del self.corruptions[key]
                data = bad
        self.pushes[key[0]] = self.pushes.get(key[0], 0) + 1
        for conn in conns:
            conn.send(data)


class InstrumentStreams:
    """The public channels of one instrument, fed by its ``InstrumentMarket``."""

    def __init__(
        self,
        market: InstrumentMarket,
        hub: Hub,
        seed: int,
        checksum: bool,
        on_trades: Callable[[str, list[TradeAggregate]], None] | None = None,
    ) -> None:
        self.market = market
        self.spec = spec = market.spec
        self.inst_id = spec.inst_id
        self.hub = hub
        self.checksum_enabled = checksum
        self.on_trades = on_trades
        self.book = PublishedBook(spec)
        rng = random.Random(f"{seed}:okx:{self.inst_id}")
        self.books_seq, self.books5_seq, self.bbo_seq = SeqChain(rng), SeqChain(rng), SeqChain(rng)
        self.trade_seq = rng.randrange(10**6, 10**7)
        self.books_ts = "0"
        self.prefix = {
            "snapshot": push_prefix("books", self.inst_id, "snapshot"),
            "update": push_prefix("books", self.inst_id, "update"),
            "books5": push_prefix("books5", self.inst_id),
            "bbo-tbt": push_prefix("bbo-tbt", self.inst_id),
            "trades": push_prefix("trades", self.inst_id),
            "tickers": push_prefix("tickers", self.inst_id),
        }
        self.latest: dict[str, bytes] = {}
        self.last_sent: dict[str, float] = {}
        self.gap_pending = False
        self.bad_checksum_pending = False
        self.trades: deque[TradeData] = deque(maxlen=PUBLISHED_TRADES_KEPT)
        self._snapshot: tuple[int, bytes] | None = None
        self._top5: tuple[list[Level], list[Level]] | None = None
        self._bbo: tuple[tuple[int, int, int] | None, tuple[int, int, int] | None] | None = None
        self._ticker_dirty = True
        self._load_book()

    def start(self, now: float, ts_ms: int) -> None:
        """Start the idle-heartbeat clocks at ``now`` (loop time) and stamp the first book."""
        self.books_ts = str(ts_ms)
        for channel in ("books", "books5", "bbo-tbt"):
            self.last_sent[channel] = now

    def _load_book(self) -> None:
        engine = self.market.engine
        self.market.drain_changes()
        levels = [((s, p), (z, n)) for s in Side for p, z, n in engine.depth(s)]
        self.book.apply(levels)

    # ---- books ---------------------------------------------------------------------------

    def publish_books(self, now: float, ts_ms: int, heartbeat: float) -> None:
        """Push the changes since the last push, or an idle heartbeat; then ``books5``."""
        changes = self.market.drain_changes()
        if changes:
            asks, bids = self.book.apply(changes.items())
            prev, seq = self.books_seq.advance(skip=self.gap_pending)
            self.gap_pending = False
            self.books_ts = str(ts_ms)
            self._send_books(now, asks, bids, prev, seq)
        elif now - self.last_sent.get("books", now) >= heartbeat:
            self.books_ts = str(ts_ms)
            last = self.books_seq.last
            self._send_books(now, [], [], last, last)
        self._publish_books5(now, heartbeat)

    def _send_books(
        self, now: float, asks: list[Level], bids: list[Level], prev: int, seq: int
    ) -> None:
        """``{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":
        [["60012.3","0.5","0","2"]],"bids":[["60012.2","0","0","0"]],"ts":"1597026383085",
        "checksum":-1881014294,"prevSeqId":123456,"seqId":123470}]}``."""
        self.last_sent["books"] = now
        key = ("books", self.inst_id)
        if not self.hub.has(key):
            return
        checksum = self.book.checksum() if self.checksum_enabled else 0
        if self.bad_checksum_pending and (asks or bids):
            checksum ^= 0x5A5A5A
            self.bad_checksum_pending = False
        data = push(
            self.prefix["update"], BooksData(asks, bids, self.books_ts, checksum, prev, seq)
        )
        self.hub.broadcast(key, data)

    def snapshot(self) -> bytes:
        """The ``books`` snapshot for a new subscriber, as of the last push (cached per seq).

        ``{"arg":{...},"action":"snapshot","data":[{"asks":[...],"bids":[...],"ts":"...",
        "checksum":0,"prevSeqId":-1,"seqId":123456}]}``
        """
        seq = self.books_seq.last
        if self._snapshot is None or self._snapshot[0] != seq:
            checksum = self.book.checksum() if self.checksum_enabled else 0
            asks, bids = self.book.asks.top(MAX_DEPTH), self.book.bids.top(MAX_DEPTH)
            entry = BooksData(asks, bids, self.books_ts, checksum, -1, seq)
            self._snapshot = (seq, push(self.prefix["snapshot"], entry))
        return self._snapshot[1]

    def rest_book(self, depth: int) -> dict[str, Any]:
        """``{"asks":[...],"bids":[...],"ts":"...","seqId":N}`` for ``GET /market/books``."""
        return {
            "asks": self.book.asks.top(depth),
            "bids": self.book.bids.top(depth),
            "ts": self.books_ts,
            "seqId": self.books_seq.last,
        }

    def _publish_books5(self, now: float, heartbeat: float) -> None:
        top5 = (self.book.asks.top(5), self.book.bids.top(5))
        if top5 != self._top5:
            self._top5 = top5
            self._send_books5(now)
        elif now - self.last_sent.get("books5", now) >= heartbeat:
            self._resend("books5", now)

    def _send_books5(self, now: float) -> None:
        """``{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[...5],"bids":
        [...5],"instId":"BTC-USDT","ts":"1597026383085","seqId":123456}]}``."""
        assert self._top5 is not None
        _, seq = self.books5_seq.advance()
        asks, bids = self._top5
        entry = Books5Data(asks, bids, self.inst_id, self.books_ts, seq)
        self._emit("books5", push(self.prefix["books5"], entry), now)

    # ---- fast channels -------------------------------------------------------------------

    def publish_fast(self, now: float, ts_ms: int, heartbeat: float) -> None:
        """Trades as they happened, ``bbo-tbt`` when the top moved, throttled ``tickers``."""
        trades = self.market.drain_trades()
        if trades:
            self._ticker_dirty = True
            self._publish_trades(trades, now)
            if self.on_trades is not None:
                self.on_trades(self.inst_id, trades)
        self._publish_bbo(now, ts_ms, heartbeat)
        if self._ticker_dirty and now - self.last_sent.get("tickers", -1.0) >= TICKER_MIN_GAP:
            self._ticker_dirty = False
            self._emit("tickers", self.ticker(ts_ms), now)

    def _publish_trades(self, trades: list[TradeAggregate], now: float) -> None:
        """One push per taker order and price: ``{"arg":{"channel":"trades","instId":"BTC-USDT"},
        "data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306",
        "side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}``."""
        key = ("trades", self.inst_id)
        listening = self.hub.has(key)
        spec = self.spec
        for t in trades:
            self.trade_seq += 1
            entry = TradeData(
                self.inst_id,
                str(t.trade_id),
                spec.price_str(t.price),
                spec.size_str(t.size),
                t.side.value,
                str(t.ts_ms),
                str(t.count),
                "0",
                self.trade_seq,
            )
            self.trades.append(entry)
            data = push(self.prefix["trades"], entry)
            self.latest["trades"] = data
            if listening:
                self.hub.broadcast(key, data)
        self.last_sent["trades"] = now

    def _publish_bbo(self, now: float, ts_ms: int, heartbeat: float) -> None:
        """``{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["60012.4",
        "0.3","0","2"]],"bids":[["60012.3","1.2","0","3"]],"ts":"...","seqId":N}]}``."""
        engine = self.market.engine
        bid, ask = engine.depth(Side.BUY, 1), engine.depth(Side.SELL, 1)
        top = (bid[0] if bid else None, ask[0] if ask else None)
        if top != self._bbo:
            self._bbo = top
            self._ticker_dirty = True
            _, seq = self.bbo_seq.advance()
            entry = BboData(self._levels(ask), self._levels(bid), str(ts_ms), seq)
            self._emit("bbo-tbt", push(self.prefix["bbo-tbt"], entry), now)
        elif now - self.last_sent.get("bbo-tbt", now) >= heartbeat:
            self._resend("bbo-tbt", now)

    def _levels(self, depth: list[tuple[int, int, int]]) -> list[Level]:
        spec = self.spec
        return [[spec.price_str(p), spec.size_str(z), "0", str(n)] for p, z, n in depth]

    def ticker(self, ts_ms: int) -> bytes:
        """``{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT",
        "instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11",
        "bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88",
        "volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222","ts":"..."}]}``."""
        return push(self.prefix["tickers"], self.ticker_data(ts_ms))

    def ticker_data(self, ts_ms: int) -> TickerData:
        spec, st, engine = self.spec, self.market.stats, self.market.engine
        bid, ask = engine.depth(Side.BUY, 1), engine.depth(Side.SELL, 1)
        px, sz = spec.price_str, spec.size_str
        opn = px(st.open)
        return TickerData(
            "SPOT",
            self.inst_id,
            px(st.last),
            sz(st.last_size),
            px(ask[0][0]) if ask else "",
            sz(ask[0][1]) if ask else "",
            px(bid[0][0]) if bid else "",
            sz(bid[0][1]) if bid else "",
            opn,
            px(st.high),
            px(st.low),
            spec.notional_str(st.quote_volume),
            sz(st.volume),
            opn,
            opn,
            str(ts_ms),
        )

    # ---- helpers -------------------------------------------------------------------------

    def _emit(self, channel: str, data: bytes, now: float) -> None:
        self.latest[channel] = data
        self.last_sent[channel] = now
        self.hub.broadcast((channel, self.inst_id), data)

    def _resend(self, channel: str, now: float) -> None:
        data = self.latest.get(channel)
        if data is not None:
            self._emit(channel, data, now)

    def initial_push(self, channel: str, ts_ms: int) -> bytes | None:
        """What a new subscriber gets first on a snapshot-style channel (None: nothing)."""
        if channel == "tickers":
            return self.ticker(ts_ms)
        return self.latest.get(channel) if channel in ("books5", "bbo-tbt") else None

    def published_trades(self) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(t) for t in self.trades]
