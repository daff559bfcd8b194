"""Builds and runs the feeds of every enabled venue.

OKX: the configured symbols are spread over as few connections as OKX's advice allows (fewer
than 30 deep-book channels per connection, PROTOCOLS.md A.3), one ``OkxFeed`` each. Binance:
one ``BinanceFeed`` (combined streams) per ``SYMBOLS_PER_CONNECTION`` symbols. Coinbase: one
``CoinbaseFeed``. Connections are named after their venue (``okx``, ``okx#2``, ``binance``,
``coinbase``), OKX's first. Every feed publishes on ``market_data:{symbol}`` with its venue on
each event; the rest of desk reads books (per venue) and counters from here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from desk.core.bus import Bus
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.counters import FeedCountersSnapshot
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.market.book import OrderBook

SYMBOLS_PER_CONNECTION = 20
OKX = "okx"


def _groups(symbols: Sequence[str], size: int) -> list[list[str]]:
    symbols = list(symbols)
    return [symbols[i : i + size] for i in range(0, len(symbols), size)]


def _names(venue: str, count: int) -> list[str]:
    return [venue if count == 1 else f"{venue}#{n + 1}" for n in range(count)]


class FeedManager:
    """Owns every feed connection of one engine.

    ``okx`` is the ``exchanges.okx`` section; ``symbols`` (OKX's) and ``channels`` come from
    ``trading``. ``binance``/``coinbase``: those venues' sections with their symbols resolved
    (``DeskConfig.venue_symbols``), or None when the venue is not enabled.
    """

    def __init__(
        self,
        okx: OkxConfig,
        symbols: Sequence[str],
        channels: Sequence[str],
        bus: Bus,
        *,
        binance: BinanceConfig | None = None,
        coinbase: CoinbaseConfig | None = None,
        symbols_per_connection: int = SYMBOLS_PER_CONNECTION,
        rng: random.Random | None = None,
    ) -> None:
        if symbols_per_connection < 1:
            raise ValueError("symbols_per_connection must be at least 1")
        self.okx = okx
        self.bus = bus
        dedupe = TradeDeduplicator()  # shared: keyed by venue, symbol and trade id
        groups = _groups(symbols, symbols_per_connection)
        self.feeds: list[Any] = [
            OkxFeed(okx, group, channels, bus, rng=rng, name=name, dedupe=dedupe)
            for group, name in zip(groups, _names(OKX, len(groups)), strict=True)
        ]
        self._venue_of: dict[str, str] = {feed.name: OKX for feed in self.feeds}
        if binance is not None and binance.symbols:
            from desk.feeds.binance.feed import BinanceFeed

            groups = _groups(binance.symbols, symbols_per_connection)
            for group, name in zip(groups, _names("binance", len(groups)), strict=True):
                self._add(
                    "binance",
                    BinanceFeed(binance, bus, symbols=group, rng=rng, name=name, dedupe=dedupe),
                )
        if coinbase is not None and coinbase.symbols:
            from desk.feeds.coinbase.feed import CoinbaseFeed

            feed = CoinbaseFeed(
                coinbase, coinbase.symbols, coinbase.channels, bus, rng=rng, dedupe=dedupe
            )
            self._add("coinbase", feed)
        self._by_venue: dict[str, dict[str, Any]] = {}
        for feed in self.feeds:
            per_symbol = self._by_venue.setdefault(self._venue_of[feed.name], {})
            for symbol in feed.symbols:
                per_symbol.setdefault(symbol, feed)
        self._by_symbol = self._by_venue.get(OKX, {})

    def _add(self, venue: str, feed: Any) -> None:
        self.feeds.append(feed)
        self._venue_of[feed.name] = venue

    async def start(self) -> None:
        for feed in self.feeds:
            await feed.start()

    async def stop(self) -> None:
        await asyncio.gather(*(feed.stop() for feed in self.feeds))

    async def wait_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(feed.wait_ready(timeout) for feed in self.feeds))

    def venues(self) -> list[str]:
        """The venues with a feed, OKX first."""
        return list(self._by_venue)

    def venue_of(self, feed: Any) -> str:
        """The venue of one of this manager's feeds."""
        return self._venue_of[feed.name]

    def feed(self, symbol: str, venue: str = OKX) -> Any:
        """The feed that keeps ``symbol``'s book on ``venue`` (None if none does)."""
        return self._by_venue.get(venue, {}).get(symbol)

    def book(self, symbol: str, venue: str = OKX) -> OrderBook | None:
        """The live order book of ``symbol`` on ``venue`` (None when no feed keeps one)."""
        feed = self._by_venue.get(venue, {}).get(symbol)
        return None if feed is None else feed.books.get(symbol)

    books = book  # the name the brief uses

    def symbols(self, venue: str = OKX) -> list[str]:
        """The symbols ``venue``'s feeds follow."""
        return list(self._by_venue.get(venue, {}))

    def counters(self) -> dict[str, FeedCountersSnapshot]:
        """A counters snapshot per connection, keyed by connection name (venue first)."""
        return {feed.name: feed.counters.snapshot() for feed in self.feeds}
