"""Per-product Coinbase channels: ``level2`` (on ``l2_data``), ``market_trades``, ``ticker``.

The streams run whether anyone listens or not (the published book must stay true for REST and
late subscribers), but a message is only encoded when its stream has a subscriber, and then once
for all of them (each connection adds its own ``sequence_num``).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from desk.core.enums import Side
from desk.sim.coinbase.book import PublishedBook, RawLevel
from desk.sim.coinbase.conn import CoinbaseConnection, StreamKey
from desk.sim.coinbase.wire import (
    EPOCH_TIME,
    L2Event,
    L2Update,
    Message,
    TickerEntry,
    TickerEvent,
    TradeEntry,
    TradesEvent,
    encode,
    message,
    rfc3339_ms,
)
from desk.sim.market import InstrumentMarket, TradeAggregate

SNAPSHOT_TRADES = 50
"""Recent trades a new ``market_trades`` subscriber gets first (newest first)."""
PUBLISHED_TRADES_KEPT = 10_000
MAKER_SIDE = {Side.BUY: "SELL", Side.SELL: "BUY"}  # the taker bought: a resting sell was hit


class Hub:
    """Who listens to what; sends one encoded message to every subscriber of a stream."""

    def __init__(self) -> None:
        self.subs: dict[StreamKey, set[CoinbaseConnection]] = {}
        self.messages: dict[str, int] = {}  # per channel, one per encode

    def has(self, key: StreamKey) -> bool:
        return bool(self.subs.get(key))

    def subscribers(self, key: StreamKey) -> set[CoinbaseConnection]:
        return self.subs.get(key, set())

    def add(self, key: StreamKey, conn: CoinbaseConnection) -> None:
        self.subs.setdefault(key, set()).add(conn)

    def discard(self, key: StreamKey, conn: CoinbaseConnection) -> None:
        conns = self.subs.get(key)
        if conns is not None:
            conns.discard(conn)

    def broadcast(self, key: StreamKey, msg: Message, channel: str) -> None:
        conns = self.subs.get(key)
        if not conns:
            return
        self.messages[channel] = self.messages.get(channel, 0) + 1
        for conn in conns:
            conn.send_message(msg)


class ProductStreams:
    """The public channels of one product, fed by its ``InstrumentMarket``."""

    def __init__(
        self, market: InstrumentMarket, hub: Hub, rng: random.Random, docs_shape: bool = False
    ) -> None:
        self.market = market
        self.spec = market.spec
        self.product_id = market.spec.inst_id
        self.hub = hub
        self.rng = rng
        # every published trade also goes here (the simulator's bar history, for candles)
        self.on_trades: Callable[[str, list[TradeAggregate]], None] | None = None
        self.docs_shape = docs_shape
        self.book = PublishedBook(self.spec)
        self.recent: deque[TradeEntry] = deque(maxlen=SNAPSHOT_TRADES)  # oldest first
        self.trades: deque[TradeEntry] = deque(maxlen=PUBLISHED_TRADES_KEPT)
        self.last_batch: list[TradeEntry] = []
        self.gap_pending = False
        self.book_ts = ""  # RFC 3339 time of the last level2 publish
        self._snapshot: tuple[int, bytes] | None = None
        self._book_version = 0
        self._load_book()

    def _load_book(self) -> None:
        engine = self.market.engine
        self.market.drain_changes()
        levels = [((s, p), (z, n)) for s in Side for p, z, n in engine.depth(s)]
        self.book.apply(levels)

    def _message(self, channel: str, timestamp: str, events: list[Any] | bytes) -> Message:
        return message(channel, timestamp, events, self.docs_shape)

    # ---- level2 --------------------------------------------------------------------------

    def publish_level2(self, timestamp: str) -> None:
        """One ``update`` with every level changed since the last publish (none: no message)."""
        changes = self.market.drain_changes()
        if not changes:
            return
        bids, asks = self.book.apply(changes.items())
        self._book_version += 1
        self.book_ts = timestamp
        key = ("level2", self.product_id)
        if not self.hub.has(key):
            return
        updates = _updates(bids, asks, timestamp)
        msg = self._message("l2_data", timestamp, [L2Event("update", self.product_id, updates)])
        if self.gap_pending:
            self.gap_pending = False
            for conn in self.hub.subscribers(key):
                conn.skip(self.rng.randint(1, 3))
        self.hub.broadcast(key, msg, "l2_data")

    def snapshot(self, timestamp: str) -> Message:
        """The whole book as of the last publish, for a new subscriber (events cached per
        version of the book; the envelope is stamped now)."""
        cached = self._snapshot
        if cached is None or cached[0] != self._book_version:
            bids, asks = self.book.raw()
            event = L2Event("snapshot", self.product_id, _updates(bids, asks, EPOCH_TIME))
            cached = self._snapshot = (self._book_version, encode([event]))
        return self._message("l2_data", timestamp, cached[1])

    def rest_book(self, limit: int | None) -> dict[str, Any]:
        """``{"pricebook":{"product_id":...,"bids":[{"price","size"}],"asks":[...],"time":...},
        "last":...,"mid_market":...,"spread_bps":...,"spread_absolute":...}``."""
        bids, asks = self.book.bids.top(limit), self.book.asks.top(limit)
        spec, stats = self.spec, self.market.stats
        reply: dict[str, Any] = {
            "pricebook": {
                "product_id": self.product_id,
                "bids": [{"price": p, "size": s} for p, s in bids],
                "asks": [{"price": p, "size": s} for p, s in asks],
                "time": self.book_ts,
            },
            "last": spec.price_str(stats.last),
        }
        if self.book.bids.prices and self.book.asks.prices:
            bid, ask = self.book.bids.prices[-1], self.book.asks.prices[0]
            reply["mid_market"] = f"{spec.tick.to_float(bid + ask) / 2:.10g}"
            reply["spread_absolute"] = spec.price_str(ask - bid)
            reply["spread_bps"] = f"{(ask - bid) / ((ask + bid) / 2) * 1e4:.4f}"
        return reply

    # ---- trades and ticker ---------------------------------------------------------------

    def publish_trades(self, timestamp: str) -> bool:
        """One ``market_trades`` update with every fill since the last publish, then a ticker;
        False when nothing traded."""
        fills = self.market.drain_trades()
        if not fills:
            return False
        if self.on_trades is not None:
            self.on_trades(self.product_id, fills)
        batch = [entry for agg in fills for entry in self._entries(agg)]
        self.recent.extend(batch)
        self.trades.extend(batch)
        self.last_batch = batch
        self.send_trades(batch, timestamp)
        key = ("ticker", self.product_id)
        if self.hub.has(key):
            self.hub.broadcast(key, self.ticker(timestamp, "update"), "ticker")
        return True

    def send_trades(self, batch: list[TradeEntry], timestamp: str) -> None:
        key = ("market_trades", self.product_id)
        if self.hub.has(key):
            msg = self._message("market_trades", timestamp, [TradesEvent("update", batch)])
            self.hub.broadcast(key, msg, "market_trades")

    def _entries(self, agg: TradeAggregate) -> list[TradeEntry]:
        """One entry per fill (Coinbase reports every match), with the maker's side."""
        spec, side = self.spec, MAKER_SIDE[agg.side]
        price, when = spec.price_str(agg.price), rfc3339_ms(agg.ts_ms)
        fills = agg.fills or ((agg.trade_id, agg.size),)
        return [
            TradeEntry(str(tid), self.product_id, price, spec.size_str(lots), side, when)
            for tid, lots in fills
        ]

    def trades_snapshot(self, timestamp: str) -> Message:
        """The recent trades, newest first, for a new ``market_trades`` subscriber."""
        event = TradesEvent("snapshot", list(reversed(self.recent)))
        return self._message("market_trades", timestamp, [event])

    def ticker(self, timestamp: str, kind: str) -> Message:
        return self._message("ticker", timestamp, [TickerEvent(kind, [self.ticker_entry()])])

    def ticker_entry(self) -> TickerEntry:
        spec, st, engine = self.spec, self.market.stats, self.market.engine
        bid, ask = engine.depth(Side.BUY, 1), engine.depth(Side.SELL, 1)
        px, sz = spec.price_str, spec.size_str
        change = (st.last - st.open) / st.open * 100 if st.open else 0.0
        return TickerEntry(
            "ticker",
            self.product_id,
            px(st.last),
            sz(st.volume),
            px(st.low),
            px(st.high),
            px(st.low),
            px(st.high),
            f"{change:.14g}",
            px(bid[0][0]) if bid else "",
            sz(bid[0][1]) if bid else "",
            px(ask[0][0]) if ask else "",
            sz(ask[0][1]) if ask else "",
        )

    def published_trades(self) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(t) for t in self.trades]


def _updates(bids: list[RawLevel], asks: list[RawLevel], event_time: str) -> list[L2Update]:
    return [L2Update("bid", event_time, p, s) for p, s in bids] + [
        L2Update("offer", event_time, p, s) for p, s in asks
    ]
