"""The local book procedure of PROTOCOLS.md B.3, event by event, with a fake REST snapshot."""

from __future__ import annotations

from desk.feeds.binance.books import SyncState
from desk.feeds.binance.rest import RestDepth
from tests.feeds.binance.fakes import RECV_NS, FakeRest, depth, make_feed
from tests.waiting import wait_until

BTC, ETH = "BTCUSDT", "ETHUSDT"


def snap(last_id: int, bid: str = "100.00", ask: str = "101.00") -> RestDepth:
    """Two levels a side: ``bid`` and one below it, ``ask`` and one above it."""
    below, above = f"{float(bid) - 1:.2f}", f"{float(ask) + 1:.2f}"
    return RestDepth(last_id, [(bid, "1.0"), (below, "2.0")], [(ask, "1.5"), (above, "3.0")])


async def test_events_are_buffered_then_those_in_the_snapshot_dropped() -> None:
    rest = FakeRest(snap(105))
    rest.release.clear()  # hold the snapshot until every event is buffered
    feed, seen = make_feed("BTC-USDT", rest=rest)
    feed.handle_message(depth(BTC, 101, 103, bids=[("98.00", "9.0")]), RECV_NS)
    feed.handle_message(depth(BTC, 104, 106, asks=[("103.00", "4.0")]), RECV_NS)
    feed.handle_message(depth(BTC, 107, 107, bids=[("100.00", "0")]), RECV_NS)
    assert feed.keeper.syncs[BTC].state is SyncState.BOOTSTRAPPING
    rest.release.set()
    await wait_until(lambda: feed.keeper.ready.is_set(), what="the book to come up")
    book = feed.books["BTC-USDT"]
    assert book.seq_id == 107
    assert book.raw_bids() == [("99.00", "2.0")], "101..103 is in the snapshot: 98 is not applied"
    assert book.raw_asks() == [("101.00", "1.5"), ("102.00", "3.0"), ("103.00", "4.0")]
    assert rest.calls == [(BTC, 1000)]
    assert [b.snapshot for b in seen.books] == [True, False, False]
    assert feed.counters.gaps == 0


async def test_a_snapshot_older_than_the_first_event_is_fetched_again() -> None:
    rest = FakeRest(snap(90), snap(120))
    feed, _ = make_feed("BTC-USDT", rest=rest)
    feed.handle_message(depth(BTC, 101, 110), RECV_NS)
    feed.handle_message(depth(BTC, 111, 125, bids=[("100.50", "1.0")]), RECV_NS)
    await wait_until(lambda: feed.keeper.ready.is_set(), what="the book to come up")
    assert len(rest.calls) == 2, "lastUpdateId 90 < first U 101 - 1: the events between are lost"
    assert feed.books["BTC-USDT"].seq_id == 125
    assert feed.books["BTC-USDT"].best_bid_px == 100.5


async def test_a_snapshot_just_before_the_first_event_is_enough() -> None:
    rest = FakeRest(snap(100))
    feed, _ = make_feed("BTC-USDT", rest=rest)
    feed.handle_message(depth(BTC, 101, 102), RECV_NS)
    await wait_until(lambda: feed.keeper.ready.is_set(), what="the book to come up")
    assert len(rest.calls) == 1 and feed.books["BTC-USDT"].seq_id == 102


def test_live_events_chain_and_old_ones_are_ignored() -> None:
    feed, seen = make_feed("BTC-USDT")
    feed.keeper.load_snapshot(BTC, snap(200))
    feed.handle_message(depth(BTC, 195, 200, bids=[("99.50", "1.0")]), RECV_NS)  # u <= local
    feed.handle_message(depth(BTC, 199, 203, bids=[("99.50", "1.0")]), RECV_NS)  # straddles
    feed.handle_message(depth(BTC, 204, 204, bids=[("99.50", "0")]), RECV_NS)  # U == u + 1
    assert feed.books["BTC-USDT"].seq_id == 204
    assert feed.books["BTC-USDT"].raw_bids() == [("100.00", "1.0"), ("99.00", "2.0")]
    assert [b.seq_id for b in seen.books] == [200, 203, 204]
    assert feed.counters.gaps == 0


