"""The OKX feed against recorded wire JSON (PROTOCOLS.md A.2-A.6), without a socket.

Frames go straight into ``OkxFeed.handle_message``; what the feed would send (resubscriptions)
is captured through its injectable ``send``.
"""

from __future__ import annotations

import asyncio
import math

import msgspec
import pytest

from desk.core.bus import Bus
from desk.core.enums import ConnectionState, Severity, Side
from desk.core.events import BookChanged, SystemEvent, Ticker, Trade
from desk.core.topics import SYSTEM_EVENTS
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed, SubscribeBudget
from desk.feeds.okx.rest import RestBook
from desk.feeds.okx.sync import SyncState
from desk.feeds.okx.wire import Arg, chunk_args, encode_request
from desk.feeds.validation import ValidationConfig
from tests.feeds.okx.samples import (
    BBO_TBT,
    BOOKS_SNAPSHOT,
    ERROR,
    NOTICE,
    SUBSCRIBE_ACK,
    TICKERS,
    TRADES,
)
from tests.waiting import wait_until

RECV_NS = 1_597_026_383_185_000_000  # 100 ms after the docs' ts


def books(
    action: str,
    prev: int,
    seq: int,
    bids: list[list[str]] | None = None,
    asks: list[list[str]] | None = None,
    *,
    checksum: int = 0,
    symbol: str = "BTC-USDT",
    ts: str = "1597026383085",
) -> bytes:
    """A ``books`` push in the wire's shape (the docs: an update is a snapshot's twin)."""
    data = {
        "asks": asks or [],
        "bids": bids or [],
        "ts": ts,
        "checksum": checksum,
        "prevSeqId": prev,
        "seqId": seq,
    }
    arg = {"channel": "books", "instId": symbol}
    return msgspec.json.encode({"arg": arg, "action": action, "data": [data]})


def lvl(px: str, sz: str, orders: str = "1") -> list[str]:
    return [px, sz, "0", orders]


def ack(channel: str, symbol: str, event: str = "subscribe") -> bytes:
    arg = {"channel": channel, "instId": symbol}
    return msgspec.json.encode({"event": event, "arg": arg, "connId": "a4d3ae55"})


class FakeRest:
    """Serves queued ``RestBook`` snapshots to the REST bootstrap and records the calls."""

    def __init__(self, *snapshots: RestBook) -> None:
        self.snapshots = list(snapshots)
        self.calls: list[tuple[str, int]] = []

    async def get_book(self, inst_id: str, depth: int = 400) -> RestBook:
        self.calls.append((inst_id, depth))
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    async def close(self) -> None:
        pass


class Desk:
    """A feed wired to a bus, with everything it publishes and sends recorded."""

    def __init__(
        self,
        symbols: tuple[str, ...] = ("BTC-USDT",),
        channels: tuple[str, ...] = ("books",),
        rest: FakeRest | None = None,
        **config: object,
    ) -> None:
        self.bus = Bus()
        self.market: list[object] = []
        self.system: list[object] = []
        self.sent: list[str] = []
        self.bus.subscribe("market_data:*", self.market.append)
        self.bus.subscribe(SYSTEM_EVENTS, self.system.append)
        # The docs' samples are stamped 2020-2022, years apart: the clock-skew check is off here
        # unless a test asks for it (tests/feeds/okx/test_validation.py covers it).
        config.setdefault("validation", ValidationConfig(max_clock_skew=0))
        self.feed = OkxFeed(
            OkxConfig(**config),  # type: ignore[arg-type]
            symbols,
            channels,
            self.bus,
            rest=rest,  # type: ignore[arg-type]
            send=self.sent.append,
        )

    def __call__(self, *frames: bytes | str) -> None:
        for frame in frames:
            self.feed.handle_message(frame, RECV_NS)

    def book_events(self, symbol: str = "BTC-USDT") -> list[BookChanged]:
        return [e for e in self.market if isinstance(e, BookChanged) and e.symbol == symbol]

    def system_kinds(self) -> list[str]:
        return [e.kind for e in self.system if isinstance(e, SystemEvent)]

    def sent_ops(self) -> list[tuple[str, str, str]]:
        out = []
        for frame in self.sent:
            req = msgspec.json.decode(frame)
            out += [(req["op"], a["channel"], a["instId"]) for a in req["args"]]
        return out


