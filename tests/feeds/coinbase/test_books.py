"""Coinbase sequencing and book repair, frame by frame (no socket): which books a break resyncs,
what is sent to resync them, and that every other book is left alone."""

from __future__ import annotations

import json
import time

import pytest

from desk.core.bus import Bus
from desk.core.enums import ConnectionState
from desk.core.events import BookChanged
from desk.feeds.coinbase.books import BookState, CoinbaseBookKeeper
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.coinbase.feed import CoinbaseFeed, SendBudget
from desk.feeds.counters import FeedCounters
from desk.feeds.validation import ValidationConfig
from tests.feeds.coinbase.samples import L2_TS_NS, heartbeat, l2

RECV = L2_TS_NS + 50_000_000
BTC, ETH = "BTC-USD", "ETH-USD"


class Setup:
    def __init__(self, **config: object) -> None:
        self.bus = Bus()
        self.books: list[BookChanged] = []
        self.sent: list[dict[str, object]] = []
        self.bus.subscribe("market_data:*", self._on)
        cfg = CoinbaseConfig(validation=ValidationConfig(max_clock_skew=0), **config)  # type: ignore[arg-type]
        self.feed = CoinbaseFeed(
            cfg, (BTC, ETH), ("level2",), self.bus, send=lambda t: self.sent.append(json.loads(t))
        )
        self.seq = -1

    def _on(self, event: object) -> None:
        if isinstance(event, BookChanged):
            self.books.append(event)

    def send(self, frame: bytes) -> None:
        self.feed.handle_message(frame, RECV)

    def next(self) -> int:
        self.seq += 1
        return self.seq

    def live(self) -> None:
        """Both books from a snapshot of two levels a side."""
        for product, px in ((BTC, 100), (ETH, 10)):
            levels = [("bid", str(px - 1), "1"), ("bid", str(px - 2), "2"),
                      ("offer", str(px + 1), "1"), ("offer", str(px + 2), "2")]  # fmt: skip
            self.send(l2(self.next(), "snapshot", levels, product))
        assert self.feed.keeper.ready.is_set()
        self.sent.clear()

    def update(self, product: str, side: str, px: str, qty: str, seq: int | None = None) -> None:
        self.send(
            l2(self.next() if seq is None else seq, levels=[(side, px, qty)], product=product)
        )

    def state(self, product: str) -> BookState:
        return self.feed.keeper.by_product[product].state


def test_a_hole_shown_by_a_book_update_resyncs_that_book_alone() -> None:
    s = Setup()
    s.live()
    s.update(BTC, "bid", "99.5", "3")
    s.seq += 3  # three messages lost
    s.update(BTC, "bid", "99.7", "1")
    c = s.feed.counters
    assert (c.gaps, c.resyncs, s.feed.sequence.missing) == (1, 1, 3)
    assert s.sent == [
        {"type": "unsubscribe", "channel": "level2", "product_ids": [BTC]},
        {"type": "subscribe", "channel": "level2", "product_ids": [BTC]},
    ]
    assert s.state(BTC) is BookState.RESYNCING and not s.feed.books[BTC]
    assert s.state(ETH) is BookState.LIVE and len(s.feed.books[ETH]) == 4
    assert not s.feed.keeper.ready.is_set()
    s.update(BTC, "bid", "99.8", "1")  # the old subscription's tail: ignored
    assert not s.feed.books[BTC]
    s.send(l2(s.next(), "snapshot", [("bid", "98", "1"), ("offer", "101", "1")], BTC))
    assert s.state(BTC) is BookState.LIVE and s.feed.keeper.ready.is_set()
    assert s.feed.books[BTC].raw_bids() == [("98", "1")]  # nothing of the old book survives


def test_a_hole_shown_by_another_channel_resyncs_every_book() -> None:
    s = Setup()
    s.live()
    s.send(heartbeat(s.next() + 1, 1))
    assert s.feed.counters.gaps == 1 and s.feed.counters.resyncs == 2
    assert s.sent[0] == {"type": "unsubscribe", "channel": "level2", "product_ids": [BTC, ETH]}
    assert s.state(BTC) is s.state(ETH) is BookState.RESYNCING


def test_connection_mode_resyncs_every_book_on_any_hole() -> None:
    s = Setup(gap_resync="connection")
    s.live()
    s.update(BTC, "bid", "99.5", "3", seq=s.seq + 2)
    assert s.feed.counters.resyncs == 2
    assert s.state(BTC) is s.state(ETH) is BookState.RESYNCING


def test_a_hole_before_a_snapshot_needs_no_resync() -> None:
    s = Setup()
    s.live()
    s.send(l2(s.seq + 5, "snapshot", [("bid", "97", "1"), ("offer", "103", "1")], BTC))
    assert s.feed.counters.gaps == 1 and s.feed.counters.resyncs == 0
    assert s.feed.books[BTC].raw_asks() == [("103", "1")]


