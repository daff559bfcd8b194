"""``/ws/market/{symbol}`` conflation: the book is the latest (sent when it changed), trades are
batched and none is lost between messages, nothing is sent when nothing changed."""

from __future__ import annotations

import math
import random

import msgspec
import pytest

from desk.bridge.views import BookView, LevelView
from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Side
from desk.core.events import BookChanged, Ticker, Trade
from desk.gateway.market import MarketStream
from desk.gateway.messages import AnyMessage, Market

pytestmark = pytest.mark.asyncio
SYMBOL = "BTC-USDT"


class FakeViews:
    """The one view the market stream reads: a book whose version the test moves."""

    symbols = (SYMBOL,)

    def __init__(self) -> None:
        self.version = 0
        self.mid = 60000.0

    def book(self, symbol: str, depth: int = 20, venue: str = "okx") -> BookView:
        return BookView(
            version=self.version,
            symbol=symbol,
            bids=[LevelView(self.mid - 0.5 - i, 1.0) for i in range(depth)],
            asks=[LevelView(self.mid + 0.5 + i, 1.0) for i in range(depth)],
            seq_id=self.version,
            ts_exchange=self.version,
            ts_recv=0,
            age_ms=0.0,
            stale=False,
        )


def _trade(n: int) -> Trade:
    return Trade(
        ts_exchange=n, ts_recv=n, venue="okx", symbol=SYMBOL, trade_id=str(n),
        price=60000.0 + n % 7, size=0.001 * (1 + n % 5), side=Side.BUY if n % 2 else Side.SELL,
    )  # fmt: skip


def _decode(frame: bytes | None) -> Market:
    assert frame is not None
    message = msgspec.json.decode(frame, type=AnyMessage)
    assert isinstance(message, Market)
    return message


async def test_every_trade_arrives_once_in_order_and_the_book_only_when_it_changed() -> None:
    bus, views = Bus(), FakeViews()
    stream = MarketStream(SYMBOL, 5, 10.0, bus, views)
    stream.open()
    try:
        rng = random.Random(16)
        received: list[str] = []
        books = 0
        n = 0
        for _ in range(200):  # 200 market periods with a random amount of traffic in each
            for _ in range(rng.randrange(0, 30)):
                bus.publish(topics.market_data(SYMBOL), _trade(n))
                n += 1
            if rng.random() < 0.5:
                views.version += 1
                bus.publish(
                    topics.market_data(SYMBOL),
                    BookChanged(ts_exchange=0, ts_recv=0, venue="okx", symbol=SYMBOL,
                                seq_id=views.version, snapshot=False, best_bid=1, best_ask=2),
                )  # fmt: skip
            frame = stream.flush()
            if frame is None:
                continue
            message = _decode(frame)
            received += [t.trade_id for t in message.trades]
            if message.book is not None:
                books += 1
                assert message.book.seq_id == views.version  # the latest book, never an old one
                assert len(message.book.bids) == len(message.book.asks) == 5
        assert received == [str(i) for i in range(n)]
        assert 0 < books <= 201
    finally:
        stream.shut()


async def test_nothing_changed_means_no_message_and_a_quiet_bus() -> None:
    bus, views = Bus(), FakeViews()
    stream = MarketStream(SYMBOL, 5, 10.0, bus, views)
    stream.open()
    first = _decode(stream.flush())  # the book as it is: new to this stream
    assert first.book is not None and first.trades == []
    assert stream.flush() is None
    ticker = Ticker(
        ts_exchange=1, ts_recv=1, venue="okx", symbol=SYMBOL, last=1.0, last_size=1.0, bid=1.0,
        bid_size=1.0, ask=2.0, ask_size=1.0, open_24h=1.0, high_24h=2.0, low_24h=math.nan,
        volume_24h=3.0, volume_quote_24h=3.0,
    )  # fmt: skip
    bus.publish(topics.market_data(SYMBOL), ticker)
    message = _decode(stream.flush())
    assert message.book is None and message.ticker is not None
    assert message.ticker.low_24h is None
    assert message.seq == first.seq + 1
    stream.shut()
    bus.publish(topics.market_data(SYMBOL), _trade(1))  # no longer subscribed: not kept
    stream.open()
    assert stream.flush() is None  # the trade published while shut was not kept
    stream.shut()


async def test_a_new_client_starts_from_the_current_book() -> None:
    bus, views = Bus(), FakeViews()
    views.version = 7
    stream = MarketStream(SYMBOL, 3, 10.0, bus, views)
    stream.open()
    (frame,) = list(stream.snapshot())
    snapshot = _decode(frame)
    assert snapshot.book is not None and snapshot.book.seq_id == 7
    assert snapshot.trades == []
    stream.shut()


async def test_a_stream_carries_its_own_venue_only() -> None:
    """Every venue publishes BTC-USDT on the same topic: the Binance stream keeps Binance's
    trades and ticker and reads Binance's book; the OKX stream never sees them."""
    bus = Bus()
    venues_read: list[str] = []

    class VenueViews(FakeViews):
        def book(self, symbol: str, depth: int = 20, venue: str = "okx") -> BookView:
            venues_read.append(venue)
            return super().book(symbol, depth, venue)

    okx = MarketStream(SYMBOL, 5, 10.0, bus, VenueViews())
    binance = MarketStream(SYMBOL, 5, 10.0, bus, VenueViews(), venue="binance")
    okx.open()
    binance.open()
    try:
        for n in range(6):
            trade = _trade(n)
            venue = "binance" if n % 3 == 0 else "okx"
            bus.publish(topics.market_data(SYMBOL), msgspec.structs.replace(trade, venue=venue))
        first_okx, first_binance = _decode(okx.flush()), _decode(binance.flush())
        assert (first_okx.venue, first_binance.venue) == ("okx", "binance")
        assert [t.trade_id for t in first_okx.trades] == ["1", "2", "4", "5"]
        assert [t.trade_id for t in first_binance.trades] == ["0", "3"]
        assert venues_read == ["okx", "binance"]
    finally:
        okx.shut()
        binance.shut()
