"""``OrderBook.apply_pairs`` is ``apply_update`` for Binance's ``(price, size)`` diffs: the two
side by side.

The fast path is a second apply loop over the book's cells, so these tests are where a change to
``desk.market.book_side`` shows first: random diffs (sizes changed, levels added near and far,
levels removed, the best removed, stale prices revived above the best, prices spelt two ways,
enough new prices to compact) must leave both books equal, level for level and cell for cell.
"""

from __future__ import annotations

import random

import pytest

from desk.market.book import OrderBook
from tests.market.book_twins import assert_same

pytestmark = pytest.mark.usefixtures("book_impl")  # pure and compiled (conftest.py)

Level = tuple[str, str]


def _px(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}000000"


def _sz(rng: random.Random) -> str:
    return f"{rng.uniform(0.00001, 3.0):.8f}"


def _diff(rng: random.Random, bids: dict[int, str], asks: dict[int, str]) -> tuple[list, list]:
    """A random diff, also applied to the plain ``bids``/``asks`` dicts (ticks -> size)."""
    changed: tuple[dict[int, str], dict[int, str]] = ({}, {})
    for _ in range(rng.randint(0, 25)):
        is_bid = rng.random() < 0.5
        side, out = (bids, changed[0]) if is_bid else (asks, changed[1])
        away = 1 if is_bid else -1  # from the best into the book
        best = (max(bids) if bids else 6_000_000) if is_bid else (min(asks) if asks else 6_000_001)
        roll = rng.random()
        if roll < 0.25 and side:  # remove a level, often the best
            price = best if rng.random() < 0.3 else rng.choice(list(side))
            del side[price]
            out[price] = rng.choice(("0.00000000", "0"))
        elif roll < 0.35:  # remove a price that may never have been there
            price = best - away * rng.randint(0, 500)
            side.pop(price, None)
            out[price] = "0.00000000"
        elif roll < 0.7:  # add (or change) a level near the best, now and then a new best
            price = best - away * rng.randint(-2, 300)
            if (is_bid and asks and price >= min(asks)) or (
                not is_bid and bids and price <= max(bids)
            ):
                continue  # it would cross the book
            side[price] = out[price] = _sz(rng)
        elif side:  # change the size of a level
            price = rng.choice(list(side))
            side[price] = out[price] = _sz(rng)
    return (
        [(_px(p), q) for p, q in sorted(changed[0].items(), reverse=True)],
        [(_px(p), q) for p, q in sorted(changed[1].items())],
    )


@pytest.mark.parametrize("seed", range(6))
def test_random_diffs_leave_the_same_book_as_apply_update(seed: int) -> None:
    rng = random.Random(seed)
    bids = {6_000_000 - i: _sz(rng) for i in range(rng.randint(0, 60))}
    asks = {6_000_001 + i: _sz(rng) for i in range(rng.randint(0, 60))}
    fast, shared = OrderBook("BTC-USDT", "binance"), OrderBook("BTC-USDT", "binance")
    for book in (fast, shared):
        book.apply_snapshot(
            [(_px(p), q) for p, q in sorted(bids.items(), reverse=True)],
            [(_px(p), q) for p, q in sorted(asks.items())],
            1,
        )
    compacted = 0
    for i in range(1500):  # enough new prices to compact the sides more than once
        b, a = _diff(rng, bids, asks)
        before = fast._bids.new_prices + fast._asks.new_prices
        fast.apply_pairs(b, a, i + 2, i * 1000)
        shared.apply_update(b, a, i + 2, i * 1000)
        compacted += fast._bids.new_prices + fast._asks.new_prices < before
        assert_same(fast, shared, whole=i % 20 == 0)
    assert_same(fast, shared)
    assert compacted >= 1
    assert fast.raw_bids() == [(_px(p), q) for p, q in sorted(bids.items(), reverse=True)]
    assert fast.raw_asks() == [(_px(p), q) for p, q in sorted(asks.items())]


def test_a_price_spelt_another_way_takes_over_its_level() -> None:
    fast, shared = OrderBook("X", "binance"), OrderBook("X", "binance")
    for book in (fast, shared):
        book.apply_snapshot([("100.00", "1"), ("99.00", "2")], [("101.00", "1")], 1)
    for b in ([("100.0", "3")], [("100", "0"), ("98.50", "1")], [("100.00", "4")]):
        fast.apply_pairs(b, [], 2, 0)
        shared.apply_update(b, [], 2, 0)
        assert_same(fast, shared)


@pytest.mark.parametrize("size", ["NaN", "inf", "Infinity", "abc"])
def test_a_size_that_is_not_a_number_is_refused_as_by_the_book(size: str) -> None:
    fast, shared = OrderBook("X", "binance"), OrderBook("X", "binance")
    for book in (fast, shared):
        book.apply_snapshot([("100.00", "1")], [("101.00", "1")], 1)
    with pytest.raises(ValueError, match="unusable size"):
        fast.apply_pairs([("100.00", size)], [], 2, 0)
    with pytest.raises(ValueError, match="unusable size"):
        shared.apply_update([("100.00", size)], [], 2, 0)


def test_a_price_outside_the_limits_is_refused_as_by_the_book() -> None:
    book = OrderBook("X", "binance")
    book.apply_snapshot([("100.00", "1")], [("101.00", "1")], 1)
    book.set_price_limits(10.0, 1000.0)
    with pytest.raises(ValueError, match="unusable price"):
        book.apply_pairs([("5000.00", "1")], [], 2, 0)


def test_a_book_that_keeps_checksum_strings_takes_the_shared_path() -> None:
    fast, shared = OrderBook("X", "binance"), OrderBook("X", "binance")
    for book in (fast, shared):
        book.apply_snapshot([("100.00", "1"), ("99.00", "2")], [("101.00", "1")], 1)
        book.checksum()
    fast.apply_pairs([("100.00", "0"), ("99.50", "5")], [("100.50", "1")], 2, 0)
    shared.apply_update([("100.00", "0"), ("99.50", "5")], [("100.50", "1")], 2, 0)
    assert fast.checksum() == shared.checksum()
    assert_same(fast, shared)