# --- books ----------------------------------------------------------------------------------


def test_snapshot_replaces_the_book_and_is_published_with_its_top() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT)
    book = desk.feed.books["BTC-USDT"]
    assert book.seq_id == 123456
    assert book.best_bid == (8476.97, 256.0) and book.best_ask == (8476.98, 415.0)
    assert book.raw_bids(2) == [("8476.97", "256"), ("8475.55", "101")]
    assert len(book) == 16
    (event,) = desk.book_events()
    assert event.snapshot and event.seq_id == 123456 and event.venue == "okx"
    assert (event.best_bid, event.best_ask) == (8476.97, 8476.98)
    assert event.ts_exchange == 1597026383085 * 1_000_000 and event.ts_recv == RECV_NS


def test_chained_updates_insert_replace_and_delete_levels() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT)
    desk(
        books("update", 123456, 123457, bids=[lvl("8476.97", "0"), lvl("8476.5", "3")]),
        books("update", 123457, 123460, asks=[lvl("8476.98", "400"), lvl("8476.9", "1")]),
        books("update", 123460, 123461, asks=[lvl("9999", "0")]),  # unknown price: harmless
    )
    book = desk.feed.books["BTC-USDT"]
    assert book.seq_id == 123461
    assert book.raw_bids(2) == [("8476.5", "3"), ("8475.55", "101")]
    assert book.raw_asks(2) == [("8476.9", "1"), ("8476.98", "400")]
    events = desk.book_events()
    assert [e.snapshot for e in events] == [True, False, False, False]
    assert [e.seq_id for e in events] == [123456, 123457, 123460, 123461]
    assert events[-1].best_ask == 8476.9
    assert desk.feed.counters.gaps == 0 and desk.sent == []


def test_docs_sequence_chain_with_heartbeat_and_reset_is_accepted() -> None:
    """PROTOCOLS.md A.5: snapshot (-1->10), update (10->15), heartbeat (15->15),
    reset (15->3), update (3->5)."""
    desk = Desk()
    desk(
        books("snapshot", -1, 10, bids=[lvl("100", "1")], asks=[lvl("101", "1")]),
        books("update", 10, 15, bids=[lvl("99", "2")]),
        books("update", 15, 15),
        books("update", 15, 3, asks=[lvl("102", "4")]),
        books("update", 3, 5, bids=[lvl("100", "0")]),
    )
    book = desk.feed.books["BTC-USDT"]
    assert book.seq_id == 5
    assert book.raw_bids() == [("99", "2")]
    assert book.raw_asks() == [("101", "1"), ("102", "4")]
    assert desk.feed.counters.gaps == 0 and desk.feed.counters.resyncs == 0
    # the heartbeat is a no-op: four book events, not five
    assert [e.seq_id for e in desk.book_events()] == [10, 15, 3, 5]


