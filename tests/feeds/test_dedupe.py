"""Trades replayed after a reconnect are recognised, aggregated OKX trades included."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from desk.feeds.dedupe import MAX_COVERED_IDS, TradeDeduplicator


def test_a_trade_seen_before_is_a_duplicate() -> None:
    dedupe = TradeDeduplicator()
    assert not dedupe.is_duplicate("okx", "BTC-USDT", "130639474")
    assert dedupe.is_duplicate("okx", "BTC-USDT", "130639474")


def test_venue_and_symbol_are_part_of_the_key() -> None:
    dedupe = TradeDeduplicator()
    assert not dedupe.is_duplicate("okx", "BTC-USDT", "1")
    assert not dedupe.is_duplicate("okx", "ETH-USDT", "1")
    assert not dedupe.is_duplicate("binance", "BTC-USDT", "1")


def test_an_aggregated_trade_covers_the_ids_below_it() -> None:
    """tradeId 123 with count 3 covers 123, 122 and 121 (PROTOCOLS.md A.4)."""
    dedupe = TradeDeduplicator()
    assert not dedupe.is_duplicate("okx", "BTC-USDT", "123", count=3)
    assert dedupe.is_duplicate("okx", "BTC-USDT", "122")
    assert dedupe.is_duplicate("okx", "BTC-USDT", "121")
    assert not dedupe.is_duplicate("okx", "BTC-USDT", "120")
    assert not dedupe.is_duplicate("okx", "BTC-USDT", "124")


def test_absurd_counts_are_capped() -> None:
    dedupe = TradeDeduplicator(maxsize=10 * MAX_COVERED_IDS)
    dedupe.is_duplicate("okx", "BTC-USDT", "1000000", count=10**9)
    assert len(dedupe) == MAX_COVERED_IDS


def test_non_numeric_ids_match_exactly() -> None:
    dedupe = TradeDeduplicator()
    assert not dedupe.is_duplicate("coinbase", "BTC-USD", "a1b2-c3", count=3)
    assert dedupe.is_duplicate("coinbase", "BTC-USD", "a1b2-c3")
    assert not dedupe.is_duplicate("coinbase", "BTC-USD", "a1b2-c2")
    assert not dedupe.is_duplicate("coinbase", "BTC-USD", "１２")  # not ASCII digits


def test_the_memory_is_bounded_per_symbol_and_forgets_the_oldest() -> None:
    dedupe = TradeDeduplicator(maxsize=3)
    for trade_id in ("1", "2", "3", "4"):
        dedupe.is_duplicate("okx", "BTC-USDT", trade_id)
    dedupe.is_duplicate("okx", "ETH-USDT", "1")  # another symbol: its own bound
    assert len(dedupe) == 4
    assert dedupe.is_duplicate("okx", "ETH-USDT", "1")
    assert dedupe.is_duplicate("okx", "BTC-USDT", "4")
    assert not dedupe.is_duplicate("okx", "BTC-USDT", "1"), "forgotten: the oldest"


def test_a_busy_symbol_stays_within_its_bound() -> None:
    dedupe = TradeDeduplicator(maxsize=1000)
    for trade_id in range(1, 50_000, 3):
        dedupe.is_duplicate("okx", "BTC-USDT", str(trade_id), count=3)
    assert len(dedupe) == 1000
    assert dedupe.is_duplicate("okx", "BTC-USDT", "49998")  # covered by the last trade


@given(st.lists(st.integers(min_value=0, max_value=10**12), unique=True, max_size=200))
def test_distinct_ids_are_never_duplicates_and_replays_always_are(ids: list[int]) -> None:
    dedupe = TradeDeduplicator(maxsize=1000)
    assert not any(dedupe.is_duplicate("okx", "BTC-USDT", str(i)) for i in ids)
    assert all(dedupe.is_duplicate("okx", "BTC-USDT", str(i)) for i in ids)


def test_a_kept_seen_answers_as_is_duplicate_and_survives_clear() -> None:
    """Feeds keep ``recent(venue, symbol).seen`` for their hot path: it shares the ids with
    ``is_duplicate``, and ``clear`` empties it in place rather than orphaning it."""
    dedupe = TradeDeduplicator(maxsize=3)
    seen = dedupe.recent("okx", "BTC-USDT").seen
    assert dedupe.recent("okx", "BTC-USDT").seen == seen
    assert not seen("10", 2)
    assert dedupe.is_duplicate("okx", "BTC-USDT", "9")
    assert seen("10") and not seen("x") and seen("x")
    dedupe.clear()
    assert len(dedupe) == 0
    assert not seen("10")
    assert dedupe.is_duplicate("okx", "BTC-USDT", "10")
    for trade_id in ("11", "12", "13"):
        assert not seen(trade_id)
    assert len(dedupe) == 3 and not dedupe.is_duplicate("okx", "BTC-USDT", "10")


def test_every_feed_keeps_the_deduplicator_it_is_given_even_while_empty() -> None:
    """An empty deduplicator is falsy (``__len__``): a feed must not swap the desk's shared one
    for a private one of its own (``dedupe or ...`` did), or a trade replayed on another
    connection of the venue would be published twice."""
    from desk.core.bus import Bus
    from desk.feeds.binance.config import BinanceConfig
    from desk.feeds.binance.feed import BinanceFeed
    from desk.feeds.coinbase.config import CoinbaseConfig
    from desk.feeds.coinbase.feed import CoinbaseFeed
    from desk.feeds.okx.config import OkxConfig
    from desk.feeds.okx.feed import OkxFeed

    shared = TradeDeduplicator()
    assert not shared  # empty: the case that was lost
    feeds = [
        OkxFeed(OkxConfig(), ["BTC-USDT"], ["trades"], Bus(), dedupe=shared),
        BinanceFeed(BinanceConfig(symbols=("BTC-USDT",)), Bus(), dedupe=shared),
        CoinbaseFeed(CoinbaseConfig(), ("BTC-USDT",), ("market_trades",), Bus(), dedupe=shared),
    ]
    assert all(feed.dedupe is shared for feed in feeds)
