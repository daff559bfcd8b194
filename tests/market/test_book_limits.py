"""What the order book refuses on its own: prices outside its limits, sizes that are words."""

from __future__ import annotations

import pytest

from desk.market.book import MAX_PRICE, OrderBook
from tests.market.test_book import doc_book, lv


@pytest.mark.parametrize("px", ["NaN", "inf", "-inf", "-1", "0", "1e308", "", "abc", "1" * 400])
def test_a_new_price_outside_the_default_limits_is_refused(px: str) -> None:
    with pytest.raises(ValueError, match="unusable price"):
        doc_book().apply_update([lv(px, "1")], [])
    with pytest.raises(ValueError, match="unusable price"):
        OrderBook("X").apply_snapshot([lv(px, "1")], [])


def test_price_limits_narrow_what_a_new_level_may_be_and_survive_a_clear() -> None:
    book = doc_book()
    book.set_price_limits(8000.0, 9000.0)
    book.apply_update([lv("8400", "1")], [lv("8600", "1")])
    with pytest.raises(ValueError, match="not between 8000 and 9000"):
        book.apply_update([lv("7999", "1")], [])
    book.clear()
    assert book.price_limits == (8000.0, 9000.0)
    with pytest.raises(ValueError):
        book.apply_snapshot([lv("90000", "1")], [])
    with pytest.raises(ValueError):
        book.set_price_limits(10.0, 5.0)
    with pytest.raises(ValueError):
        book.set_price_limits(0.0, MAX_PRICE * 2)


@pytest.mark.parametrize("sz", ["NaN", "nan", "inf", "Infinity", "abc", "~"])
def test_a_size_that_is_a_word_is_refused_at_any_price(sz: str) -> None:
    with pytest.raises(ValueError, match="unusable size"):
        doc_book().apply_update([lv("8476.97", sz)], [])  # a price the book has
    with pytest.raises(ValueError, match="unusable size"):
        doc_book().apply_update([lv("8400.5", sz)], [])  # a new one


@pytest.mark.parametrize("sz", ["-1", "", "-0", "+1", " 1"])
def test_a_signed_or_blank_size_is_refused_at_a_new_price_and_in_a_snapshot(sz: str) -> None:
    with pytest.raises(ValueError, match="unusable size"):
        doc_book().apply_update([lv("8400.5", sz)], [])
    with pytest.raises(ValueError, match="unusable size"):
        OrderBook("X").apply_snapshot([lv("100", sz)], [])


def test_at_a_known_price_a_signed_size_deletes_the_level_like_zero() -> None:
    book = doc_book()
    book.apply_update([lv("8476.97", "-1")], [])
    assert ("8476.97", "-1") not in book.raw_bids()
    assert book.best_bid == (8475.55, 101.0)
    assert all(size >= 0 for _, size in book.bids())


def test_error_messages_quote_at_most_a_short_excerpt() -> None:
    with pytest.raises(ValueError) as info:
        doc_book().apply_update([lv("8400.5", "x" * 200_000)], [])
    assert len(str(info.value)) < 300 and "200,000" in str(info.value)
