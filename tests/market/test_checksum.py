"""OKX's legacy CRC32 book checksum, against the worked examples of PROTOCOLS.md A.6."""

from __future__ import annotations

import zlib

from desk.market.checksum import okx_checksum
from tests.market.doc_samples import DOC_ASKS, DOC_BIDS

# The plain definition only: OrderBook.checksum, pure and compiled, is held to these vectors
# in test_book.py (which runs on both implementations).


def test_docs_example_with_two_levels_a_side() -> None:
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    assert okx_checksum(bids, asks) == -1881014294


def test_docs_example_with_a_shorter_bid_side_skips_missing_entries() -> None:
    bids = [("3366.1", "7")]
    asks = [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
    assert okx_checksum(bids, asks) == 831078360


def test_books_example_data_gives_its_computed_value_not_the_printed_one() -> None:
    bids, asks = DOC_BIDS, DOC_ASKS
    assert okx_checksum(bids, asks) == -2102840145
    assert okx_checksum(bids, asks) != -855196043


def test_result_is_a_signed_32_bit_integer() -> None:
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    unsigned = zlib.crc32(b"3366.1:7:3366.8:9:3366:6:3368:8")
    assert unsigned == 2413953002
    assert okx_checksum(bids, asks) == unsigned - 2**32


def test_only_the_top_depth_levels_count() -> None:
    bids = [(str(1000 - i), "1") for i in range(30)]
    asks = [(str(2000 + i), "1") for i in range(30)]
    assert okx_checksum(bids, asks) == okx_checksum(bids[:25], asks[:25])
    assert okx_checksum(bids, asks, depth=2) == okx_checksum(bids[:2], asks[:2])
    assert okx_checksum(bids, asks, depth=2) != okx_checksum(bids, asks)


def test_strings_are_used_as_received_never_reformatted() -> None:
    assert okx_checksum([("8477", "7")], []) != okx_checksum([("8477.0", "7")], [])
    assert okx_checksum([("8477", "7")], []) % 2**32 == zlib.crc32(b"8477:7")


def test_empty_book_is_the_crc_of_nothing() -> None:
    assert okx_checksum([], []) == 0
