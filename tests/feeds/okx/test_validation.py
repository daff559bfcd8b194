"""What the OKX feed refuses at its boundary, one class of bad data at a time.

Each refused frame publishes nothing, is counted as a decode error (and as a bad value or bad
timestamp), is reported with a short excerpt, and a refused book frame resyncs that book.
"""

from __future__ import annotations

import logging

import msgspec
import pytest

from desk.core.events import Ticker, Trade
from desk.feeds.okx.sync import SyncState
from desk.feeds.validation import ValidationConfig
from tests.feeds.okx.test_parsing import RECV_NS, Desk, books, lvl

TS_MS = RECV_NS // 1_000_000 - 100  # the docs' book ts: 100 ms before RECV_NS
BIG = "1" * 200_000


def trade(px: str = "8476.9", sz: str = "0.1", ts: str = str(TS_MS), **more: str) -> bytes:
    data = {"instId": "BTC-USDT", "tradeId": more.get("tid", "1"), "px": px, "sz": sz}
    data |= {"side": "buy", "ts": ts, "count": "1", "source": "0", "seqId": 7}
    channel = more.get("channel", "trades")
    return msgspec.json.encode({"arg": {"channel": channel, "instId": "BTC-USDT"}, "data": [data]})


def ticker(**fields: str) -> bytes:
    data = {"instType": "SPOT", "instId": "BTC-USDT", "last": "8476.9", "lastSz": "0.1"}
    data |= {"askPx": "8477", "askSz": "1", "bidPx": "8476.8", "bidSz": "2", "ts": str(TS_MS)}
    data |= fields
    channel = data.pop("channel", "tickers")
    return msgspec.json.encode({"arg": {"channel": channel, "instId": "BTC-USDT"}, "data": [data]})


def checked(channels: tuple[str, ...] = ("books", "trades", "tickers"), **config: object) -> Desk:
    """A feed with the clock check on (receive time RECV_NS) and a book around 8476."""
    config.setdefault("validation", ValidationConfig())
    desk = Desk(channels=channels, **config)
    if "books" in channels:
        desk(books("snapshot", -1, 1, [lvl("8476.8", "1"), lvl("8476", "2")], [lvl("8477", "1")]))
    return desk


def trades_of(desk: Desk) -> list[Trade]:
    return [e for e in desk.market if isinstance(e, Trade)]


def refusals(desk: Desk) -> list[str]:
    return [e.message for e in desk.system if getattr(e, "kind", "") == "decode_error"]


# --- trades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("px", "sz"),
    [
        ("NaN", "0.1"),  # the trade that stopped the engine
        ("nan", "0.1"),
        ("inf", "0.1"),
        ("Infinity", "0.1"),
        ("-1", "0.1"),
        ("0", "0.1"),
        ("1e308", "0.1"),
        ("", "0.1"),
        ("abc", "0.1"),
        ("8476.9", "NaN"),
        ("8476.9", "-1"),
        ("8476.9", "-0.0001"),
        ("8476.9", "inf"),
        ("8476.9", "1e308"),
    ],
)
def test_a_trade_with_an_impossible_price_or_size_is_refused(px: str, sz: str) -> None:
    desk = checked()
    desk(trade(px, sz))
    assert trades_of(desk) == []
    c = desk.feed.counters
    assert c.decode_errors == 1 and c.bad_values == 1 and c.bad_timestamps == 0
    assert refusals(desk) and "frame refused" in refusals(desk)[0]
    desk(trade(tid="2"))  # the next good trade goes through
    assert [t.trade_id for t in trades_of(desk)] == ["2"]


def test_a_trade_far_outside_the_band_of_the_last_good_price_is_refused() -> None:
    desk = checked(channels=("trades",))
    desk(trade("60000", tid="1"))
    desk.feed.tick()  # the once-a-second chore centres the band on the last good price
    desk(trade("6000000", tid="2"), trade("600", tid="3"), trade("59000", tid="4"))
    assert [t.trade_id for t in trades_of(desk)] == ["1", "4"]
    assert desk.feed.counters.bad_values == 2
    assert "outside the band" in refusals(desk)[0]


def test_a_band_that_refuses_everything_is_dropped_so_a_bad_first_price_cannot_lock_out() -> None:
    desk = checked(channels=("trades",))
    desk(trade("999999", tid="1"))  # a bad first price the band centres on
    desk.feed.tick()
    desk(trade("60000", tid="2"))
    assert desk.feed.counters.bad_values == 1
    desk.feed.tick()  # refused and nothing passed: the band is dropped
    desk(trade("60000", tid="3"))
    assert [t.trade_id for t in trades_of(desk)] == ["1", "3"]


