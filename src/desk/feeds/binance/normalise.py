"""Binance ``trade``, ``aggTrade``, ``bookTicker`` and ``miniTicker`` events -> desk's ``Trade``
and ``Ticker``.

``{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
"T":1672515782136,"m":true,"M":true}`` -> ``Trade`` (``m`` true: the buyer was the maker, so the
taker sold); ``aggTrade`` the same with ``count`` fills; ``bookTicker`` -> ``Ticker`` with the
last trade seen on this feed and the latest 24 h figures of ``miniTicker`` (NaN before the
first). ``miniTicker`` (``{"e":"24hrMiniTicker","E":...,"c":...,"o":...,"h":...,"l":...,
"v":...,"q":...}``, every second) updates those figures and publishes a ``Ticker`` of its own
with the latest best bid/ask of ``bookTicker`` and the last trade price (NaN where none came
yet; the ticker's last price ``c`` until a trade comes), so the figures show within a second.

The per-symbol state lives in the book keeper's ``BookSync`` (price band, last trade id, size and
``bookTicker`` id) and in this module's ``DayStats`` (the 24 h figures, the last ``Ticker``). The
feed's router calls a symbol's frame handlers (``frame_handlers``), bound to that state: one
typed decode of the whole frame, then the checks and the event. A bare payload finds its
symbol's state by its ``s``. Refusals raise ``BadData`` (a ``ValueError``), which the feed counts
as a decode error.
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
    MiniTickerData,
    MiniTickerEvent,
    MiniTickerFrame,
    TradeData,
    TradeEvent,
    TradeFrame,
    decoder,
)
from desk.feeds.counters import FeedCounters
from desk.feeds.validation import BadData, bad_timestamp

VENUE = "binance"
NS_PER_MS = 1_000_000
NAN = math.nan
RENUMBERED = 1_000_000
"""A trade id this far below the highest seen is a fresh numbering, not a replay."""
BUY, SELL = Side.BUY, Side.SELL

Publish = Callable[[str, Any], None]
Handler = Callable[[bytes, int], None]


class DayStats:
    """One symbol's latest rolling 24 h figures (``miniTicker``), every ``Ticker`` carries them,
    and the last ``Ticker`` published (a ``miniTicker`` one takes its best bid/ask)."""

    __slots__ = ("event_ms", "high", "low", "open", "quote_volume", "ticker", "volume")

    def __init__(self) -> None:
        self.open = self.high = self.low = NAN
        self.volume = self.quote_volume = NAN
        self.event_ms = -1  # of the last miniTicker taken (this connection)
        self.ticker: Ticker | None = None

    def forget_connection(self) -> None:
        """The connection was lost: its best bid/ask are stale and its pushes numbered anew
        (the 24 h figures stay until the next push replaces them)."""
        self.event_ms = -1
        self.ticker = None


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
        self._mini_frame = decoder(MiniTickerFrame).decode
        self._mini_payload = decoder(MiniTickerEvent).decode
        self._days: dict[str, DayStats] = {}

    # --- what the feed routes here: one symbol's frames (the hot path), bare payloads --------

    def frame_handlers(self, native: str) -> dict[str, Handler]:
        """The handlers of ``native``'s ``trade``, ``aggTrade``, ``bookTicker`` and
        ``miniTicker`` frames, by stream kind. The stream names the symbol, so its state is
        bound here instead of looked up by the payload's ``s`` (which is not even decoded)."""
        sync = self._syncs[native]
        day = self.day_stats(native)
        trade, ticker, mini = self.trade, self.ticker, self.mini_ticker
        trade_frame, agg_frame = self._trade_frame, self._agg_frame
        ticker_frame, mini_frame = self._ticker_frame, self._mini_frame

        def on_trade(raw: bytes, recv_ns: int) -> None:
            trade(sync, trade_frame(raw).data, recv_ns, 1)

        def on_agg(raw: bytes, recv_ns: int) -> None:
            ev = agg_frame(raw).data
            trade(sync, ev, recv_ns, ev.l - ev.f + 1)

        def on_ticker(raw: bytes, recv_ns: int) -> None:
            ticker(sync, day, ticker_frame(raw).data, recv_ns)

        def on_mini(raw: bytes, recv_ns: int) -> None:
            mini(sync, day, mini_frame(raw).data, recv_ns)

        return {
            "trade": on_trade,
            "aggTrade": on_agg,
            "bookTicker": on_ticker,
            "miniTicker": on_mini,
        }

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
            self.ticker(sync, self.day_stats(ev.s), ev, recv_ns)

    def mini_payload(self, raw: bytes, recv_ns: int) -> None:
        ev = self._mini_payload(raw)
        sync = self._sync_of(ev.s)
        if sync is not None:
            self.mini_ticker(sync, self.day_stats(ev.s), ev, recv_ns)

    def day_stats(self, native: str) -> DayStats:
        """The 24 h figures of ``native`` (``BTCUSDT``) as last received."""
        day = self._days.get(native)
        if day is None:
            day = self._days[native] = DayStats()
        return day

    def forget_connection(self) -> None:
        """The connection was lost (``DayStats.forget_connection`` for every symbol)."""
        for day in self._days.values():
            day.forget_connection()

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

    def ticker(self, sync: BookSync, day: DayStats, ev: BookTickerData, recv_ns: int) -> None:
        """``bookTicker`` of ``sync``'s symbol -> ``Ticker`` with ``day``'s 24 h figures; an
        older ``u`` than the last one seen is dropped (the same update seen on the other
        connection of a handover)."""
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
        ticker = day.ticker = Ticker(
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
            open_24h=day.open,
            high_24h=day.high,
            low_24h=day.low,
            volume_24h=day.volume,
            volume_quote_24h=day.quote_volume,
        )
        self._publish(sync.topic, ticker)

    def mini_ticker(self, sync: BookSync, day: DayStats, ev: MiniTickerData, recv_ns: int) -> None:
        """``miniTicker`` of ``sync``'s symbol -> its 24 h figures in ``day`` and a ``Ticker``.

        Refused (``BadData``): an exchange time off the clock, a price outside the symbol's
        band, a range that does not hold the open and the last price. A push at or before the
        last one taken is dropped (the other connection's copy, during a handover)."""
        event_ms = ev.E
        if event_ms <= day.event_ms:
            return
        ts = event_ms * NS_PER_MS
        lag = recv_ns - ts
        if not self._early <= lag <= self._skew_ns:
            raise bad_timestamp(ts, recv_ns, self._skew_ns)
        guard = sync.guard
        close, open_, high, low = ev.c, ev.o, ev.h, ev.l
        for price in (close, open_, high, low):
            if price and not guard.lo < price < guard.hi:
                raise guard.refuse(price, "mini ticker price")
        if open_ and high and low and close and not (low <= open_ <= high and low <= close <= high):
            raise BadData(f"mini ticker range {low!r}..{high!r} does not hold {open_!r}, {close!r}")
        day.event_ms = event_ms
        day.open, day.high, day.low = open_ or NAN, high or NAN, low or NAN
        day.volume, day.quote_volume = ev.v, ev.q
        self._latency_append(lag)
        last = guard.last
        if last != last:  # no trade seen yet: the venue's last price
            last = close or NAN
        top = day.ticker
        ticker = day.ticker = Ticker(
            ts_exchange=ts,
            ts_recv=recv_ns,
            venue=self.venue,
            symbol=sync.symbol,
            last=last,
            last_size=sync.last_size,
            bid=NAN if top is None else top.bid,
            bid_size=NAN if top is None else top.bid_size,
            ask=NAN if top is None else top.ask,
            ask_size=NAN if top is None else top.ask_size,
            open_24h=day.open,
            high_24h=day.high,
            low_24h=day.low,
            volume_24h=ev.v,
            volume_quote_24h=ev.q,
        )
        self._publish(sync.topic, ticker)