def test_gap_resyncs_that_book_only_by_resubscribing_it() -> None:
    desk = Desk(symbols=("BTC-USDT", "ETH-USDT"))
    eth_snapshot = books("snapshot", -1, 7, [lvl("10", "1")], [lvl("11", "1")], symbol="ETH-USDT")
    desk(BOOKS_SNAPSHOT, eth_snapshot)
    desk(books("update", 123999, 124000, bids=[lvl("8476.5", "3")]))  # prevSeqId != 123456

    counters = desk.feed.counters
    assert counters.gaps == 1 and counters.resyncs == 1
    assert desk.sent_ops() == [
        ("unsubscribe", "books", "BTC-USDT"),
        ("subscribe", "books", "BTC-USDT"),
    ]
    assert len(desk.feed.books["BTC-USDT"]) == 0, "the broken book is dropped"
    eth = desk.feed.books["ETH-USDT"]
    assert eth.seq_id == 7 and eth.raw_bids() == [("10", "1")], "other books untouched"
    assert desk.system_kinds().count("gap") == 1 and "resync" in desk.system_kinds()

    # pushes of the old subscription are ignored until the new subscription is acked
    desk(books("update", 124000, 124001, bids=[lvl("1", "1")]))
    assert counters.gaps == 1 and len(desk.feed.books["BTC-USDT"]) == 0
    desk(ack("books", "BTC-USDT", "unsubscribe"), ack("books", "BTC-USDT"), BOOKS_SNAPSHOT)
    assert desk.feed.books["BTC-USDT"].seq_id == 123456
    assert desk.book_events()[-1].snapshot
    desk(books("update", 123456, 123457, bids=[lvl("8476.5", "3")]))
    assert desk.feed.books["BTC-USDT"].seq_id == 123457


def test_checksum_is_verified_when_non_zero_using_the_docs_vectors() -> None:
    desk = Desk()
    bids = [lvl("3366.1", "7"), lvl("3366", "6")]
    asks = [lvl("3366.8", "9"), lvl("3368", "8")]
    desk(books("snapshot", -1, 1, bids, asks, checksum=-1881014294))
    desk(books("update", 1, 2, [lvl("3366", "0")], [lvl("3372", "8")], checksum=831078360))
    assert desk.feed.counters.checksum_failures == 0
    assert desk.feed.books["BTC-USDT"].seq_id == 2
    assert desk.sent == []


def test_checksum_mismatch_is_counted_and_resyncs_the_book() -> None:
    desk = Desk()
    desk(books("snapshot", -1, 1, [lvl("3366.1", "7")], [lvl("3366.8", "9")]))
    desk(books("update", 1, 2, [lvl("3366", "6")], [], checksum=12345))
    counters = desk.feed.counters
    assert counters.checksum_failures == 1 and counters.resyncs == 1
    assert desk.sent_ops()[-1] == ("subscribe", "books", "BTC-USDT")
    assert len(desk.feed.books["BTC-USDT"]) == 0
    assert "checksum_failure" in desk.system_kinds()


def test_checksum_zero_is_not_validated() -> None:
    """PROTOCOLS.md D.1: OKX sends 0 now; a strict validator would kill every book."""
    desk = Desk()
    desk(BOOKS_SNAPSHOT, books("update", 123456, 123457, [lvl("8476.5", "3")], checksum=0))
    assert desk.feed.counters.checksum_failures == 0
    assert desk.feed.books["BTC-USDT"].seq_id == 123457


def test_checksum_is_ignored_when_verification_is_off() -> None:
    desk = Desk(verify_checksum=False)
    desk(books("snapshot", -1, 1, [lvl("1", "1")], [lvl("2", "1")], checksum=42))
    assert desk.feed.counters.checksum_failures == 0
    assert desk.feed.books["BTC-USDT"].seq_id == 1


def test_crossed_book_is_counted_and_resynced() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT, books("update", 123456, 123457, bids=[lvl("8477.5", "1")]))
    assert desk.feed.counters.crossed_books == 1
    assert desk.feed.counters.resyncs == 1
    assert "crossed_book" in desk.system_kinds()
    assert [e.seq_id for e in desk.book_events()] == [123456], "a crossed book is not published"


def test_snapshot_after_live_updates_leaves_no_ghost_levels() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT, books("update", 123456, 123457, bids=[lvl("8470", "5")]))
    desk(books("snapshot", -1, 200, [lvl("8000", "1")], [lvl("8001", "1")]))
    book = desk.feed.books["BTC-USDT"]
    assert book.raw_bids() == [("8000", "1")] and book.raw_asks() == [("8001", "1")]


def test_disconnect_clears_every_book_and_ready_waits_for_fresh_snapshots() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT)
    assert desk.feed.keeper.ready.is_set()
    desk.feed._on_state(ConnectionState.DISCONNECTED, "connection lost")
    assert len(desk.feed.books["BTC-USDT"]) == 0
    assert not desk.feed.keeper.ready.is_set()
    assert desk.feed.keeper.syncs["BTC-USDT"].state is SyncState.WAITING


