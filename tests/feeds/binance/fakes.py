"""Fakes for the Binance feed's unit tests: a REST snapshot server and an event recorder."""

from __future__ import annotations

import asyncio
from typing import Any

from desk.core.bus import Bus
from desk.core.events import BookChanged, SystemEvent, Ticker, Trade
from desk.core.topics import SYSTEM_EVENTS
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.feed import BinanceFeed
from desk.feeds.binance.rest import RestDepth

E_MS = 1672515782136  # the docs' event time
RECV_NS = (E_MS + 100) * 1_000_000  # received 100 ms later


class FakeRest:
    """Serves queued snapshots to the book bootstrap (the last one again when they run out)."""

    def __init__(self, *snapshots: RestDepth) -> None:
        self.snapshots = list(snapshots)
        self.calls: list[tuple[str, int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def get_depth(self, native: str, limit: int = 1000) -> RestDepth:
        self.calls.append((native, limit))
        await self.release.wait()
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    async def close(self) -> None:
        pass


class Recorder:
    def __init__(self, bus: Bus) -> None:
        self.books: list[BookChanged] = []
        self.trades: list[Trade] = []
        self.tickers: list[Ticker] = []
        self.system: list[Any] = []
        bus.subscribe("market_data:*", self._market)
        bus.subscribe(SYSTEM_EVENTS, self.system.append)

    def _market(self, event: object) -> None:
        if isinstance(event, BookChanged):
            self.books.append(event)
        elif isinstance(event, Trade):
            self.trades.append(event)
        elif isinstance(event, Ticker):
            self.tickers.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.system if isinstance(e, SystemEvent)]


def make_feed(
    *symbols: str, rest: FakeRest | None = None, **config: Any
) -> tuple[BinanceFeed, Recorder]:
    bus = Bus()
    recorder = Recorder(bus)
    cfg = BinanceConfig(symbols=symbols or ("BNB-BTC",), **config)
    feed = BinanceFeed(cfg, bus, rest=rest or FakeRest(RestDepth(0, [], [])))  # type: ignore[arg-type]
    return feed, recorder


def depth(
    native: str,
    first: int,
    last: int,
    bids: list[tuple[str, str]] | None = None,
    asks: list[tuple[str, str]] | None = None,
    *,
    event_ms: int = E_MS,
) -> bytes:
    """A combined ``depthUpdate`` frame in the wire's shape."""
    import msgspec

    data = {
        "e": "depthUpdate",
        "E": event_ms,
        "s": native,
        "U": first,
        "u": last,
        "b": [list(level) for level in bids or []],
        "a": [list(level) for level in asks or []],
    }
    stream = f"{native.lower()}@depth@100ms"
    return msgspec.json.encode({"stream": stream, "data": data})
