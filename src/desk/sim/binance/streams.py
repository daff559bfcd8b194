"""Per-symbol Binance streams: diff depth (both speeds), partial books, trades, book ticker and
mini ticker (the rolling 24 h statistics, ``day_stats``).

One update-id counter per symbol numbers every book change (PROTOCOLS.md E): a diff-depth event
covers ``U..u``, the REST snapshot says ``lastUpdateId``, ``bookTicker`` says ``u``, all from
that counter. Changes are collected from the market into the current book as they happen and
into one pending diff per depth speed, so a REST snapshot taken between two pushes is newer
than the last push, as on Binance, and the next push straddles it.

The streams run whether anyone listens or not; a payload is only encoded when its stream has a
subscriber, and then exactly once for all of them.
"""

from __future__ import annotations

import logging
import random
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from typing import Any

from desk.core.enums import Side
from desk.sim.binance.conn import StreamConnection
from desk.sim.binance.day_stats import Window, mini_ticker, since_start
from desk.sim.binance.listings import Listing
from desk.sim.binance.wire import (
    AggTrade,
    BookTicker,
    DepthUpdate,
    Level,
    PartialDepth,
    Trade,
    encode,
    wrap,
)
from desk.sim.market import InstrumentMarket, TradeAggregate

log = logging.getLogger(__name__)

FAST = "100ms"
SLOW = "1000ms"
DEPTH_KINDS = {"depth@100ms": FAST, "depth": SLOW}
PARTIAL_LEVELS = (5, 10, 20)
PUBLISHED_TRADES_KEPT = 10_000


def partial_kinds() -> dict[str, tuple[int, str]]:
    """``depth5`` -> (5, slow), ``depth5@100ms`` -> (5, fast), ... for 5, 10 and 20 levels."""
    out: dict[str, tuple[int, str]] = {}
    for n in PARTIAL_LEVELS:
        out[f"depth{n}"] = (n, SLOW)
        out[f"depth{n}@100ms"] = (n, FAST)
    return out


PARTIAL_KINDS = partial_kinds()
MINI_TICKER = "miniTicker"
STREAM_KINDS = frozenset(
    {"trade", "aggTrade", "bookTicker", MINI_TICKER, *DEPTH_KINDS, *PARTIAL_KINDS}
)


class Hub:
    """Who listens to which stream; broadcasts one payload to every subscriber, wrapped for the
    combined ones."""

    def __init__(self) -> None:
        self.subs: dict[str, set[StreamConnection]] = {}
        self.pushes: dict[str, int] = {}

    def has(self, stream: str) -> bool:
        return bool(self.subs.get(stream))

    def add(self, stream: str, conn: StreamConnection) -> None:
        self.subs.setdefault(stream, set()).add(conn)
        conn.streams.add(stream)

    def discard(self, stream: str, conn: StreamConnection) -> None:
        conns = self.subs.get(stream)
        if conns is not None:
            conns.discard(conn)
        conn.streams.discard(stream)

    def broadcast(self, stream: str, payload: bytes) -> None:
        conns = self.subs.get(stream)
        if not conns:
            return
        kind = stream.split("@", 1)[1]
        self.pushes[kind] = self.pushes.get(kind, 0) + 1
        wrapped: bytes | None = None
        for conn in conns:
            if conn.combined:
                if wrapped is None:
                    wrapped = wrap(stream.encode(), payload)
                conn.send(wrapped)
            else:
                conn.send(payload)