def test_shallow_channels_replace_the_book_on_every_push() -> None:
    desk = Desk(symbols=("BCH-USDT-SWAP",), channels=("bbo-tbt",))
    desk(BBO_TBT)
    book = desk.feed.books["BCH-USDT-SWAP"]
    assert book.raw_bids() == [("111.05", "57745")] and book.raw_asks() == [("111.06", "55154")]
    desk(BBO_TBT.replace(b"111.05", b"111.04"))
    assert book.raw_bids() == [("111.04", "57745")]
    assert all(e.snapshot for e in desk.book_events("BCH-USDT-SWAP"))
    assert desk.feed.keeper.ready.is_set()


def test_shallow_book_channels_are_not_subscribed_next_to_books() -> None:
    feed = Desk(symbols=("BTC-USDT",), channels=("trades", "books5", "books", "tickers")).feed
    assert [(a.channel, a.instId) for a in feed.args] == [
        ("trades", "BTC-USDT"),
        ("books", "BTC-USDT"),
        ("tickers", "BTC-USDT"),
    ]


def test_levels_of_another_length_are_still_understood() -> None:
    desk = Desk()
    two = (
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{'
        b'"asks":[["2","1"]],"bids":[["1","1"]],"ts":"1597026383085","checksum":0,'
        b'"prevSeqId":-1,"seqId":1}]}'
    )
    desk(two)
    assert desk.feed.books["BTC-USDT"].raw_asks() == [("2", "1")]
    assert desk.feed.counters.decode_errors == 0
    desk(books("update", 1, 2, bids=[lvl("1.5", "2")]))  # the usual shape
    assert desk.feed.books["BTC-USDT"].raw_bids() == [("1.5", "2"), ("1", "1")]
    assert desk.feed.keeper.lenient_frames == 0, "any length from [px, sz] up is the fast shape"


# --- REST bootstrap when no snapshot is sent (PROTOCOLS.md A.5, announced change) ------------


async def test_first_update_bootstraps_from_rest_and_bridges_the_buffer() -> None:
    stale = RestBook(bids=[["90", "1", "0", "1"]], asks=[["91", "1", "0", "1"]], seq_id=90, ts_ms=1)
    fresh = RestBook(
        bids=[["100", "1", "0", "1"]], asks=[["101", "2", "0", "1"]], seq_id=110, ts_ms=2
    )
    rest = FakeRest(stale, fresh)
    desk = Desk(rest=rest)
    desk(
        books("update", 100, 105, bids=[lvl("98", "9")]),  # dropped: in the snapshot
        books("update", 105, 110, bids=[lvl("97", "9")]),  # dropped: in the snapshot
        books("update", 110, 120, bids=[lvl("100", "5")]),  # straddles 110: applied
    )
    sync = desk.feed.keeper.syncs["BTC-USDT"]
    assert sync.state is SyncState.BOOTSTRAPPING
    await asyncio.wait_for(desk.feed.keeper.ready.wait(), 20)
    desk(books("update", 120, 121, asks=[lvl("102", "3")]))

    book = desk.feed.books["BTC-USDT"]
    assert rest.calls == [("BTC-USDT", 400), ("BTC-USDT", 400)], "refetched the stale snapshot"
    assert book.seq_id == 121
    assert book.raw_bids() == [("100", "5")]
    assert book.raw_asks() == [("101", "2"), ("102", "3")]
    assert desk.book_events()[0].snapshot and desk.book_events()[0].seq_id == 110
    assert desk.feed.counters.gaps == 0


async def test_bootstrap_whose_first_kept_update_does_not_straddle_is_a_gap() -> None:
    snap = RestBook(
        bids=[["100", "1", "0", "1"]], asks=[["101", "1", "0", "1"]], seq_id=112, ts_ms=1
    )
    desk = Desk(rest=FakeRest(snap))
    desk(
        books("update", 100, 105, bids=[lvl("98", "9")]),
        books("update", 115, 120, bids=[lvl("97", "9")]),  # 112 < 115: updates are missing
    )
    await wait_until(lambda: desk.feed.counters.gaps == 1, what="the gap")
    assert desk.sent_ops() == [
        ("unsubscribe", "books", "BTC-USDT"),
        ("subscribe", "books", "BTC-USDT"),
    ]


# --- trades and tickers ------------------------------------------------------------------------


def test_trades_are_normalized_and_duplicates_dropped_including_count_coverage() -> None:
    desk = Desk(channels=("trades",))
    desk(TRADES)
    (trade,) = [e for e in desk.market if isinstance(e, Trade)]
    assert trade.trade_id == "130639474" and trade.count == 3
    assert trade.price == 42219.9 and trade.size == 0.12060306 and trade.side is Side.BUY
    assert trade.ts_exchange == 1630048897897 * 1_000_000 and trade.ts_recv == RECV_NS

    desk(TRADES)  # replayed after a reconnect
    desk(TRADES.replace(b'"130639474"', b'"130639472"').replace(b'"3"', b'"1"'))  # covered
    assert desk.feed.counters.duplicate_trades == 2
    desk(TRADES.replace(b'"130639474"', b'"130639475"').replace(b'"buy"', b'"sell"'))
    trades = [e for e in desk.market if isinstance(e, Trade)]
    assert [(t.trade_id, t.side) for t in trades] == [
        ("130639474", Side.BUY),
        ("130639475", Side.SELL),
    ]


def test_ticker_fields_are_normalized() -> None:
    desk = Desk(channels=("tickers",))
    desk(TICKERS)
    (ticker,) = desk.market
    assert isinstance(ticker, Ticker)
    assert (ticker.last, ticker.last_size) == (9999.99, 0.1)
    assert (ticker.bid, ticker.bid_size, ticker.ask, ticker.ask_size) == (8888.88, 5, 9999.99, 11)
    assert (ticker.open_24h, ticker.high_24h, ticker.low_24h) == (9000, 10000, 8888.88)
    assert (ticker.volume_24h, ticker.volume_quote_24h) == (2222, 2222)
    assert ticker.ts_exchange == 1597026383085 * 1_000_000 and ticker.symbol == "BTC-USDT"


def test_empty_ticker_fields_become_nan() -> None:
    desk = Desk(channels=("tickers",))
    desk(TICKERS.replace(b'"lastSz":"0.1"', b'"lastSz":""'))
    (ticker,) = desk.market
    assert isinstance(ticker, Ticker) and math.isnan(ticker.last_size)


# --- events, errors, garbage -------------------------------------------------------------------


def test_malformed_and_truncated_frames_are_counted_skipped_and_reported_once() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT)
    desk(b"this is not json", BOOKS_SNAPSHOT[:100], b'{"arg":{"channel":"books"}}', b"")
    assert desk.feed.counters.decode_errors == 4
    assert desk.system_kinds().count("decode_error") == 1, "rate-limited: no flood"
    desk(books("update", 123456, 123457, bids=[lvl("8476.5", "3")]))
    assert desk.feed.books["BTC-USDT"].seq_id == 123457, "the feed keeps running"