@pytest.mark.parametrize(
    "ts",
    [
        "99999999999999",  # the year 5138: froze the engine filling candles
        str(TS_MS - 3 * 365 * 86_400_000),  # a replay of data years old, on a live feed
        str(TS_MS + 600_000),  # 10 minutes ahead of the local clock
        str(TS_MS - 600_000),  # 10 minutes behind
        "0",
    ],
)
def test_a_trade_stamped_far_from_the_local_clock_is_refused_as_a_bad_timestamp(ts: str) -> None:
    desk = checked()
    desk(trade(ts=ts))
    assert trades_of(desk) == []
    c = desk.feed.counters
    assert c.decode_errors == 1 and c.bad_timestamps == 1 and c.bad_values == 0


def test_the_clock_skew_limit_is_configurable_and_can_be_turned_off_for_replays() -> None:
    minute_late = str(TS_MS - 60_000)
    strict = checked(validation=ValidationConfig(max_clock_skew=30))
    strict(trade(ts=minute_late))
    assert strict.feed.counters.bad_timestamps == 1
    off = checked(validation=ValidationConfig(max_clock_skew=0))
    off(trade(ts=str(TS_MS - 3 * 365 * 86_400_000)))
    assert len(trades_of(off)) == 1
    off(trade(ts="99999999999999", tid="2"))  # beyond this century: refused even so
    assert off.feed.counters.bad_timestamps == 1


def test_a_200_kb_price_is_refused_and_quoted_in_200_characters_with_its_length(
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk = checked()
    frame = trade(BIG)
    with caplog.at_level(logging.WARNING, logger="desk.feeds"):
        desk(frame)
    assert trades_of(desk) == [] and desk.feed.counters.decode_errors == 1
    (message,) = refusals(desk)
    assert len(message) < 1000 and f"(200 of {len(frame):,} bytes)" in message
    assert all(len(r.getMessage()) < 1000 for r in caplog.records)


# --- channels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        trade(channel="trades-all"),
        trade(channel="tradesX"),
        ticker(channel="tickersX"),
        ticker(channel="tickers-all"),
        books("update", 1, 2, bids=[lvl("8476.9", "1")]).replace(b'"books"', b'"books50-l2-tbt"'),
        books("update", 1, 2, bids=[lvl("8476.9", "1")]).replace(b'"books"', b'"books-l2-tbt"'),
    ],
)
def test_channels_that_only_start_like_ours_never_reach_our_handlers(frame: bytes) -> None:
    desk = checked()
    before = len(desk.market)
    desk(frame)
    assert len(desk.market) == before, "nothing published"
    assert desk.feed.books["BTC-USDT"].seq_id == 1, "the book did not take the update"
    c = desk.feed.counters
    assert c.unknown_channels == 1 and c.decode_errors == 0


def test_pushes_for_symbols_not_followed_are_counted() -> None:
    desk = checked()
    desk(trade().replace(b"BTC-USDT", b"DOGE-USDT"), ticker().replace(b"BTC-USDT", b"XRP-USDT"))
    desk(books("update", 1, 2, bids=[lvl("1", "1")], symbol="DOGE-USDT"))
    assert desk.feed.counters.unknown_symbols == 3 and desk.market[1:] == []


# --- books -------------------------------------------------------------------------------------


@pytest.mark.parametrize("px", ["NaN", "inf", "-1", "0", "1e308", "", "abc", "8476900"])
def test_a_book_update_with_an_impossible_price_is_refused_and_the_book_resynced(px: str) -> None:
    desk = checked()
    desk(books("update", 1, 2, bids=[lvl("8476.5", "3"), lvl(px, "1")]))
    c = desk.feed.counters
    assert c.decode_errors == 1 and c.bad_values == 1 and c.resyncs == 1
    assert desk.sent_ops()[-1] == ("subscribe", "books", "BTC-USDT")
    assert len(desk.feed.books["BTC-USDT"]) == 0, "a half-applied book is dropped"
    assert [e.seq_id for e in desk.book_events()] == [1], "nothing published"


@pytest.mark.parametrize("sz", ["NaN", "nan", "inf", "Infinity", "abc"])
def test_a_book_update_with_an_impossible_size_is_refused_and_the_book_resynced(sz: str) -> None:
    desk = checked()
    desk(books("update", 1, 2, bids=[lvl("8476.8", sz)]))
    assert desk.feed.counters.bad_values == 1 and desk.feed.counters.resyncs == 1
    assert desk.feed.keeper.syncs["BTC-USDT"].state is SyncState.RESYNCING


@pytest.mark.parametrize("sz", ["-1", "", "-0.5"])
def test_a_negative_or_empty_size_is_refused_at_a_new_price_and_in_snapshots(sz: str) -> None:
    desk = checked()
    desk(books("update", 1, 2, bids=[lvl("8476.7", sz)]))  # a price the book does not have
    assert desk.feed.counters.bad_values == 1
    again = checked()
    again(books("snapshot", -1, 5, [lvl("8476.8", sz)], [lvl("8477", "1")]))
    assert again.feed.counters.bad_values == 1 and again.feed.counters.resyncs == 1
    assert len(again.feed.books["BTC-USDT"]) == 0, "nothing of the bad snapshot was applied"


