"""``<symbol>@miniTicker``: the rolling 24 h figures on every Binance ``Ticker`` (no socket).

Without it Binance's tickers had NaN for open/high/low/volume and the UI showed "—" for its
24 h change while the other venues showed theirs.
"""

from __future__ import annotations

import json
import math

import pytest

from desk.core.bus import Bus
from desk.core.enums import ConnectionState
from desk.feeds.binance.config import MAX_STREAMS_PER_CONNECTION, BinanceConfig
from desk.feeds.binance.feed import BinanceFeed
from tests.feeds.binance.fakes import E_MS, RECV_NS, make_feed
from tests.feeds.binance.samples import BOOK_TICKER, MINI_TICKER, TRADE, combined

MINI = combined("bnbbtc@miniTicker", MINI_TICKER)


def mini(**fields: str | int) -> bytes:
    """The docs' mini ticker, combined, with some fields replaced."""
    data = {**json.loads(MINI_TICKER), **fields}
    return combined("bnbbtc@miniTicker", json.dumps(data, separators=(",", ":")).encode())


@pytest.mark.parametrize("frame", [MINI, MINI_TICKER], ids=["combined", "bare"])
def test_a_mini_ticker_publishes_a_ticker_with_the_24h_figures(frame: bytes) -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.handle_message(frame, RECV_NS)
    (ticker,) = seen.tickers
    assert (ticker.venue, ticker.symbol) == ("binance", "BNB-BTC")
    assert (ticker.open_24h, ticker.high_24h, ticker.low_24h) == (0.0010, 0.0025, 0.0010)
    assert (ticker.volume_24h, ticker.volume_quote_24h) == (10000.0, 18.0)
    assert ticker.ts_exchange == E_MS * 1_000_000, "the push's event time"
    assert ticker.last == 0.0025, "no trade seen yet: the venue's last price"
    assert math.isnan(ticker.bid) and math.isnan(ticker.ask), "no bookTicker yet"
    assert feed.counters.decode_errors == 0
    assert feed.counters.latency[-1] == 100_000_000


def test_a_mini_ticker_in_another_key_order_takes_the_slow_path() -> None:
    feed, seen = make_feed("BNB-BTC")
    frame = b'{"data":' + MINI_TICKER + b',"stream":"bnbbtc@miniTicker"}'
    feed.handle_message(frame, RECV_NS)
    assert [t.high_24h for t in seen.tickers] == [0.0025]


def test_book_tickers_carry_the_latest_24h_figures_and_mini_tickers_the_latest_top() -> None:
    feed, seen = make_feed("BNB-USDT")
    book_ticker = combined("bnbusdt@bookTicker", BOOK_TICKER)
    feed.handle_message(book_ticker, RECV_NS)
    assert math.isnan(seen.tickers[-1].open_24h), "before the first mini ticker: not known"

    day = MINI_TICKER.replace(b"BNBBTC", b"BNBUSDT")
    for old, new in ((b"0.0025", b"25.40"), (b"0.0010", b"25.00")):
        day = day.replace(old, new)
    feed.handle_message(combined("bnbusdt@miniTicker", day), RECV_NS)
    from_mini = seen.tickers[-1]
    assert (from_mini.bid, from_mini.bid_size, from_mini.ask, from_mini.ask_size) == (
        25.3519,
        31.21,
        25.3652,
        40.66,
    ), "the best bid/ask of the last bookTicker"
    assert (from_mini.open_24h, from_mini.high_24h, from_mini.low_24h) == (25.0, 25.4, 25.0)

    trade = TRADE.replace(b"BNBBTC", b"BNBUSDT").replace(b'"0.001"', b'"25.36"')
    feed.handle_message(combined("bnbusdt@trade", trade), RECV_NS)
    feed.handle_message(book_ticker.replace(b"400900217", b"400900218"), RECV_NS)
    from_book = seen.tickers[-1]
    assert from_book.ts_exchange == 0 and from_book.last == 25.36
    assert (from_book.open_24h, from_book.high_24h, from_book.low_24h) == (25.0, 25.4, 25.0)
    assert (from_book.volume_24h, from_book.volume_quote_24h) == (10000.0, 18.0)
    change = (from_book.last / from_book.open_24h - 1) * 100
    assert change == pytest.approx(1.44), "the 24 h change the views show"


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (mini(c="abc"), None),
        (mini(h="NaN"), None),
        (mini(v="-1"), None),
        (mini(h="0.0500", c="0.0500"), "value"),  # 20x the last trade: out of the band
        (mini(l="0.0030"), "value"),  # the low above the open and the last price
        (mini(E=E_MS - 3_600_000), "timestamp"),  # an hour before the local clock
        (MINI[:60], None),  # truncated
    ],
    ids=["not-a-number", "nan", "negative-volume", "out-of-band", "bad-range", "stale", "cut"],
)
def test_a_bad_mini_ticker_is_counted_and_dropped_and_the_feed_goes_on(
    frame: bytes, kind: str | None
) -> None:
    feed, seen = make_feed("BNB-BTC")
    trade = TRADE.replace(b'"0.001"', b'"0.0025"')
    feed.handle_message(combined("bnbbtc@trade", trade), RECV_NS)
    feed.keeper.refresh_guards()  # the band centred on the last trade, as once a second
    feed.handle_message(frame, RECV_NS)
    counters = feed.counters
    assert counters.decode_errors == 1 and not seen.tickers
    assert (counters.bad_values, counters.bad_timestamps) == (
        int(kind == "value"),
        int(kind == "timestamp"),
    )
    feed.handle_message(mini(E=E_MS + 1000), RECV_NS + 1_000_000_000)
    assert [t.high_24h for t in seen.tickers] == [0.0025], "the next good push is taken"


def test_the_same_push_twice_is_taken_once_and_again_after_a_reconnect() -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.handle_message(MINI, RECV_NS)
    feed.handle_message(MINI, RECV_NS + 1)  # the other connection's copy during a handover
    assert len(seen.tickers) == 1
    feed._on_state(feed.link, ConnectionState.DISCONNECTED, "test")
    feed.handle_message(MINI, RECV_NS + 2)
    assert len(seen.tickers) == 2


def test_the_tickers_subscribe_both_ticker_streams_and_count_them() -> None:
    feed = BinanceFeed(BinanceConfig(symbols=("BTC-USDT",)), Bus())
    assert feed.streams == [
        "btcusdt@depth@100ms",
        "btcusdt@trade",
        "btcusdt@bookTicker",
        "btcusdt@miniTicker",
    ]
    assert "miniTicker" in feed.url
    quiet = BinanceFeed(BinanceConfig(symbols=("BTC-USDT",), book_ticker=False), feed.bus)
    assert quiet.streams == ["btcusdt@depth@100ms", "btcusdt@trade"]

    per_symbol = MAX_STREAMS_PER_CONNECTION // 4
    symbols = tuple(f"C{i}-USDT" for i in range(per_symbol + 1))
    BinanceConfig(symbols=symbols[:per_symbol])
    with pytest.raises(ValueError, match="streams per connection"):
        BinanceConfig(symbols=symbols)
    BinanceConfig(symbols=symbols, book_ticker=False)