def test_text_pong_and_acks_are_not_errors() -> None:
    desk = Desk()
    desk(b"pong", "pong", SUBSCRIBE_ACK, ack("books", "BTC-USDT", "unsubscribe"))
    assert desk.feed.pongs == 2
    assert desk.feed.conn_id == "a4d3ae55"
    assert desk.feed.counters.decode_errors == 0
    assert desk.feed.counters.messages == 4


def test_venue_error_is_reported_and_does_not_stop_other_channels() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT, ERROR, books("update", 123456, 123457, bids=[lvl("8476.5", "3")]))
    (error,) = [e for e in desk.system if isinstance(e, SystemEvent) and e.kind == "error"]
    assert "60012" in error.message and error.severity is Severity.ERROR
    assert desk.feed.books["BTC-USDT"].seq_id == 123457
    assert desk.feed.venue_errors == 1


def test_upgrade_notice_triggers_a_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk()
    reasons: list[str] = []
    monkeypatch.setattr(
        desk.feed.connection, "request_reconnect", lambda reason, **_: reasons.append(reason)
    )
    desk(NOTICE)
    assert len(reasons) == 1 and "64008" in reasons[0]
    assert "notice" in desk.system_kinds()


def test_frames_as_text_are_handled_like_bytes() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT.decode())
    assert desk.feed.books["BTC-USDT"].seq_id == 123456
    assert desk.feed.counters.decode_errors == 0


