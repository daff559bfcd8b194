"""``/ws/market/{symbol}?venue=V``: one venue's book top-N, trades and ticker of one symbol,
at most ``market_hz`` a second (``venue`` defaults to the primary venue, OKX).

While the stream has clients it subscribes to ``market_data:{symbol}`` on the bus with a
handler that only appends the venue's Trade (or keeps its latest Ticker): the engine's hot
path pays a type check, a venue check and an append, never an encode or a socket write. Every
venue publishes a symbol's market on the same topic, so the venue is what keeps one venue's
trades out of another's stream. Every ``1/market_hz`` seconds
one message is built with the book read from the views (latest wins), every trade since the
previous message (none is lost between messages) and the ticker if it changed; it is encoded
once and offered to every client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from desk.bridge.venue_views import PRIMARY_VENUE
from desk.bridge.views import BookView
from desk.core import topics
from desk.core.bus import Bus
from desk.core.events import Ticker, Trade
from desk.gateway.clients import PollingStream
from desk.gateway.messages import (
    BookTop,
    Level,
    Market,
    MarketTicker,
    MarketTrade,
    encode,
    finite,
)
from desk.gateway.source import DeskViews


class MarketStream(PollingStream):
    """One venue's market of one symbol at one book depth, ``hz`` messages a second."""

    route = "/ws/market/{symbol}"

    def __init__(
        self,
        symbol: str,
        depth: int,
        hz: float,
        bus: Bus,
        views: DeskViews,
        venue: str = PRIMARY_VENUE,
    ) -> None:
        super().__init__(1.0 / hz)
        self.symbol = symbol
        self.venue = venue
        self.depth = depth
        self.seq = 0
        self._bus = bus
        self._views = views
        self._trades: list[Trade] = []
        self._ticker: Ticker | None = None
        self._ticker_sent: Ticker | None = None
        self._book_key: tuple[int, bool] | None = None
        self._unsubscribe: Any = None

    # -- the bus side (hot path: keep it an append) ---------------------------------------

    def _on_event(self, event: Any) -> None:
        kind = type(event)
        if kind is Trade:
            if event.venue == self.venue:
                self._trades.append(event)
        elif kind is Ticker and event.venue == self.venue:
            self._ticker = event

    def open(self) -> None:
        self._trades = []
        self._unsubscribe = self._bus.subscribe(topics.market_data(self.symbol), self._on_event)
        super().open()

    def shut(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        super().shut()
        self._trades = []

    # -- the client side ------------------------------------------------------------------

    def poll(self) -> Iterable[bytes]:
        frame = self.flush()
        return () if frame is None else (frame,)

    def flush(self) -> bytes | None:
        """The message of everything since the previous one (None when nothing changed)."""
        trades, self._trades = self._trades, []
        book = self._views.book(self.symbol, self.depth, self.venue)
        key = (book.version, book.stale)
        top = _book_top(book) if key != self._book_key else None
        self._book_key = key
        ticker = self._ticker if self._ticker is not self._ticker_sent else None
        self._ticker_sent = self._ticker
        if top is None and not trades and ticker is None:
            return None
        self.seq += 1
        return encode(
            Market(
                ts=time.time_ns(),
                symbol=self.symbol,
                venue=self.venue,
                seq=self.seq,
                book=top,
                trades=[_trade(t) for t in trades],
                ticker=None if ticker is None else _ticker(ticker),
            )
        )

    def snapshot(self) -> Iterable[bytes]:
        """A new client's first market message: the book and ticker as they are now."""
        book = self._views.book(self.symbol, self.depth, self.venue)
        ticker = self._ticker
        return (
            encode(
                Market(
                    ts=time.time_ns(),
                    symbol=self.symbol,
                    venue=self.venue,
                    seq=self.seq,
                    book=_book_top(book),
                    ticker=None if ticker is None else _ticker(ticker),
                )
            ),
        )


def _book_top(book: BookView) -> BookTop:
    return BookTop(
        bids=[Level(level.price, level.size) for level in book.bids],
        asks=[Level(level.price, level.size) for level in book.asks],
        seq_id=book.seq_id,
        ts_exchange=book.ts_exchange,
        stale=book.stale,
    )


def _trade(trade: Trade) -> MarketTrade:
    return MarketTrade(
        trade_id=trade.trade_id,
        ts_exchange=trade.ts_exchange,
        ts_recv=trade.ts_recv,
        price=trade.price,
        size=trade.size,
        side=str(trade.side),
        count=trade.count,
    )


def _ticker(ticker: Ticker) -> MarketTicker:
    return MarketTicker(
        ts_exchange=ticker.ts_exchange,
        last=finite(ticker.last),
        bid=finite(ticker.bid),
        ask=finite(ticker.ask),
        open_24h=finite(ticker.open_24h),
        high_24h=finite(ticker.high_24h),
        low_24h=finite(ticker.low_24h),
        volume_24h=finite(ticker.volume_24h),
    )
