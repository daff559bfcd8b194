"""The feed manager builds one OKX feed per group of symbols and finds books by symbol."""

from __future__ import annotations

from desk.config import DeskConfig, TradingConfig
from desk.core.bus import Bus
from desk.feeds.manager import FeedManager


def test_feed_manager_spreads_symbols_over_connections_and_finds_books() -> None:
    trading = TradingConfig(symbols=("BTC-USDT", "ETH-USDT", "SOL-USDT"), channels=("books",))
    manager = FeedManager(DeskConfig(trading=trading), Bus(), symbols_per_connection=2)
    assert [feed.symbols for feed in manager.feeds] == [("BTC-USDT", "ETH-USDT"), ("SOL-USDT",)]
    assert [feed.name for feed in manager.feeds] == ["okx#1", "okx#2"]
    assert manager.book("SOL-USDT") is manager.feeds[1].books["SOL-USDT"]
    assert manager.book("DOGE-USDT") is None
    assert set(manager.counters()) == {"okx#1", "okx#2"}
