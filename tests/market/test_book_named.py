"""``OrderBook.apply_named`` is ``apply_update`` for levels read by attribute (OKX's decoded
``BookLevel``): the two side by side, without and with checksum strings kept.

The named path has two loops of its own (the bare one of ``apply_pairs``, and one that edits the
checksum strings inline instead of calling ``TopStrings.note``), so random diffs (sizes changed,
levels added near and far, levels removed, the best removed, stale prices revived above the best,
prices spelt two ways, enough new prices to compact) must leave both books equal, level for level
and cell for cell, and the kept checksum equal to the plain definition on every step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from desk.market.book import OrderBook
from desk.market.checksum import okx_checksum
from tests.market.book_twins import assert_same
from tests.market.test_book_pairs import _diff, _px, _sz

pytestmark = pytest.mark.usefixtures("book_impl")  # pure and compiled (conftest.py)


@dataclass(frozen=True, slots=True)
class Named:
    """A level with ``px`` and ``sz`` attributes, like OKX's decoded ``BookLevel``."""

    px: str
    sz: str


def named(levels: list[tuple[str, str]]) -> list[Named]:
    return [Named(px, sz) for px, sz in levels]


def _twins(rng: random.Random, *, checksum: bool) -> tuple[OrderBook, OrderBook, dict, dict]:
    bids = {6_000_000 - i: _sz(rng) for i in range(rng.randint(0, 60))}
    asks = {6_000_001 + i: _sz(rng) for i in range(rng.randint(0, 60))}
    fast, shared = OrderBook("BTC-USDT"), OrderBook("BTC-USDT")
    for book in (fast, shared):
        book.apply_snapshot(
            [(_px(p), q) for p, q in sorted(bids.items(), reverse=True)],
            [(_px(p), q) for p, q in sorted(asks.items())],
            1,
        )
        if checksum:
            book.checksum()  # from here on both keep the checksum strings
    return fast, shared, bids, asks


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_random_diffs_leave_the_same_book_as_apply_update(seed: int, checksum: bool) -> None:
    rng = random.Random(seed)
    fast, shared, bids, asks = _twins(rng, checksum=checksum)
    compacted = 0
    for i in range(1200):  # enough new prices to compact the sides more than once
        b, a = _diff(rng, bids, asks)
        before = fast._bids.new_prices + fast._asks.new_prices
        fast.apply_named(named(b), named(a), i + 2, i * 1000)
        shared.apply_update(b, a, i + 2, i * 1000)
        compacted += fast._bids.new_prices + fast._asks.new_prices < before
        assert_same(fast, shared, whole=i % 20 == 0)
        if checksum:
            expected = okx_checksum(
                [(_px(p), q) for p, q in sorted(bids.items(), reverse=True)],
                [(_px(p), q) for p, q in sorted(asks.items())],
            )
            assert fast.checksum() == shared.checksum() == expected, f"step {i}"
    assert_same(fast, shared)
    assert compacted >= 1
    assert fast.raw_bids() == [(_px(p), q) for p, q in sorted(bids.items(), reverse=True)]
    assert fast.raw_asks() == [(_px(p), q) for p, q in sorted(asks.items())]


@pytest.mark.parametrize("checksum", [False, True])
def test_a_price_spelt_another_way_takes_over_its_level(checksum: bool) -> None:
    fast, shared = OrderBook("X"), OrderBook("X")
    for book in (fast, shared):
        book.apply_snapshot([("100.00", "1"), ("99.00", "2")], [("101.00", "1")], 1)
        if checksum:
            book.checksum()
    for b in ([("100.0", "3")], [("100", "0"), ("98.50", "1")], [("100.00", "4")]):
        fast.apply_named(named(b), [], 2, 0)
        shared.apply_update(b, [], 2, 0)
        assert_same(fast, shared)
        if checksum:
            assert fast.checksum() == shared.checksum()
    assert fast.raw_bids() == [("100.00", "4"), ("99.00", "2"), ("98.50", "1")]


def test_a_level_repeated_in_one_message_ends_as_its_last_size() -> None:
    fast, shared = OrderBook("X"), OrderBook("X")
    for book in (fast, shared):
        book.apply_snapshot([("100", "1"), ("99", "2")], [("101", "1")], 1)
        book.checksum()
    b = [("100", "0"), ("100.5", "2"), ("100", "3"), ("100.5", "0")]
    fast.apply_named(named(b), [], 2, 0)
    shared.apply_update(b, [], 2, 0)
    assert_same(fast, shared)
    assert fast.raw_bids() == [("100", "3"), ("99", "2")]
    assert fast.checksum() == shared.checksum() == okx_checksum(fast.raw_bids(), fast.raw_asks())


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("size", ["NaN", "inf", "Infinity", "abc"])
def test_a_size_that_is_not_a_number_is_refused_as_by_the_book(size: str, checksum: bool) -> None:
    fast, shared = OrderBook("X"), OrderBook("X")
    for book in (fast, shared):
        book.apply_snapshot([("100.00", "1")], [("101.00", "1")], 1)
        if checksum:
            book.checksum()
    with pytest.raises(ValueError, match="unusable size"):
        fast.apply_named([Named("100.00", size)], [], 2, 0)
    with pytest.raises(ValueError, match="unusable size"):
        shared.apply_update([("100.00", size)], [], 2, 0)


def test_a_refused_level_makes_the_checksum_strings_walked_afresh() -> None:
    book = OrderBook("X")
    book.apply_snapshot([("100", "1"), ("99", "2")], [("101", "1")], 1)
    book.checksum()
    with pytest.raises(ValueError, match="unusable size"):
        book.apply_named([Named("99.5", "4"), Named("99", "NaN")], [], 2, 0)
    # half applied (the book must be resynced), but a checksum of it is still its own text
    assert book.checksum() == okx_checksum(book.raw_bids(), book.raw_asks())


def test_a_price_outside_the_limits_is_refused_as_by_the_book() -> None:
    book = OrderBook("X")
    book.apply_snapshot([("100.00", "1")], [("101.00", "1")], 1)
    book.set_price_limits(10.0, 1000.0)
    with pytest.raises(ValueError, match="unusable price"):
        book.apply_named([Named("5000.00", "1")], [], 2, 0)