class CurrentSide:
    """One side of the current book: price (ticks) -> (price, qty) wire strings."""

    __slots__ = ("levels", "prices", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []  # ascending

    def set(self, price: int, level: Level | None) -> None:
        if level is None:
            if self.levels.pop(price, None) is not None:
                del self.prices[bisect_left(self.prices, price)]
            return
        if price not in self.levels:
            insort(self.prices, price)
        self.levels[price] = level

    def top(self, n: int | None = None) -> list[Level]:
        """Best ``n`` levels (all when None), best first."""
        prices = self.prices[::-1] if self.side is Side.BUY else self.prices
        chosen = prices if n is None else prices[:n]
        return [self.levels[p] for p in chosen]


class SymbolStreams:
    """The public streams of one symbol, fed by its ``InstrumentMarket``."""

    def __init__(self, listing: Listing, market: InstrumentMarket, hub: Hub, seed: int) -> None:
        self.listing = listing
        self.native = listing.native
        self.name = listing.stream_symbol
        self.market = market
        self.hub = hub
        rng = random.Random(f"{seed}:binance:{self.native}")
        self.update_id = rng.randrange(10**9, 2 * 10**9)
        self.agg_id = rng.randrange(10**6, 10**7)
        self.bids = CurrentSide(Side.BUY)
        self.asks = CurrentSide(Side.SELL)
        self.pending: dict[str, dict[tuple[Side, int], Level]] = {FAST: {}, SLOW: {}}
        self.pushed_u = {FAST: self.update_id, SLOW: self.update_id}
        self.gap_pending: set[str] = set()
        self.latest: dict[str, bytes] = {}
        self.trades: deque[dict[str, Any]] = deque(maxlen=PUBLISHED_TRADES_KEPT)
        self._top: tuple[Level | None, Level | None] | None = None
        self._partial: dict[str, list[list[Level]]] = {}
        # every published trade also goes here (the simulator's bar history, for klines)
        self.on_trades: Callable[[str, list[TradeAggregate]], None] | None = None
        # the rolling 24 h window at a time (the simulator's bar history); None: since start
        self.day_window: Callable[[int], Window] | None = None
        self._load_book()

    def _load_book(self) -> None:
        engine = self.market.engine
        self.market.drain_changes()
        for side in Side:
            book = self.bids if side is Side.BUY else self.asks
            for price, lots, _ in engine.depth(side):
                book.set(price, (self.listing.price(price), self.listing.qty(lots)))

    def stream(self, kind: str) -> str:
        return f"{self.name}@{kind}"

    # ---- book changes ----------------------------------------------------------------------

    def collect(self) -> None:
        """Fold the market's changes into the current book, the pending diffs and the ids."""
        changes = self.market.drain_changes()
        if not changes:
            return
        self.update_id += len(changes)
        price_str, qty_str = self.listing.price, self.listing.qty
        fast, slow = self.pending[FAST], self.pending[SLOW]
        for key, (lots, _count) in changes.items():
            side, price = key
            level = (price_str(price), qty_str(lots))
            (self.bids if side is Side.BUY else self.asks).set(price, level if lots else None)
            fast[key] = slow[key] = level

    def publish_depth(self, speed: str, event_ms: int) -> None:
        """Push the diff of ``speed`` since its last push (nothing when nothing changed)."""
        pending = self.pending[speed]
        if not pending:
            return
        first, last = self.pushed_u[speed] + 1, self.update_id
        self.pushed_u[speed] = last
        self.pending[speed] = {}
        if speed in self.gap_pending:  # the gap fault: this event is lost on the way
            self.gap_pending.discard(speed)
            return
        stream = self.stream("depth@100ms" if speed == FAST else "depth")
        if not self.hub.has(stream):
            return
        bids = sorted((p, lv) for (s, p), lv in pending.items() if s is Side.BUY)
        asks = sorted((p, lv) for (s, p), lv in pending.items() if s is Side.SELL)
        event = DepthUpdate(
            "depthUpdate",
            event_ms,
            self.native,
            first,
            last,
            [lv for _, lv in reversed(bids)],
            [lv for _, lv in asks],
        )
        self._emit(stream, encode(event))

    def publish_partial(self, speed: str) -> None:
        """``<s>@depthN[@100ms]``: the top N levels when they changed."""
        for kind, (levels, kind_speed) in PARTIAL_KINDS.items():
            stream = self.stream(kind)
            if kind_speed != speed or not self.hub.has(stream):
                continue
            top = [self.bids.top(levels), self.asks.top(levels)]
            if top != self._partial.get(kind):
                self._partial[kind] = top
                self._emit(stream, encode(PartialDepth(self.update_id, top[0], top[1])))

    def rest_depth(self, limit: int) -> dict[str, Any]:
        """``{"lastUpdateId":N,"bids":[...],"asks":[...]}`` of the current book."""
        self.collect()
        return {
            "lastUpdateId": self.update_id,
            "bids": self.bids.top(limit),
            "asks": self.asks.top(limit),
        }

    # ---- trades and the book ticker ------------------------------------------------------

    def publish_fast(self, event_ms: int) -> None:
        """Trades as they happened, then ``bookTicker`` when the top of the book moved."""
        trades = self.market.drain_trades()
        if trades:
            self._publish_trades(trades, event_ms)
            if self.on_trades is not None:
                self.on_trades(self.listing.spec.inst_id, trades)
        self._publish_ticker()

    def _publish_trades(self, trades: list[TradeAggregate], event_ms: int) -> None:
        """One ``trade`` per fill and one ``aggTrade`` per taker order and price; ``m`` (the
        buyer was the maker) is true when the taker sold."""
        listing, native = self.listing, self.native
        trade_stream, agg_stream = self.stream("trade"), self.stream("aggTrade")
        want_trades, want_aggs = self.hub.has(trade_stream), self.hub.has(agg_stream)
        for agg in trades:
            price = listing.price(agg.price)
            sold = agg.side is Side.SELL
            fills = agg.fills or ((agg.trade_id, agg.size),)
            for trade_id, lots in fills:
                qty = listing.qty(lots)
                payload = encode(
                    Trade("trade", event_ms, native, trade_id, price, qty, agg.ts_ms, sold, True)
                )
                self.latest["trade"] = payload
                self.trades.append({"t": trade_id, "p": price, "q": qty, "m": sold})
                if want_trades:
                    self.hub.broadcast(trade_stream, payload)
            self.agg_id += 1
            payload = encode(
                AggTrade(
                    "aggTrade",
                    event_ms,
                    native,
                    self.agg_id,
                    price,
                    listing.qty(agg.size),
                    fills[0][0],
                    fills[-1][0],
                    agg.ts_ms,
                    sold,
                    True,
                )
            )
            self.latest["aggTrade"] = payload
            if want_aggs:
                self.hub.broadcast(agg_stream, payload)

    def _publish_ticker(self) -> None:
        top = (next(iter(self.bids.top(1)), None), next(iter(self.asks.top(1)), None))
        if top == self._top:
            return
        self._top = top
        self._emit(self.stream("bookTicker"), encode(self.ticker()))

    def publish_mini_ticker(self, event_ms: int) -> None:
        """``<s>@miniTicker``: the rolling 24 h statistics (``day_stats``), computed and encoded
        only when someone listens."""
        stream = self.stream(MINI_TICKER)
        if not self.hub.has(stream):
            return
        window = None
        if self.day_window is not None:
            try:
                window = self.day_window(event_ms)
            except Exception:  # a history that cannot be read must not stop the stream
                log.exception(
                    "binance simulator: no 24 h window for %s; stats since start", self.native
                )
                self.day_window = None
        if window is None:
            window = since_start(self.market.stats)
        self._emit(stream, encode(mini_ticker(self.listing, window, event_ms)))

    def ticker(self) -> BookTicker:
        """The top of the current book; an empty side reads ``0.00000000``."""
        zero = ("0.00000000", "0.00000000")
        bid = next(iter(self.bids.top(1)), zero)
        ask = next(iter(self.asks.top(1)), zero)
        return BookTicker(self.update_id, self.native, bid[0], bid[1], ask[0], ask[1])

    def _emit(self, stream: str, payload: bytes) -> None:
        self.latest[stream.split("@", 1)[1]] = payload
        self.hub.broadcast(stream, payload)

    # ---- introspection -------------------------------------------------------------------

    def book(self) -> tuple[list[Level], list[Level]]:
        """(bids, asks) of the current book, full depth, best first."""
        return self.bids.top(), self.asks.top()
