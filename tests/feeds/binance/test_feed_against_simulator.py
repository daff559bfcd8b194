"""The Binance feed against the Binance simulator over real WebSockets and REST.

Books must equal the simulator's own book through every fault, a gap must resync that symbol
alone, and the planned reconnect (24 h limit, ``serverShutdown``) must hand the books over
without a gap or a single new REST snapshot.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from desk.core.bus import Bus
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.feed import BinanceFeed
from desk.net.config import ReconnectConfig
from desk.sim.binance.simulator import BinanceSimulator
from desk.sim.config import SimulatorConfig
from tests.feeds.binance.fakes import Recorder
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

SYMBOLS = ("BTC-USDT", "ETH-USDT")
NATIVE = {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"}


def simulator(**options: Any) -> BinanceSimulator:
    config = SimulatorConfig(port=0, seed=11, update_interval=0.05, steps_per_second=400)
    return BinanceSimulator(config, **options)


def binance(sim: BinanceSimulator, **overrides: Any) -> BinanceConfig:
    return BinanceConfig(
        enabled=True,
        symbols=SYMBOLS,
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        reconnect=ReconnectConfig(initial_delay=0.05, max_delay=0.5, jitter=0.1),
        **overrides,
    )


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with simulator() as simulator_:
        yield simulator_


async def started(sim: BinanceSimulator, **overrides: Any) -> tuple[BinanceFeed, Recorder]:
    bus = Bus()
    recorder = Recorder(bus)
    feed = BinanceFeed(binance(sim, **overrides), bus, rng=random.Random(3))
    await feed.start()
    await feed.wait_ready(20)
    return feed, recorder


@pytest.fixture
async def feed(sim: BinanceSimulator) -> AsyncIterator[tuple[BinanceFeed, Recorder]]:
    feed_, recorder = await started(sim)
    yield feed_, recorder
    await feed_.stop()


def snapshots(recorder: Recorder, symbol: str) -> int:
    return sum(1 for b in recorder.books if b.symbol == symbol and b.snapshot)


async def assert_books_equal_to_simulator(sim: BinanceSimulator, feed: BinanceFeed) -> None:
    """Freeze the market, let the feed catch up to the last diff, compare every level."""
    sim.pause()
    try:
        for symbol in SYMBOLS:
            native = NATIVE[symbol]
            await wait_until(
                lambda s=symbol, n=native: feed.books[s].seq_id == sim.last_update_id(n),
                what=f"the {symbol} book to reach the simulator's last update id",
            )
            assert feed.books[symbol].copy_levels() == sim.book(native)
            assert not feed.books[symbol].is_crossed()
    finally:
        sim.resume()


async def test_books_stay_equal_to_the_simulators_book(sim, feed) -> None:
    binance_feed, recorder = feed
    start = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > start + 40, what="40 book updates")
    await assert_books_equal_to_simulator(sim, binance_feed)
    c = binance_feed.counters
    assert (c.gaps, c.resyncs, c.decode_errors, c.reconnects) == (0, 0, 0, 0)
    assert c.messages > 0 and c.bytes > 0 and len(c.latency) > 0
    assert {b.venue for b in recorder.books} == {"binance"}
    assert {t.symbol for t in recorder.trades} <= set(SYMBOLS)


async def test_trades_are_the_simulators_trades_once_each(sim, feed) -> None:
    _, recorder = feed
    await wait_until(lambda: len(recorder.trades) > 20, what="20 trades")
    published = {str(t["t"]) for t in sim.published_trades("BTCUSDT")}
    btc = [t.trade_id for t in recorder.trades if t.symbol == "BTC-USDT"]
    assert btc and set(btc) <= published
    assert len(btc) == len(set(btc))
    await wait_until(
        lambda: any(t.symbol == "BTC-USDT" and t.last > 0 for t in recorder.tickers),
        what="a BTC ticker that knows the last trade",
    )
    ticker = next(t for t in reversed(recorder.tickers) if t.symbol == "BTC-USDT")
    assert 0 < ticker.bid < ticker.ask


async def test_a_gap_resyncs_that_symbol_only(sim, feed) -> None:
    binance_feed, recorder = feed
    btc, eth = snapshots(recorder, "BTC-USDT"), snapshots(recorder, "ETH-USDT")
    fetches = sim.rest.depth_requests
    sim.faults.sequence_gap("BTCUSDT")
    await wait_until(lambda: binance_feed.counters.gaps >= 1, what="the gap to be seen")
    await wait_until(lambda: snapshots(recorder, "BTC-USDT") > btc, what="a fresh BTC book")
    assert snapshots(recorder, "ETH-USDT") == eth, "the ETH book must not be touched"
    assert sim.rest.depth_requests == fetches + 1, "one REST snapshot, for BTC"
    assert binance_feed.counters.reconnects == 0 and binance_feed.counters.resyncs == 1
    await assert_books_equal_to_simulator(sim, binance_feed)


async def test_a_dropped_connection_reconnects_and_rebuilds_the_books(sim, feed) -> None:
    binance_feed, recorder = feed
    before = {s: snapshots(recorder, s) for s in SYMBOLS}
    sim.faults.drop_connections()
    await wait_until(lambda: binance_feed.counters.reconnects >= 1, what="a reconnect")
    await wait_until(
        lambda: all(snapshots(recorder, s) > before[s] for s in SYMBOLS), what="fresh books"
    )
    await assert_books_equal_to_simulator(sim, binance_feed)
    assert any(getattr(e, "kind", "") == "disconnected" for e in recorder.system)


async def test_malformed_and_truncated_frames_are_counted_and_skipped(sim, feed) -> None:
    binance_feed, recorder = feed
    sim.faults.malformed_frame()
    sim.faults.truncated_frame()
    await wait_until(lambda: binance_feed.counters.decode_errors >= 2, what="two decode errors")
    count = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > count + 10, what="books to keep flowing")
    assert binance_feed.counters.reconnects == 0 and binance_feed.counters.gaps == 0
    await assert_books_equal_to_simulator(sim, binance_feed)


async def test_duplicate_trades_are_dropped(sim, feed) -> None:
    binance_feed, recorder = feed
    await wait_until(lambda: any(t.symbol == "BTC-USDT" for t in recorder.trades), what="a trade")
    sim.faults.duplicate_trades("BTCUSDT")
    await wait_until(lambda: binance_feed.counters.duplicate_trades >= 1, what="a duplicate")
    ids = [(t.symbol, t.trade_id) for t in recorder.trades]
    assert len(ids) == len(set(ids))


async def test_server_pings_are_answered() -> None:
    async with simulator(ping_interval=0.3) as pinging:
        binance_feed, _ = await started(pinging)
        try:
            await wait_until(lambda: pinging.pongs_received >= 2, what="two pongs")
            assert pinging.closed_for_pong == 0 and binance_feed.counters.reconnects == 0
        finally:
            await binance_feed.stop()


async def test_a_stalled_server_is_left_and_the_feed_recovers(sim) -> None:
    binance_feed, _ = await started(sim, ping_interval=0.3, pong_timeout=0.5)
    try:
        sim.faults.stall(3.0)
        await wait_until(lambda: binance_feed.counters.reconnects >= 1, what="a keepalive drop")
        await binance_feed.wait_ready(20)
        await assert_books_equal_to_simulator(sim, binance_feed)
    finally:
        await binance_feed.stop()


async def test_server_shutdown_hands_the_books_over_without_a_gap(sim, feed) -> None:
    binance_feed, recorder = feed
    fetches = sim.rest.depth_requests
    books_before = {s: snapshots(recorder, s) for s in SYMBOLS}
    first_connection = binance_feed.connection
    sim.faults.maintenance_notice(close_after=5.0)
    await wait_until(lambda: binance_feed.handovers >= 1, what="the planned reconnect")
    assert binance_feed.connection is not first_connection
    count = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > count + 10, what="books from the new connection")
    await assert_books_equal_to_simulator(sim, binance_feed)
    c = binance_feed.counters
    assert (c.gaps, c.resyncs, c.reconnects) == (0, 0, 0)
    assert sim.rest.depth_requests == fetches, "no book was fetched again"
    assert {s: snapshots(recorder, s) for s in SYMBOLS} == books_before
    assert "handover" in recorder.kinds()


async def test_an_old_connection_is_replaced_before_the_24_hour_limit(sim) -> None:
    binance_feed, _ = await started(sim, max_connection_age=1.0)
    try:
        await wait_until(lambda: binance_feed.handovers >= 2, what="two planned reconnects")
        await assert_books_equal_to_simulator(sim, binance_feed)
        c = binance_feed.counters
        assert (c.gaps, c.resyncs, c.reconnects) == (0, 0, 0)
        await wait_until(lambda: sim.connections == 1, what="the old connections to be closed")
    finally:
        await binance_feed.stop()


async def test_aggregate_trades_can_be_followed_instead(sim) -> None:
    binance_feed, recorder = await started(sim, trade_stream="aggTrade", book_ticker=False)
    try:
        await wait_until(lambda: len(recorder.trades) > 10, what="10 aggregate trades")
        assert all(t.count >= 1 for t in recorder.trades)
        assert recorder.tickers == []
        assert binance_feed.counters.decode_errors == 0
    finally:
        await binance_feed.stop()
