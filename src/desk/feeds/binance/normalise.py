"""Binance ``trade``, ``aggTrade`` and ``bookTicker`` events -> desk's ``Trade`` and ``Ticker``.

``{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
"T":1672515782136,"m":true,"M":true}`` -> ``Trade`` (``m`` true: the buyer was the maker, so the
taker sold); ``aggTrade`` the same with ``count`` fills; ``bookTicker`` -> ``Ticker`` with the
last trade seen on this feed and NaN for the 24 h figures the stream does not carry.

The per-symbol state lives in the book keeper's ``BookSync`` (price band, last trade id, size and
``bookTicker`` id). The feed's router calls a symbol's frame handlers (``frame_handlers``), bound
to that state: one typed decode of the whole frame, then the checks and the event. A bare
payload finds its symbol's state by its ``s``. Refusals raise ``BadData`` (a ``ValueError``),
which the feed counts as a decode error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from desk.core.enums import Side
from desk.core.events import Ticker, Trade
from desk.feeds.binance.books import BookSync
from desk.feeds.binance.wire import (
    AggTradeData,
    AggTradeEvent,
    AggTradeFrame,
    BookTickerData,
    BookTickerEvent,
    BookTickerFrame,
    TradeData,
    TradeEvent,
    TradeFrame,
    decoder,
)
from desk.feeds.counters import FeedCounters
from desk.feeds.validation import bad_timestamp

VENUE = "binance"
NS_PER_MS = 1_000_000
NAN = math.nan
RENUMBERED = 1_000_000
"""A trade id this far below the highest seen is a fresh numbering, not a replay."""
BUY, SELL = Side.BUY, Side.SELL

Publish = Callable[[str, Any], None]
Handler = Callable[[bytes, int], None]


class TradeTickerNormaliser:
    """Turns the trade and ticker events of the followed symbols into events on the bus."""

    def __init__(
        self,
        syncs: Mapping[str, BookSync],
        *,
        publish: Publish,
        counters: FeedCounters,
        skew_ns: int,
        venue: str = VENUE,
    ) -> None:
        """``syncs``: the book keeper's per-symbol state, by native symbol (``BTCUSDT``)."""
        self.venue = venue
        self._syncs = syncs
        self._publish = publish
        self._counters = counters
        self._latency_append = counters.latency_append
        self._skew_ns = skew_ns
        self._early = -skew_ns
        self._trade_frame = decoder(TradeFrame).decode
        self._agg_frame = decoder(AggTradeFrame).decode
        self._ticker_frame = decoder(BookTickerFrame).decode
        self._trade_payload = decoder(TradeEvent).decode
        self._agg_payload = decoder(AggTradeEvent).decode
        self._ticker_payload = decoder(BookTickerEvent).decode

    # --- what the feed routes here: one symbol's frames (the hot path), bare payloads --------

    def frame_handlers(self, native: str) -> dict[str, Handler]:
        """The handlers of ``native``'s ``trade``, ``aggTrade`` and ``bookTicker`` frames, by
        stream kind. The stream names the symbol, so its state is bound here instead of looked
        up by the payload's ``s`` (which is not even decoded)."""
        sync = self._syncs[native]
        trade, ticker = self.trade, self.ticker
        trade_frame, agg_frame = self._trade_frame, self._agg_frame
        ticker_frame = self._ticker_frame

        def on_trade(raw: bytes, recv_ns: int) -> None:
            trade(sync, trade_frame(raw).data, recv_ns, 1)

        def on_agg(raw: bytes, recv_ns: int) -> None:
            ev = agg_frame(raw).data
            trade(sync, ev, recv_ns, ev.l - ev.f + 1)

        def on_ticker(raw: bytes, recv_ns: int) -> None:
            ticker(sync, ticker_frame(raw).data, recv_ns)

        return {"trade": on_trade, "aggTrade": on_agg, "bookTicker": on_ticker}

    def trade_payload(self, raw: bytes, recv_ns: int) -> None:
        ev = self._trade_payload(raw)
        sync = self._sync_of(ev.s)
        if sync is not None:
            self.trade(sync, ev, recv_ns, 1)

    def agg_payload(self, raw: bytes, recv_ns: int) -> None:
        ev = self._agg_payload(raw)
        sync = self._sync_of(ev.s)
        if sync is not None:
            self.trade(sync, ev, recv_ns, ev.l - ev.f + 1)

    def ticker_payload(self, raw: bytes, recv_ns: int) -> None:
        ev = self._ticker_payload(raw)
        sync = self._sync_of(ev.s)
        if sync is not None:
            self.ticker(sync, ev, recv_ns)

    def _sync_of(self, native: str) -> BookSync | None:
        sync = self._syncs.get(native)
        if sync is None:
            self._counters.unknown_symbols += 1
        return sync

    # --- events ---------------------------------------------------------------------------

    def trade(self, sync: BookSync, ev: TradeData | AggTradeData, recv_ns: int, count: int) -> None:
        """``trade`` (one fill, id ``t``) or ``aggTrade`` (``count`` fills at one price, id
        ``a``, decoded as ``t``) of ``sync``'s symbol -> ``Trade``; a replay of a trade already
        seen is dropped.

        Binance numbers a symbol's trades (and aggregates) in increasing order on every
        connection, so "seen" is "at or below the highest id published": the dedupe of
        PROTOCOLS.md D.6 as one integer per symbol, shared by both connections of a handover
        (an LRU lookup cost a quarter of this path). An id more than ``RENUMBERED`` below it
        means the venue (a restarted simulator) numbers afresh: it is taken, and counts again.
        """
        price = ev.p
        guard = sync.guard
        if not guard.lo < price < guard.hi:
            raise guard.refuse(price, "trade price")
        ts = ev.T * NS_PER_MS
        lag = recv_ns - ts
        if not self._early <= lag <= self._skew_ns:
            raise bad_timestamp(ts, recv_ns, self._skew_ns)
        trade_id = ev.t
        last_id = sync.last_trade_id
        if trade_id <= last_id and last_id - trade_id < RENUMBERED:
            self._counters.duplicate_trades += 1
            return
        sync.last_trade_id = trade_id
        guard.last = price
        size = sync.last_size = ev.q
        self._latency_append(lag)
        self._publish(
            sync.topic,
            Trade(
                ts_exchange=ts,
                ts_recv=recv_ns,
                venue=self.venue,
                symbol=sync.symbol,
                trade_id=str(trade_id),
                price=price,
                size=size,
                side=SELL if ev.m else BUY,
                count=count,
            ),
        )

    def ticker(self, sync: BookSync, ev: BookTickerData, recv_ns: int) -> None:
        """``bookTicker`` of ``sync``'s symbol -> ``Ticker``; an older ``u`` than the last one
        seen is dropped (the same update seen on the other connection of a handover)."""
        if ev.u <= sync.ticker_u:
            return
        guard = sync.guard
        bid = ev.b
        ask = ev.a
        if bid and not guard.lo < bid < guard.hi:
            raise guard.refuse(bid, "book ticker price")
        if ask and not guard.lo < ask < guard.hi:
            raise guard.refuse(ask, "book ticker price")
        sync.ticker_u = ev.u
        self._publish(
            sync.topic,
            Ticker(
                ts_exchange=0,
                ts_recv=recv_ns,
                venue=self.venue,
                symbol=sync.symbol,
                last=guard.last,
                last_size=sync.last_size,
                bid=bid or NAN,
                bid_size=ev.B,
                ask=ask or NAN,
                ask_size=ev.A,
                open_24h=NAN,
                high_24h=NAN,
                low_24h=NAN,
                volume_24h=NAN,
                volume_quote_24h=NAN,
            ),
        )