def test_a_negative_size_at_a_known_price_is_a_delete_no_reader_ever_sees() -> None:
    """The one-comparison check cannot tell "-1" from "0" at a price already in the book: it
    deletes the level, exactly as "0" would (desk.market.book); nothing negative is read."""
    desk = checked()
    desk(books("update", 1, 2, bids=[lvl("8476.8", "-1")]))
    book = desk.feed.books["BTC-USDT"]
    assert book.raw_bids() == [("8476", "2")] and book.bids() == [(8476.0, 2.0)]


def test_a_book_frame_stamped_far_from_the_clock_is_refused_and_resyncs() -> None:
    desk = checked()
    desk(books("update", 1, 2, bids=[lvl("8476.5", "3")], ts=str(TS_MS - 3_600_000)))
    c = desk.feed.counters
    assert c.bad_timestamps == 1 and c.resyncs == 1 and len(desk.feed.books["BTC-USDT"]) == 0


def test_a_huge_books_frame_gets_every_level_parsed() -> None:
    desk = checked()
    desk(books("update", 1, 2, bids=[lvl("8476.5", BIG)]))  # starts with a digit
    assert desk.feed.counters.bad_values == 1 and desk.feed.counters.resyncs == 1
    message = refusals(desk)[0]
    assert len(message) < 1000 and "200,000" in message


def test_a_snapshot_with_one_absurd_level_is_refused_even_before_any_good_price() -> None:
    desk = Desk(channels=("books",), validation=ValidationConfig())
    bids = [lvl("8476.8", "1"), lvl("8476", "2"), lvl("0.000001", "5")]
    desk(books("snapshot", -1, 1, bids, [lvl("8477", "1"), lvl("8477.5", "1")]))
    assert desk.feed.counters.bad_values == 1 and len(desk.feed.books["BTC-USDT"]) == 0


def test_a_shallow_book_push_with_a_bad_level_is_refused_and_the_next_one_replaces_it() -> None:
    desk = checked(channels=("bbo-tbt",))
    push = (
        b'{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["8477","NaN","0","1"'
        b']],"bids":[["8476.8","2","0","1"]],"ts":"' + str(TS_MS).encode() + b'","seqId":5}]}'
    )
    desk(push)
    assert desk.feed.counters.bad_values == 1 and len(desk.feed.books["BTC-USDT"]) == 0
    desk(push.replace(b'"NaN"', b'"3"'))
    assert desk.feed.books["BTC-USDT"].raw_asks() == [("8477", "3")]


def test_levels_of_another_length_apply_like_the_usual_shape() -> None:
    desk = checked()
    odd = books("update", 1, 2, bids=[["8476.5", "3"]])  # [px, sz]: another level length
    longer = books("update", 2, 3, bids=[["8476.4", "1", "0", "2", "extra"]])
    desk(odd, longer, books("update", 3, 4, bids=[lvl("8476.3", "2")]))
    assert desk.feed.books["BTC-USDT"].raw_bids(4) == [
        ("8476.8", "1"),
        ("8476.5", "3"),
        ("8476.4", "1"),
        ("8476.3", "2"),
    ]
    assert desk.feed.counters.decode_errors == 0 and desk.feed.counters.gaps == 0


def test_a_level_shorter_than_price_and_size_is_refused_and_the_book_resynced() -> None:
    desk = checked()
    desk(books("update", 1, 2, bids=[["8476.5"]]))
    assert desk.feed.keeper.lenient_frames == 1
    assert desk.feed.counters.bad_values == 1
    assert desk.feed.counters.resyncs == 1 and len(desk.feed.books["BTC-USDT"]) == 0
    desk(books("update", 2, 3, bids=[lvl("8476.4", "1")]))
    assert desk.feed.keeper.lenient_frames == 1, "the next frame took the fast path again"


# --- tickers and venue text --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"last": "NaN"}, {"bidPx": "-1"}, {"askPx": "0"}, {"lastSz": "-3"}, {"bidSz": "inf"}],
)
def test_a_ticker_with_an_impossible_number_is_refused(fields: dict[str, str]) -> None:
    desk = checked()
    desk(ticker(**fields))
    assert [e for e in desk.market if isinstance(e, Ticker)] == []
    assert desk.feed.counters.bad_values == 1


def test_a_ticker_with_empty_fields_still_passes_as_not_known() -> None:
    desk = checked()
    desk(ticker(lastSz="", bidPx=""))
    (tick,) = [e for e in desk.market if isinstance(e, Ticker)]
    assert tick.last == 8476.9 and tick.bid != tick.bid  # NaN: not known


def test_a_200_kb_venue_error_message_is_reported_in_200_characters() -> None:
    desk = checked()
    error = msgspec.json.encode({"event": "error", "code": "60012", "msg": BIG, "connId": "x"})
    desk(error)
    (event,) = [e for e in desk.system if getattr(e, "kind", "") == "error"]
    assert len(event.message) < 400 and "200,000" in event.message