def test_stale_and_repeated_numbers_are_ignored() -> None:
    s = Setup()
    s.live()
    s.update(BTC, "bid", "99.5", "3")
    s.update(BTC, "bid", "99.5", "7", seq=s.seq)  # the same number again
    s.update(BTC, "bid", "99.6", "7", seq=s.seq - 1)  # older
    assert s.feed.books[BTC].raw_bids()[0] == ("99.5", "3")
    assert s.feed.sequence.stale == 2 and s.feed.counters.gaps == 0


def test_an_update_before_the_snapshot_resyncs_that_book() -> None:
    s = Setup()
    s.send(l2(s.next(), "snapshot", [("bid", "9", "1"), ("offer", "11", "1")], ETH))
    s.update(BTC, "bid", "99", "1")
    assert s.feed.counters.resyncs == 1 and s.state(BTC) is BookState.RESYNCING
    assert s.state(ETH) is BookState.LIVE


def test_a_crossed_book_is_counted_and_resynced() -> None:
    s = Setup()
    s.live()
    s.update(BTC, "bid", "102", "1")  # above the best ask of 101
    assert s.feed.counters.crossed_books == 1
    assert s.state(BTC) is BookState.RESYNCING and s.state(ETH) is BookState.LIVE


def test_bad_levels_resync_their_book_and_the_other_event_still_applies() -> None:
    s = Setup()
    s.live()
    msg = json.loads(l2(s.next(), levels=[("bid", "nan", "1")], product=BTC))
    msg["events"].append(json.loads(l2(0, levels=[("bid", "9.5", "4")], product=ETH))["events"][0])
    s.send(json.dumps(msg).encode())
    assert s.feed.counters.decode_errors == 1 and s.feed.counters.resyncs == 1
    assert s.state(BTC) is BookState.RESYNCING
    assert s.feed.books[ETH].raw_bids()[0] == ("9.5", "4")


def test_a_refused_message_keeps_its_number_and_resyncs_its_books() -> None:
    s = Setup()
    s.live()
    event = {"type": "update", "product_id": BTC, "updates": "not a list"}
    broken = {"channel": "l2_data", "timestamp": "2023-02-09T20:32:50Z", "sequence_num": s.next(),
              "events": [event]}  # fmt: skip
    s.send(json.dumps(broken).encode())
    s.update(ETH, "bid", "9.5", "4")
    assert s.feed.counters.decode_errors == 1 and s.feed.counters.gaps == 0
    assert s.state(BTC) is BookState.RESYNCING
    assert s.feed.books[ETH].raw_bids()[0] == ("9.5", "4")


def test_a_lost_connection_clears_every_book_and_the_numbering() -> None:
    s = Setup()
    s.live()
    s.feed._on_state(ConnectionState.DISCONNECTED, "connection lost")
    assert not s.feed.books[BTC] and not s.feed.books[ETH]
    s.feed.sequence.reset()  # what the next connection's on_open does
    s.send(l2(0, "snapshot", [("bid", "98", "1"), ("offer", "101", "1")], BTC))
    assert s.feed.counters.gaps == 0 and s.state(BTC) is BookState.LIVE


def test_the_send_budget_allows_so_many_messages_a_second() -> None:
    budget = SendBudget(4)
    assert budget.take(2, now=10.0) and budget.take(2, now=10.5)
    assert not budget.take(1, now=10.9)
    assert budget.take(1, now=10.9, force=True)
    assert budget.take(2, now=11.95)


def test_resyncs_held_back_by_the_budget_are_sent_later() -> None:
    calls: list[list[str]] = []
    allowed = [False]

    def resubscribe(products: list[str]) -> bool:
        if allowed[0]:
            calls.append(products)
        return allowed[0]

    keeper = CoinbaseBookKeeper(
        {BTC: BTC, ETH: ETH},
        publish=lambda topic, event: None,
        counters=FeedCounters("t"),
        report=lambda *a: None,
        resubscribe=resubscribe,
    )
    for pb in keeper.by_product.values():
        pb.state = BookState.LIVE
    keeper.on_gap([BTC], "test")
    keeper.on_gap([ETH], "test")
    assert calls == [] and all(pb.send_due for pb in keeper.by_product.values())
    allowed[0] = True
    keeper.check_stuck()
    assert calls == [[BTC, ETH]]
    assert not any(pb.send_due for pb in keeper.by_product.values())


def test_a_snapshot_that_never_comes_is_asked_for_again() -> None:
    calls: list[list[str]] = []
    keeper = CoinbaseBookKeeper(
        {BTC: BTC},
        publish=lambda topic, event: None,
        counters=FeedCounters("t"),
        report=lambda *a: None,
        resubscribe=lambda products: calls.append(products) is None,
    )
    keeper.check_stuck(time.monotonic())
    assert calls == []
    keeper.check_stuck(time.monotonic() + 11)
    assert calls == [[BTC]]


@pytest.mark.parametrize("symbols", [("BTC-USD", "BTC-USD")])
def test_config_refuses_a_symbol_listed_twice(symbols: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="listed twice"):
        CoinbaseConfig(symbols=symbols)
