"""The Binance feed on the docs' own payloads (PROTOCOLS.md B.2), without a socket."""

from __future__ import annotations

import math

import msgspec
import pytest

from desk.core.enums import Side
from desk.feeds.binance.rest import RestDepth
from desk.feeds.binance.wire import stream_of
from tests.feeds.binance.fakes import E_MS, RECV_NS, depth, make_feed
from tests.feeds.binance.samples import (
    AGG_TRADE,
    BOOK_TICKER,
    DEPTH_UPDATE,
    ERROR_INVALID_REQUEST,
    LIST_REPLY,
    SERVER_SHUTDOWN,
    SUBSCRIBE_REPLY,
    TRADE,
    combined,
)


@pytest.mark.parametrize("frame", [TRADE, combined("bnbbtc@trade", TRADE)])
def test_a_trade_becomes_a_normalised_trade_with_the_taker_side(frame: bytes) -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.handle_message(frame, RECV_NS)
    (trade,) = seen.trades
    assert (trade.venue, trade.symbol, trade.trade_id) == ("binance", "BNB-BTC", "12345")
    assert (trade.price, trade.size, trade.count) == (0.001, 100.0, 1)
    assert trade.side is Side.SELL, "m=true: the buyer was the maker, so the taker sold"
    assert trade.ts_exchange == E_MS * 1_000_000 and trade.ts_recv == RECV_NS
    assert feed.counters.latency[-1] == 100_000_000


def test_the_fast_path_reads_the_stream_name_from_the_first_bytes() -> None:
    assert stream_of(combined("bnbbtc@trade", TRADE)) == b"bnbbtc@trade"
    assert stream_of(TRADE) is None


@pytest.mark.parametrize("frame", [AGG_TRADE, combined("bnbbtc@aggTrade", AGG_TRADE)])
def test_an_aggregate_trade_counts_its_fills(frame: bytes) -> None:
    feed, seen = make_feed("BNB-BTC", trade_stream="aggTrade")
    feed.handle_message(frame, RECV_NS)
    (trade,) = seen.trades
    assert (trade.trade_id, trade.count, trade.side) == ("12345", 6, Side.SELL)


def test_a_trade_seen_twice_is_published_once() -> None:
    feed, seen = make_feed("BNB-BTC")
    frame = combined("bnbbtc@trade", TRADE)
    feed.handle_message(frame, RECV_NS)
    feed.handle_message(frame, RECV_NS + 1)
    assert len(seen.trades) == 1
    assert feed.counters.duplicate_trades == 1


def test_a_replay_after_a_reconnect_is_dropped_and_a_fresh_numbering_is_taken() -> None:
    feed, seen = make_feed("BNB-BTC")

    def trade(trade_id: int) -> bytes:
        payload = TRADE.replace(b'"t":12345', b'"t":%d' % trade_id)
        return combined("bnbbtc@trade", payload)

    for trade_id in (2_000_001, 2_000_002, 2_000_003, 2_000_002, 2_000_003, 2_000_004, 7):
        feed.handle_message(trade(trade_id), RECV_NS)
    published = [t.trade_id for t in seen.trades]
    assert published == ["2000001", "2000002", "2000003", "2000004", "7"]
    assert feed.counters.duplicate_trades == 2  # the replayed 2000002 and 2000003


@pytest.mark.parametrize("frame", [BOOK_TICKER, combined("bnbusdt@bookTicker", BOOK_TICKER)])
def test_book_ticker_becomes_a_ticker_with_the_last_trade_seen(frame: bytes) -> None:
    feed, seen = make_feed("BNB-USDT")
    feed.handle_message(frame, RECV_NS)
    (ticker,) = seen.tickers
    assert (ticker.venue, ticker.symbol) == ("binance", "BNB-USDT")
    assert (ticker.bid, ticker.bid_size, ticker.ask, ticker.ask_size) == (
        25.3519,
        31.21,
        25.3652,
        40.66,
    )
    assert ticker.ts_exchange == 0, "bookTicker carries no time"
    assert math.isnan(ticker.last) and math.isnan(ticker.volume_24h)


def test_book_ticker_older_than_the_last_one_is_dropped() -> None:
    feed, seen = make_feed("BNB-USDT")
    older = BOOK_TICKER.replace(b"400900217", b"400900216")
    feed.handle_message(BOOK_TICKER, RECV_NS)
    feed.handle_message(older, RECV_NS)
    feed.handle_message(BOOK_TICKER, RECV_NS)
    assert len(seen.tickers) == 1


def test_a_ticker_carries_the_price_of_the_last_trade() -> None:
    feed, seen = make_feed("BNB-USDT")
    trade = TRADE.replace(b"BNBBTC", b"BNBUSDT").replace(b'"0.001"', b'"25.36"')
    feed.handle_message(combined("bnbusdt@trade", trade), RECV_NS)
    feed.handle_message(BOOK_TICKER, RECV_NS)
    assert (seen.tickers[-1].last, seen.tickers[-1].last_size) == (25.36, 100.0)


