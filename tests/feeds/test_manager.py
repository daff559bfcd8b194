"""The feed manager builds one OKX feed per group of symbols and finds books by symbol."""

from __future__ import annotations

from desk.core.bus import Bus
from desk.feeds.manager import FeedManager
from desk.feeds.okx.config import OkxConfig


def test_feed_manager_spreads_symbols_over_connections_and_finds_books() -> None:
    symbols = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
    manager = FeedManager(OkxConfig(), symbols, ("books",), Bus(), symbols_per_connection=2)
    assert [feed.symbols for feed in manager.feeds] == [("BTC-USDT", "ETH-USDT"), ("SOL-USDT",)]
    assert [feed.name for feed in manager.feeds] == ["okx#1", "okx#2"]
    assert manager.book("SOL-USDT") is manager.feeds[1].books["SOL-USDT"]
    assert manager.book("DOGE-USDT") is None
    assert set(manager.counters()) == {"okx#1", "okx#2"}
