"""The in-process EngineClient gives a UI consistent views of a real engine on the simulator."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from desk.clients.inprocess import InProcessClient
from desk.config import DeskConfig, with_simulator
from desk.core.enums import ConnectionState
from desk.engine.engine import Engine
from tests.waiting import wait_until


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[InProcessClient]:
    config = with_simulator(DeskConfig())
    config = msgspec.structs.replace(
        config,
        storage=msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "d.sqlite")),
        simulator=msgspec.structs.replace(config.simulator, steps_per_second=400),
    )
    engine = Engine(config)
    c = InProcessClient(engine)
    await c.start()
    yield c
    await c.stop()


async def test_views_show_the_live_market(client: InProcessClient) -> None:
    await wait_until(lambda: len(client.book("BTC-USDT").bids) == 20, what="a 20-level ladder")
    book = client.book("BTC-USDT")
    bids = [level.price for level in book.bids]
    asks = [level.price for level in book.asks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert not book.stale
    await wait_until(lambda: client.tape("BTC-USDT").trades, what="trades on the tape")
    await wait_until(lambda: len(client.tickers().tickers) == 3, what="three tickers")
    await wait_until(lambda: len(client.candles("BTC-USDT", "1s").candles) >= 2, what="1s candles")
    candles = client.candles("BTC-USDT", "1s").candles
    assert all(b.end - a.end == 1_000_000_000 for a, b in itertools.pairwise(candles))


async def test_unchanged_book_returns_the_cached_view(client: InProcessClient) -> None:
    await wait_until(lambda: client.book("ETH-USDT").bids, what="an ETH book")
    client.engine.simulator.pause()
    version = client.book("ETH-USDT").version
    await wait_until(
        lambda: (
            client.engine.feeds.book("ETH-USDT").seq_id
            == client.engine.simulator.last_seq_id("ETH-USDT")
        ),
        what="the feed to catch up",
    )
    first = client.book("ETH-USDT")
    assert first is client.book("ETH-USDT")
    assert first.version >= version


async def test_health_and_events_report_the_connection(client: InProcessClient) -> None:
    await wait_until(lambda: client.connected, what="the feed to connect")
    health = client.health()
    assert [c.state for c in health.connections] == [ConnectionState.CONNECTED]
    assert any(q.name == "sqlite-writer" for q in health.queues)
    assert health.rss_bytes > 0
    kinds = [e.kind for e in client.events_since(0)]
    assert "connected" in kinds
    last = client.events_since(0)[-1].seq
    assert client.events_since(last) == []


async def test_book_turns_stale_when_the_feed_stops(client: InProcessClient) -> None:
    await wait_until(lambda: client.book("SOL-USDT").bids, what="a SOL book")
    assert not client.book("SOL-USDT").stale
    await client.engine.feeds.stop()
    await wait_until(lambda: client.book("SOL-USDT").stale, what="the book to go stale")
