"""The local order book: what a feed and its readers rely on after snapshots and increments."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.market import book_side
from desk.market.book import OrderBook
from desk.market.checksum import okx_checksum
from tests.market.doc_samples import DOC_ASKS, DOC_BIDS

pytestmark = pytest.mark.usefixtures("book_impl")  # pure and compiled (conftest.py)


def lv(px: str, sz: str) -> list[str]:
    """An OKX level: [price, size, deprecated "0", order count]."""
    return [px, sz, "0", "1"]


def doc_book() -> OrderBook:
    book = OrderBook("BTC-USDT")
    book.apply_snapshot(DOC_BIDS, DOC_ASKS, seq_id=123456, ts_exchange=1_597_026_383_085_000_000)
    return book


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshot_loads_both_sides_in_book_order() -> None:
    book = doc_book()
    assert book.raw_bids() == [(b[0], b[1]) for b in DOC_BIDS]
    assert book.raw_asks() == [(a[0], a[1]) for a in DOC_ASKS]
    assert (book.depth_bids, book.depth_asks, len(book)) == (8, 8, 16)
    assert book.seq_id == 123456
    assert book.ts_exchange == 1_597_026_383_085_000_000


def test_snapshot_clears_old_levels_so_no_ghost_levels_survive() -> None:
    book = doc_book()
    book.apply_snapshot([lv("100", "1")], [lv("101", "2")], seq_id=7)
    assert book.raw_bids() == [("100", "1")]
    assert book.raw_asks() == [("101", "2")]
    assert book.seq_id == 7


def test_snapshot_accepts_levels_in_any_order_and_sorts_them() -> None:
    book = OrderBook("X")
    book.apply_snapshot([lv("99", "1"), lv("101", "1"), lv("100", "1")], [])
    assert [px for px, _ in book.bids()] == [101.0, 100.0, 99.0]


def test_snapshot_skips_zero_size_levels() -> None:
    book = OrderBook("X")
    book.apply_snapshot([lv("100", "0"), lv("99", "1")], [lv("101", "0.0000")])
    assert book.raw_bids() == [("99", "1")]
    assert book.raw_asks() == []


def test_resync_snapshot_over_a_live_book_matches_a_fresh_one() -> None:
    book = doc_book()
    book.apply_update([lv("8476.99", "3")], [lv("8477", "0")])
    book.apply_snapshot(DOC_BIDS, DOC_ASKS, seq_id=1)
    assert book.copy_levels() == doc_book().copy_levels()
    assert book.checksum() == doc_book().checksum()


# -- increments --------------------------------------------------------------------------------


def test_update_with_zero_size_deletes_level() -> None:
    book = doc_book()
    book.apply_update([lv("8475.55", "0")], [lv("8477", "0")], seq_id=123457)
    assert "8475.55" not in dict(book.raw_bids())
    assert "8477" not in dict(book.raw_asks())
    assert (book.depth_bids, book.depth_asks) == (7, 7)
    assert book.seq_id == 123457


@pytest.mark.parametrize("zero", ["0", "0.0", "0.00000000", "0."])
def test_any_spelling_of_zero_deletes_level(zero: str) -> None:
    book = doc_book()
    book.apply_update([lv("8475.55", zero)], [])
    assert book.depth_bids == 7


def test_delete_of_a_missing_price_is_harmless() -> None:
    book = doc_book()
    before = book.copy_levels()
    book.apply_update([lv("1.5", "0")], [lv("99999", "0")])
    assert book.copy_levels() == before


def test_update_of_existing_price_replaces_its_size() -> None:
    book = doc_book()
    book.apply_update([lv("8475.54", "3.25")], [])
    assert dict(book.raw_bids())["8475.54"] == "3.25"
    assert book.depth_bids == 8


def test_new_price_is_inserted_at_its_place_on_each_side() -> None:
    book = doc_book()
    book.apply_update([lv("8460", "5")], [lv("8490", "6")])
    bid_prices = [px for px, _ in book.bids()]
    ask_prices = [px for px, _ in book.asks()]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert (8460.0, 5.0) in book.bids()
    assert (8490.0, 6.0) in book.asks()


def test_bids_are_descending_and_asks_ascending() -> None:
    book = OrderBook("X")
    book.apply_update([lv("10", "1"), lv("12", "1"), lv("11", "1")], [])
    book.apply_update([], [lv("15", "1"), lv("13", "1"), lv("14", "1")])
    assert book.bids() == [(12.0, 1.0), (11.0, 1.0), (10.0, 1.0)]
    assert book.asks() == [(13.0, 1.0), (14.0, 1.0), (15.0, 1.0)]


def test_empty_heartbeat_update_changes_nothing_but_the_ids() -> None:
    book = doc_book()
    before = book.copy_levels()
    book.apply_update([], [], seq_id=123456, ts_exchange=5)
    assert book.copy_levels() == before
    assert (book.seq_id, book.ts_exchange) == (123456, 5)


def test_levels_may_be_lists_tuples_or_bare_pairs() -> None:
    book = OrderBook("X", venue="binance")
    book.apply_update([("100.5", "2")], [["101", "3", "0", "4"]])
    book.apply_update([("100.4", "1", "0", "2")], [])
    assert book.raw_bids() == [("100.5", "2"), ("100.4", "1")]
    assert book.raw_asks() == [("101", "3")]


def test_same_price_spelt_two_ways_is_one_level() -> None:
    book = OrderBook("X")
    book.apply_update([lv("8477", "1")], [])
    book.apply_update([lv("8477.0", "2")], [])
    assert book.raw_bids() == [("8477.0", "2")]
    book.apply_update([lv("8477", "0")], [])
    assert book.raw_bids() == []


@pytest.mark.parametrize("bad", ["NaN", "inf", "abc"])
def test_a_price_that_is_not_a_number_is_refused(bad: str) -> None:
    book = doc_book()
    with pytest.raises(ValueError):
        book.apply_update([lv(bad, "1")], [])
    with pytest.raises(ValueError):
        OrderBook("X").apply_snapshot([lv(bad, "1")], [])


# -- top of book -------------------------------------------------------------------------------


def test_best_mid_and_spread_come_from_the_top_levels() -> None:
    book = doc_book()
    assert book.best_bid == (8476.97, 256.0)
    assert book.best_ask == (8476.98, 415.0)
    assert book.best_bid_px == 8476.97
    assert book.best_ask_px == 8476.98
    assert book.mid == pytest.approx(8476.975)
    assert book.spread == pytest.approx(0.01)


def test_deleting_the_best_bid_promotes_the_next_one() -> None:
    book = doc_book()
    book.apply_update([lv("8476.97", "0"), lv("8475.55", "0")], [lv("8476.98", "0")])
    assert book.best_bid == (8475.54, 100.0)
    assert book.best_ask == (8477.0, 7.0)


def test_best_deleted_and_added_back_in_one_update_stays_best() -> None:
    book = doc_book()
    book.apply_update([lv("8476.97", "0"), lv("8476.97", "9")], [])
    assert book.best_bid == (8476.97, 9.0)


def test_a_better_price_becomes_the_best_at_once() -> None:
    book = doc_book()
    book.apply_update([lv("8476.975", "1")], [lv("8476.976", "2")])
    assert book.best_bid_px == 8476.975
    assert book.best_ask_px == 8476.976
    assert book.bids(2) == [(8476.975, 1.0), (8476.97, 256.0)]


def test_a_price_returning_above_the_best_becomes_the_best() -> None:
    book = OrderBook("X")
    book.apply_update([lv("100", "1"), lv("99", "1")], [])
    book.apply_update([lv("100", "0")], [])  # best gone; the cell of 100 lingers, stale
    assert book.best_bid_px == 99.0
    book.apply_update([lv("100", "5")], [])
    assert book.best_bid == (100.0, 5.0)


def test_emptying_a_side_leaves_nan_prices_and_none_tops() -> None:
    book = doc_book()
    book.apply_update([lv(b[0], "0") for b in DOC_BIDS], [])
    assert book.best_bid is None
    assert math.isnan(book.best_bid_px)
    assert math.isnan(book.mid)
    assert math.isnan(book.spread)
    assert book.best_ask == (8476.98, 415.0)


def test_empty_book_reads_are_safe() -> None:
    book = OrderBook("X")
    assert book.best_bid is None and book.best_ask is None
    assert math.isnan(book.mid) and math.isnan(book.spread)
    assert math.isnan(book.imbalance())
    assert book.bids() == [] and book.raw_asks(5) == []
    assert not book.is_crossed()
    assert len(book) == 0 and not book
    assert book.seq_id == -1


def test_top_n_returns_at_most_n_levels() -> None:
    book = doc_book()
    assert book.bids(3) == [(8476.97, 256.0), (8475.55, 101.0), (8475.54, 100.0)]
    assert book.asks(2) == [(8476.98, 415.0), (8477.0, 7.0)]
    assert book.raw_bids(1) == [("8476.97", "256")]
    assert book.bids(0) == []
    assert len(book.asks(100)) == 8


def test_imbalance_weighs_bid_against_ask_volume_over_top_n() -> None:
    book = OrderBook("X")
    book.apply_snapshot([lv("99", "3"), lv("98", "100")], [lv("101", "1"), lv("102", "100")])
    assert book.imbalance(1) == pytest.approx((3 - 1) / (3 + 1))
    assert book.imbalance(2) == pytest.approx((103 - 101) / (103 + 101))
    book.apply_update([], [lv("101", "0"), lv("102", "0")])
    assert book.imbalance() == 1.0


def test_crossed_book_is_detected() -> None:
    book = doc_book()
    assert not book.is_crossed()
    book.apply_update([lv("8477.10", "1")], [])
    assert book.is_crossed()
    assert book.spread < 0


def test_touching_best_prices_count_as_crossed() -> None:
    book = OrderBook("X")
    book.apply_snapshot([lv("100", "1")], [lv("100", "1")])
    assert book.is_crossed()


def test_clear_empties_the_book_and_forgets_the_sequence() -> None:
    book = doc_book()
    book.clear()
    assert len(book) == 0
    assert (book.seq_id, book.ts_exchange) == (-1, 0)
    assert math.isnan(book.best_bid_px)


# -- raw strings and checksum ------------------------------------------------------------------


def test_raw_strings_are_kept_exactly_as_received() -> None:
    book = OrderBook("X")
    book.apply_update([lv("8446", "95"), lv("0.10", "1.50000000")], [lv("8477.340", "0.1")])
    assert book.raw_bids() == [("8446", "95"), ("0.10", "1.50000000")]
    assert book.raw_asks() == [("8477.340", "0.1")]
    assert book.copy_levels() == (book.raw_bids(), book.raw_asks())


def test_checksum_of_the_docs_books_example() -> None:
    # PROTOCOLS.md A.6: the example's own -855196043 does not match its data.
    assert doc_book().checksum() == -2102840145


def test_checksum_follows_the_book_through_updates() -> None:
    book = doc_book()
    book.apply_update(
        [lv("8476.97", "0"), lv("8476.5", "3")], [lv("8477", "8"), lv("8476.99", "1")]
    )
    expected_bids = [("8476.5", "3"), *((b[0], b[1]) for b in DOC_BIDS[1:])]
    expected_asks = [
        ("8476.98", "415"),
        ("8476.99", "1"),
        ("8477", "8"),
        *((a[0], a[1]) for a in DOC_ASKS[2:]),
    ]
    assert book.copy_levels() == (expected_bids, expected_asks)
    assert book.checksum() == okx_checksum(expected_bids, expected_asks)


def test_checksum_of_the_docs_worked_examples() -> None:
    book = OrderBook("ETH-USDT")
    book.apply_snapshot([lv("3366.1", "7"), lv("3366", "6")], [lv("3366.8", "9"), lv("3368", "8")])
    assert book.checksum() == -1881014294
    book.apply_update([lv("3366", "0")], [lv("3372", "8")])
    assert book.checksum() == 831078360


def test_checksum_covers_only_the_top_25_levels() -> None:
    bids = [lv(str(1000 - i), "1") for i in range(30)]
    asks = [lv(str(2000 + i), "1") for i in range(30)]
    book = OrderBook("X")
    book.apply_snapshot(bids, asks)
    deep_change = OrderBook("X")
    deep_change.apply_snapshot([*bids[:29], lv("900", "5")], asks)
    assert book.checksum() == deep_change.checksum()


# -- the book against a plain model, on random streams -----------------------------------------

PRICES = [f"{100 + i / 10:g}" for i in range(-20, 21)]  # a narrow grid: prices come back often
SIZES = ["0", "0.00000000", "1", "2.5", "0.001", "10"]

levels_st = st.lists(
    st.tuples(st.sampled_from(PRICES), st.sampled_from(SIZES), st.just("0"), st.just("1")),
    max_size=12,
)
message_st = st.tuples(st.booleans(), levels_st, levels_st)  # (is snapshot, bids, asks)


def same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN (an empty side's price)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def _model_apply(model: dict[float, tuple[str, str]], levels: list[tuple[str, ...]]) -> None:
    for px, sz, *_ in levels:
        if float(sz) == 0:
            model.pop(float(px), None)
        else:
            model[float(px)] = (px, sz)


@settings(deadline=None, max_examples=200, derandomize=True)
@given(st.lists(message_st, min_size=1, max_size=40))
def test_book_matches_a_plain_dict_model_on_random_streams(messages: list) -> None:
    book = OrderBook("X")
    bid_model: dict[float, tuple[str, str]] = {}
    ask_model: dict[float, tuple[str, str]] = {}
    for snapshot, bids, asks in messages:
        if snapshot:
            bid_model.clear()
            ask_model.clear()
            book.apply_snapshot(bids, asks)
        else:
            book.apply_update(bids, asks)
        _model_apply(bid_model, bids)
        _model_apply(ask_model, asks)
        expected = (
            [bid_model[p] for p in sorted(bid_model, reverse=True)],
            [ask_model[p] for p in sorted(ask_model)],
        )
        assert book.copy_levels() == expected
        assert same(book.best_bid_px, max(bid_model, default=math.nan))
        assert same(book.best_ask_px, min(ask_model, default=math.nan))
        assert len(book) == len(bid_model) + len(ask_model)


def test_book_stays_right_when_stale_levels_are_compacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(book_side, "COMPACT_EVERY", 3)  # compact all the time
    book = OrderBook("X")
    model: dict[float, tuple[str, str]] = {}
    for step in range(400):
        px = PRICES[(step * 7) % len(PRICES)]
        sz = SIZES[(step * 5) % len(SIZES)]
        book.apply_update([(px, sz)], [])
        _model_apply(model, [(px, sz)])
        assert book.raw_bids() == [model[p] for p in sorted(model, reverse=True)]
        assert same(book.best_bid_px, max(model, default=math.nan))


# -- the kept checksum strings against the definition ------------------------------------------


@pytest.mark.parametrize("compact_every", [3, 1024])
def test_kept_checksum_equals_the_definition_after_every_message(
    monkeypatch: pytest.MonkeyPatch, compact_every: int
) -> None:
    """OrderBook.checksum reuses a side's strings while updates stay below its top 25 levels;
    on a deep book with changes above and below that floor (inserts, deletes, size changes,
    another spelling of a price, snapshots, clears, compactions) it equals okx_checksum of
    the book's own levels after every message."""
    monkeypatch.setattr(book_side, "COMPACT_EVERY", compact_every)
    rng = random.Random(17)
    grid = [f"{1000 + i}" for i in range(60)]  # bids 1000..1059, asks 1060..1119 below

    def levels(side: int, count: int) -> list[tuple[str, str, str, str]]:
        out = []
        for _ in range(count):
            i = rng.randrange(60)
            px = str(1000 + side * 60 + i)
            if rng.random() < 0.05:
                px += ".0"  # the same price spelt another way takes the level over
            sz = rng.choice(["0", "0", "1", "2.5", "0.125", "7"])
            out.append((px, sz, "0", "1"))
        return out

    book = OrderBook("X")
    book.checksum()  # from here on updates keep the checksum strings
    for step in range(1500):
        roll = rng.random()
        if roll < 0.01:
            book.apply_snapshot([(p, "1") for p in reversed(grid)], levels(1, 40))
        elif roll < 0.015:
            book.clear()
        else:
            book.apply_update(levels(0, rng.randrange(0, 6)), levels(1, rng.randrange(0, 6)))
        bids, asks = book.copy_levels()
        assert book.checksum() == okx_checksum(bids, asks), f"step {step}"
        if rng.random() < 0.3:  # unchecked messages in between: the strings must still follow
            book.apply_update(levels(0, 3), levels(1, 3))


def test_checksum_after_a_refused_level_is_computed_from_the_book_as_it_is() -> None:
    book = OrderBook("X")
    book.apply_snapshot([(str(1000 - i), "1") for i in range(30)], [("1100", "1")])
    book.checksum()
    with pytest.raises(ValueError, match="unusable size"):
        book.apply_update([("999", "5"), ("998", "nan")], [])  # half applied, then refused
    bids, asks = book.copy_levels()
    assert ("999", "5") in bids
    assert book.checksum() == okx_checksum(bids, asks)
