"""``apply_levels`` is ``split_levels`` + ``OrderBook.apply_update``: the two side by side.

The one-pass path reaches into the book's layout, so these tests are where a change to
``desk.market.book_side`` shows first: random ``l2_data`` updates (both sides interleaved, sizes
changed, levels added and removed, the best removed, stale prices revived above the best, a price
twice in one update, enough new prices to compact) must leave both books equal, cell for cell.
"""

from __future__ import annotations

import random

import pytest

from desk.feeds.coinbase.levels import apply_levels, split_levels
from desk.feeds.coinbase.wire import L2Level
from desk.market.book import OrderBook
from tests.market.book_twins import assert_same


def _px(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}".rstrip("0").rstrip(".")


def _update(rng: random.Random, bids: set[int], asks: set[int]) -> list[L2Level]:
    """Random levels of both sides in one update, in wire order; ``bids``/``asks`` track the
    prices desk should hold."""
    levels = []
    for _ in range(rng.randint(0, 30)):
        is_bid = rng.random() < 0.5
        side, away = (bids, 1) if is_bid else (asks, -1)
        best = (max(bids) if bids else 6_000_000) if is_bid else (min(asks) if asks else 6_000_001)
        roll = rng.random()
        if roll < 0.3 and side:  # remove a level, often the best
            price = best if rng.random() < 0.3 else rng.choice(sorted(side))
            side.discard(price)
            size = "0"
        elif roll < 0.4:  # remove a price that may never have been there
            price = best - away * rng.randint(0, 500)
            side.discard(price)
            size = "0"
        else:  # add or change a level near the best, now and then a new best
            price = best - away * rng.randint(-2, 300)
            if (is_bid and asks and price >= min(asks)) or (
                not is_bid and bids and price <= max(bids)
            ):
                continue  # it would cross the book
            side.add(price)
            size = f"{rng.uniform(0.00001, 2.0):.8f}"
        levels.append(L2Level("bid" if is_bid else "offer", _px(price), size))
    return levels


def _pair(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> tuple[OrderBook, ...]:
    books = OrderBook("BTC-USD", "coinbase"), OrderBook("BTC-USD", "coinbase")
    for book in books:
        book.apply_snapshot(bids, asks, 0)
    return books


@pytest.mark.parametrize("seed", range(6))
def test_random_updates_leave_the_same_book_as_apply_update(seed: int) -> None:
    rng = random.Random(seed)
    bids = {6_000_000 - i for i in range(rng.randint(0, 60))}
    asks = {6_000_001 + i for i in range(rng.randint(0, 60))}
    fast, shared = _pair(
        [(_px(p), "1") for p in sorted(bids, reverse=True)], [(_px(p), "1") for p in sorted(asks)]
    )
    compacted = 0
    for seq in range(1, 1500):  # enough new prices to compact the sides more than once
        levels = _update(rng, bids, asks)
        before = fast._bids.new_prices + fast._asks.new_prices
        apply_levels(fast, levels, seq, seq * 1000)
        shared.apply_update(*split_levels(levels), seq, seq * 1000)
        compacted += fast._bids.new_prices + fast._asks.new_prices < before
        assert_same(fast, shared, whole=seq % 20 == 0)
    assert_same(fast, shared)
    assert compacted >= 1
    assert [px for px, _ in fast.raw_bids()] == [_px(p) for p in sorted(bids, reverse=True)]
    assert [px for px, _ in fast.raw_asks()] == [_px(p) for p in sorted(asks)]


def test_a_price_twice_in_one_update_ends_at_its_last_size() -> None:
    fast, shared = _pair([("100", "1")], [("101", "1")])
    levels = [
        L2Level("bid", "100.5", "2"),
        L2Level("offer", "101", "0"),
        L2Level("bid", "100.5", "0"),
        L2Level("offer", "101", "3"),
    ]
    apply_levels(fast, levels, 1, 0)
    shared.apply_update(*split_levels(levels), 1, 0)
    assert_same(fast, shared)
    assert fast.copy_levels() == ([("100", "1")], [("101", "3")])


def test_anything_but_bid_is_an_ask() -> None:
    fast, shared = _pair([("100", "1")], [("101", "1")])
    levels = [L2Level("offer", "102", "1"), L2Level("ask", "100.5", "2")]
    apply_levels(fast, levels, 1, 0)
    shared.apply_update(*split_levels(levels), 1, 0)
    assert_same(fast, shared)
    assert fast.best_ask_px == 100.5


@pytest.mark.parametrize("size", ["NaN", "inf", "Infinity", "abc"])
def test_a_size_that_is_not_a_number_is_refused_as_by_the_book(size: str) -> None:
    fast, shared = _pair([("100", "1")], [("101", "1")])
    with pytest.raises(ValueError, match="unusable size"):
        apply_levels(fast, [L2Level("offer", "101", size)], 1, 0)
    with pytest.raises(ValueError, match="unusable size"):
        shared.apply_update(*split_levels([L2Level("offer", "101", size)]), 1, 0)


def test_a_book_that_keeps_checksum_strings_takes_the_shared_path() -> None:
    fast, shared = _pair([("100", "1"), ("99", "2")], [("101", "1")])
    for book in (fast, shared):
        book.checksum()
    levels = [
        L2Level("bid", "100", "0"),
        L2Level("bid", "99.5", "5"),
        L2Level("offer", "100.5", "1"),
    ]
    apply_levels(fast, levels, 1, 0)
    shared.apply_update(*split_levels(levels), 1, 0)
    assert fast.checksum() == shared.checksum()
    assert_same(fast, shared)