def test_pushes_for_unknown_symbols_or_channels_are_ignored() -> None:
    desk = Desk()
    desk(books("snapshot", -1, 1, [lvl("1", "1")], [lvl("2", "1")], symbol="DOGE-USDT"))
    desk(b'{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1","2","3","4","5"]]}')
    assert desk.market == [] and desk.feed.counters.decode_errors == 0


def test_counters_see_every_frame_and_its_latency() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT, b"pong")
    snap = desk.feed.counters.snapshot(now_ns=RECV_NS)
    assert snap.messages == 2 and snap.bytes == len(BOOKS_SNAPSHOT) + 4
    assert snap.latency_last_ms == pytest.approx(100.0)


async def test_resync_falls_back_to_rest_when_the_subscribe_budget_is_spent() -> None:
    """OKX allows 480 (un)subscribe requests an hour per connection: past the budget a broken
    book is rebuilt from REST on the same subscription instead."""
    snap = RestBook(
        bids=[["100", "1", "0", "1"]], asks=[["101", "1", "0", "1"]], seq_id=50, ts_ms=1
    )
    desk = Desk(rest=FakeRest(snap))
    desk.feed._budget = SubscribeBudget(limit=0)
    desk(books("snapshot", -1, 10, [lvl("100", "1")], [lvl("101", "1")]))
    desk(books("update", 30, 40, bids=[lvl("99", "1")]))  # gap
    assert desk.sent == [] and desk.feed.counters.resyncs == 1
    desk(books("update", 40, 60, bids=[lvl("99", "2")]))  # first update after the drop
    await asyncio.wait_for(desk.feed.keeper.ready.wait(), 20)
    book = desk.feed.books["BTC-USDT"]
    assert book.seq_id == 60 and book.raw_bids() == [("100", "1"), ("99", "2")]


def test_subscribe_requests_are_compact_and_split_under_64_kb() -> None:
    args = [Arg("books", f"S{i:05d}-USDT") for i in range(3000)]
    chunks = chunk_args(args)
    assert sum(len(c) for c in chunks) == 3000 and len(chunks) > 1
    assert all(len(encode_request("subscribe", c)) < 64_000 for c in chunks)
    assert encode_request("subscribe", [Arg("books", "BTC-USDT")]) == (
        '{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}'
    )


def test_pushes_in_another_key_order_or_spacing_take_the_slow_path_and_still_apply() -> None:
    desk = Desk()
    desk(BOOKS_SNAPSHOT)
    reordered = books("update", 123456, 123457, bids=[lvl("8476.5", "3")])
    reordered = msgspec.json.encode(
        {k: v for k, v in reversed(list(msgspec.json.decode(reordered).items()))}
    )
    assert reordered.startswith(b'{"data"')
    desk(reordered)
    spaced = b'{"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", ' + (
        b'"data": [{"asks": [], "bids": [["8476.4", "1", "0", "1"]], "ts": "1597026383086", '
        b'"checksum": 0, "prevSeqId": 123457, "seqId": 123458}]}'
    )
    desk(spaced)
    book = desk.feed.books["BTC-USDT"]
    assert book.seq_id == 123458 and book.raw_bids(2) == [("8476.97", "256"), ("8476.5", "3")]
    assert desk.feed.counters.decode_errors == 0
