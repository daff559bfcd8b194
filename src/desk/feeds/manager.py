"""Builds and runs the feeds of the configured symbols and channels.

Today that is OKX's public market data: the configured symbols are spread over as few
connections as OKX's advice allows (fewer than 30 deep-book channels per connection,
PROTOCOLS.md A.3), one ``OkxFeed`` each. The rest of desk reads books and counters from here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from desk.core.bus import Bus
from desk.feeds.counters import FeedCountersSnapshot
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.market.book import OrderBook

SYMBOLS_PER_CONNECTION = 20


class FeedManager:
    """Owns every feed connection of one engine.

    ``okx`` is the ``exchanges.okx`` section; ``symbols`` and ``channels`` come from
    ``trading``.
    """

    def __init__(
        self,
        okx: OkxConfig,
        symbols: Sequence[str],
        channels: Sequence[str],
        bus: Bus,
        *,
        symbols_per_connection: int = SYMBOLS_PER_CONNECTION,
        rng: random.Random | None = None,
    ) -> None:
        if symbols_per_connection < 1:
            raise ValueError("symbols_per_connection must be at least 1")
        self.okx = okx
        self.bus = bus
        symbols = list(symbols)
        groups = [
            symbols[i : i + symbols_per_connection]
            for i in range(0, len(symbols), symbols_per_connection)
        ]
        dedupe = TradeDeduplicator()  # shared: a trade is a duplicate whichever feed saw it
        self.feeds: list[OkxFeed] = [
            OkxFeed(
                okx,
                group,
                channels,
                bus,
                rng=rng,
                name="okx" if len(groups) == 1 else f"okx#{n + 1}",
                dedupe=dedupe,
            )
            for n, group in enumerate(groups)
        ]
        self._by_symbol = {symbol: feed for feed in self.feeds for symbol in feed.symbols}

    async def start(self) -> None:
        for feed in self.feeds:
            await feed.start()

    async def stop(self) -> None:
        await asyncio.gather(*(feed.stop() for feed in self.feeds))

    async def wait_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(feed.wait_ready(timeout) for feed in self.feeds))

    def feed(self, symbol: str) -> OkxFeed | None:
        return self._by_symbol.get(symbol)

    def book(self, symbol: str) -> OrderBook | None:
        """The live order book of ``symbol`` (None when no feed keeps one)."""
        feed = self._by_symbol.get(symbol)
        return None if feed is None else feed.books.get(symbol)

    books = book  # the name the brief uses

    def counters(self) -> dict[str, FeedCountersSnapshot]:
        """A counters snapshot per connection, keyed by connection name."""
        return {feed.name: feed.counters.snapshot() for feed in self.feeds}