def test_the_docs_depth_update_applies_onto_a_snapshot_it_straddles() -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.keeper.load_snapshot(
        "BNBBTC", RestDepth(156, [("0.0023", "5")], [("0.0027", "7"), ("0.0026", "1")])
    )
    feed.handle_message(combined("bnbbtc@depth@100ms", DEPTH_UPDATE), RECV_NS)
    book = feed.books["BNB-BTC"]
    assert book.raw_bids() == [("0.0024", "10"), ("0.0023", "5")]
    assert book.raw_asks() == [("0.0026", "100"), ("0.0027", "7")]
    assert book.seq_id == 160
    assert [(b.snapshot, b.seq_id, b.best_bid, b.best_ask) for b in seen.books] == [
        (True, 156, 0.0023, 0.0026),
        (False, 160, 0.0024, 0.0026),
    ]
    assert seen.books[-1].venue == "binance" and seen.books[-1].symbol == "BNB-BTC"


def test_a_padded_zero_quantity_removes_the_level() -> None:
    feed, _ = make_feed("BTC-USDT")
    snap = RestDepth(10, [("100.00000000", "1.00000000")], [("101.00000000", "2.00000000")])
    feed.keeper.load_snapshot("BTCUSDT", snap)
    gone = depth("BTCUSDT", 11, 11, bids=[("100.00000000", "0.00000000")])
    feed.handle_message(gone, RECV_NS)
    assert feed.books["BTC-USDT"].raw_bids() == []


def test_replies_are_counted_and_errors_reported() -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.handle_message(SUBSCRIBE_REPLY, RECV_NS)
    feed.handle_message(LIST_REPLY, RECV_NS)
    feed.handle_message(ERROR_INVALID_REQUEST, RECV_NS)
    assert feed.replies == 2
    assert feed.venue_errors == 1
    assert "error" in seen.kinds()
    assert feed.counters.decode_errors == 0


@pytest.mark.parametrize(
    "frame",
    [SERVER_SHUTDOWN, combined("!serverShutdown", SERVER_SHUTDOWN)],
    ids=["raw", "combined"],
)
def test_server_shutdown_starts_a_planned_reconnect(frame: bytes) -> None:
    feed, seen = make_feed("BNB-BTC")
    reasons: list[str] = []
    feed.handover.begin = lambda reason: reasons.append(reason) or True  # type: ignore[method-assign]
    feed.handle_message(frame, RECV_NS)
    assert reasons == ["serverShutdown"]
    assert "notice" in seen.kinds()


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","b":[[}',
        combined("bnbbtc@trade", TRADE)[:40],
        b"not json at all",
        b'{"neither":"an event nor a reply"}',
        combined("bnbbtc@trade", TRADE.replace(b'"0.001"', b'"-1"')),
        combined("bnbbtc@trade", TRADE.replace(b'"0.001"', b'"NaN"')),
    ],
    ids=["malformed", "truncated", "garbage", "unknown-shape", "negative-price", "nan-price"],
)
def test_an_unusable_frame_is_counted_and_changes_nothing(frame: bytes) -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.keeper.load_snapshot("BNBBTC", RestDepth(156, [("0.0023", "5")], [("0.0027", "7")]))
    before = feed.books["BNB-BTC"].copy_levels()
    feed.handle_message(frame, RECV_NS)
    assert feed.counters.decode_errors == 1
    assert seen.trades == []
    assert feed.books["BNB-BTC"].copy_levels() == before
    assert "decode_error" in seen.kinds()


def test_an_exchange_time_far_from_the_clock_is_refused() -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.handle_message(combined("bnbbtc@trade", TRADE), RECV_NS + 3600 * 10**9)
    assert seen.trades == []
    assert feed.counters.bad_timestamps == 1 and feed.counters.decode_errors == 1


def test_a_trade_price_outside_the_band_is_refused() -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.keeper.syncs["BNBBTC"].guard.arm(0.001)
    wild = TRADE.replace(b'"0.001"', b'"5.0"')
    feed.handle_message(combined("bnbbtc@trade", wild), RECV_NS)
    assert seen.trades == []
    assert feed.counters.bad_values == 1


def test_a_stream_desk_did_not_subscribe_is_counted() -> None:
    feed, seen = make_feed("BNB-BTC")
    other = TRADE.replace(b"BNBBTC", b"ETHBTC")
    feed.handle_message(combined("ethbtc@trade", other), RECV_NS)
    assert feed.counters.unknown_channels == 1
    assert seen.trades == [] and feed.counters.decode_errors == 0


def test_the_wire_structs_refuse_the_wrong_shape() -> None:
    from desk.feeds.binance.wire import DepthUpdate, decoder

    with pytest.raises(msgspec.ValidationError):
        decoder(DepthUpdate).decode(b'{"E":1672515782136,"s":"X","U":"a","u":1,"b":[],"a":[]}')