async def test_a_gap_resyncs_that_symbol_alone() -> None:
    rest = FakeRest(snap(300, bid="100.10"))
    feed, seen = make_feed("BTC-USDT", "ETH-USDT", rest=rest)
    feed.keeper.load_snapshot(BTC, snap(200))
    feed.keeper.load_snapshot(ETH, snap(500, bid="10.00", ask="11.00"))
    eth_before = feed.books["ETH-USDT"].copy_levels()
    feed.handle_message(depth(BTC, 205, 210), RECV_NS)  # 201..204 were missed
    assert feed.counters.gaps == 1 and feed.counters.resyncs == 1
    assert not feed.books["BTC-USDT"], "the broken book is cleared at once"
    assert feed.keeper.syncs[ETH].state is SyncState.LIVE
    assert feed.books["ETH-USDT"].copy_levels() == eth_before
    await wait_until(lambda: feed.keeper.ready.is_set(), what="BTC back from a fresh snapshot")
    assert feed.books["BTC-USDT"].best_bid_px == 100.1
    assert rest.calls == [(BTC, 1000)], "only BTC was fetched again"
    assert {"gap", "resync"} <= set(seen.kinds())


def test_a_crossed_book_is_counted_and_resynced() -> None:
    feed, _ = make_feed("BTC-USDT")
    feed.keeper.load_snapshot(BTC, snap(200))
    feed.handle_message(depth(BTC, 201, 201, bids=[("101.50", "1.0")]), RECV_NS)
    assert feed.counters.crossed_books == 1 and feed.counters.resyncs == 1
    assert not feed.books["BTC-USDT"]


async def test_a_failed_snapshot_is_reported_and_retried_later() -> None:
    class FailingRest(FakeRest):
        async def get_depth(self, native: str, limit: int = 1000) -> RestDepth:
            self.calls.append((native, limit))
            raise ConnectionError("refused")

    rest = FailingRest(snap(0))
    feed, seen = make_feed("BTC-USDT", rest=rest)
    feed.handle_message(depth(BTC, 101, 102), RECV_NS)
    await wait_until(lambda: "resync" in seen.kinds(), what="the failure to be reported")
    assert feed.keeper.syncs[BTC].state is SyncState.WAITING
    feed.handle_message(depth(BTC, 103, 104), RECV_NS)
    assert len(rest.calls) == 1, "no new fetch before the retry delay"


async def test_a_snapshot_with_an_unusable_level_is_refused() -> None:
    rest = FakeRest(RestDepth(100, [("100.00", "1.0"), ("-5", "1.0")], [("101.00", "1.0")]))
    feed, seen = make_feed("BTC-USDT", rest=rest)
    feed.handle_message(depth(BTC, 101, 102), RECV_NS)
    await wait_until(lambda: "resync" in seen.kinds(), what="the refusal to be reported")
    assert not feed.books["BTC-USDT"]
    assert feed.counters.bad_values == 1


def test_a_level_with_an_unusable_price_resyncs_the_book() -> None:
    feed, _ = make_feed("BTC-USDT")
    feed.keeper.load_snapshot(BTC, snap(200))
    feed.handle_message(depth(BTC, 201, 201, bids=[("inf", "1.0")]), RECV_NS)
    assert feed.counters.decode_errors == 1 and feed.counters.bad_values == 1
    assert feed.counters.resyncs == 1


def test_a_lost_connection_clears_every_book() -> None:
    from desk.core.enums import ConnectionState

    feed, _ = make_feed("BTC-USDT", "ETH-USDT")
    feed.keeper.load_snapshot(BTC, snap(200))
    feed.keeper.load_snapshot(ETH, snap(300))
    feed._on_state(feed.link, ConnectionState.DISCONNECTED, "connection lost")
    assert not feed.books["BTC-USDT"] and not feed.books["ETH-USDT"]
    assert not feed.keeper.ready.is_set()
