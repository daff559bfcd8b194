"""The real OKX feed against the simulator over real WebSockets: books stay exact through faults."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.events import BookChanged, Trade
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.net.config import ReconnectConfig
from desk.sim.config import SimulatorConfig
from desk.sim.okx.simulator import OkxSimulator
from tests.waiting import wait_until

SYMBOLS = ("BTC-USDT", "ETH-USDT")
CHANNELS = ("books", "trades", "tickers")


@pytest.fixture
async def sim() -> AsyncIterator[OkxSimulator]:
    simulator = OkxSimulator(
        SimulatorConfig(
            enabled=True, port=0, seed=11, checksum=True, update_interval=0.05, steps_per_second=400
        )
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


def _okx(sim: OkxSimulator, **overrides: object) -> OkxConfig:
    return OkxConfig(
        ws_public_url=sim.ws_public_url,
        ws_business_url=sim.ws_business_url,
        rest_url=sim.rest_url,
        reconnect=ReconnectConfig(initial_delay=0.05, max_delay=0.5, jitter=0.1),
        **overrides,  # type: ignore[arg-type]
    )


class Recorder:
    def __init__(self, bus: Bus) -> None:
        self.books: list[BookChanged] = []
        self.trades: list[Trade] = []
        self.system: list[object] = []
        bus.subscribe("market_data:*", self._market)
        bus.subscribe(topics.SYSTEM_EVENTS, self.system.append)

    def _market(self, event: object) -> None:
        if isinstance(event, BookChanged):
            self.books.append(event)
        elif isinstance(event, Trade):
            self.trades.append(event)

    def snapshots(self, symbol: str) -> int:
        return sum(1 for b in self.books if b.symbol == symbol and b.snapshot)


@pytest.fixture
async def feed(sim: OkxSimulator) -> AsyncIterator[tuple[OkxFeed, Recorder]]:
    bus = Bus()
    recorder = Recorder(bus)
    okx_feed = OkxFeed(_okx(sim), SYMBOLS, CHANNELS, bus, rng=random.Random(3))
    await okx_feed.start()
    await okx_feed.wait_ready(20)
    yield okx_feed, recorder
    await okx_feed.stop()


async def _assert_books_equal_to_simulator(sim: OkxSimulator, feed: OkxFeed) -> None:
    """Freeze the market, let the feed catch up to the last push, compare every level."""
    sim.pause()
    try:
        for symbol in SYMBOLS:
            await wait_until(
                lambda s=symbol: feed.books[s].seq_id == sim.last_seq_id(s),
                what=f"{symbol} feed book to reach the simulator's last seqId",
            )
            assert feed.books[symbol].copy_levels() == sim.published_book(symbol)
            assert not feed.books[symbol].is_crossed()
    finally:
        sim.resume()


async def test_books_stay_equal_to_the_simulators_own_book(sim, feed) -> None:
    okx_feed, recorder = feed
    start = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > start + 50, what="50 book updates")
    await _assert_books_equal_to_simulator(sim, okx_feed)
    c = okx_feed.counters
    assert c.gaps == 0 and c.checksum_failures == 0 and c.decode_errors == 0
    assert c.messages > 0 and c.bytes > 0


async def test_dropped_connection_reconnects_and_resyncs_books(sim, feed) -> None:
    okx_feed, recorder = feed
    before = recorder.snapshots("BTC-USDT")
    sim.faults.drop_connections()
    await wait_until(lambda: okx_feed.counters.reconnects >= 1, what="a reconnect")
    await wait_until(
        lambda: all(recorder.snapshots(s) > before for s in SYMBOLS), what="fresh snapshots"
    )
    await _assert_books_equal_to_simulator(sim, okx_feed)


async def test_sequence_gap_resyncs_that_book_only(sim, feed) -> None:
    okx_feed, recorder = feed
    btc, eth = recorder.snapshots("BTC-USDT"), recorder.snapshots("ETH-USDT")
    sim.faults.sequence_gap("BTC-USDT")
    await wait_until(lambda: okx_feed.counters.gaps >= 1, what="the gap to be detected")
    await wait_until(lambda: recorder.snapshots("BTC-USDT") > btc, what="BTC resync snapshot")
    assert recorder.snapshots("ETH-USDT") == eth, "the ETH book must not be resynced"
    assert okx_feed.counters.resyncs >= 1
    assert okx_feed.counters.reconnects == 0
    await _assert_books_equal_to_simulator(sim, okx_feed)


async def test_bad_checksum_is_counted_and_resyncs_the_book(sim, feed) -> None:
    okx_feed, recorder = feed
    before = recorder.snapshots("ETH-USDT")
    sim.faults.bad_checksum("ETH-USDT")
    await wait_until(lambda: okx_feed.counters.checksum_failures >= 1, what="checksum failure")
    await wait_until(lambda: recorder.snapshots("ETH-USDT") > before, what="ETH resync")
    await _assert_books_equal_to_simulator(sim, okx_feed)


async def test_malformed_and_truncated_frames_are_counted_and_skipped(sim, feed) -> None:
    okx_feed, recorder = feed
    sim.faults.malformed_frame()
    sim.faults.truncated_frame()
    await wait_until(lambda: okx_feed.counters.decode_errors >= 2, what="two decode errors")
    count = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > count + 10, what="books to keep flowing")
    assert okx_feed.counters.reconnects == 0
    assert any(getattr(e, "kind", "") == "decode_error" for e in recorder.system)
    await _assert_books_equal_to_simulator(sim, okx_feed)


async def test_duplicate_trades_are_dropped(sim, feed) -> None:
    okx_feed, recorder = feed
    await wait_until(
        lambda: any(t.symbol == "BTC-USDT" for t in recorder.trades), what="a BTC trade"
    )
    sim.faults.duplicate_trades("BTC-USDT")
    await wait_until(lambda: okx_feed.counters.duplicate_trades >= 1, what="duplicate dropped")
    ids = [(t.symbol, t.trade_id) for t in recorder.trades]
    assert len(ids) == len(set(ids))


async def test_stall_trips_the_watchdog_and_the_feed_recovers(sim) -> None:
    bus = Bus()
    config = _okx(sim, ping_interval=0.3, pong_timeout=0.5, watchdog_timeout=1.0)
    okx_feed = OkxFeed(config, SYMBOLS, CHANNELS, bus, rng=random.Random(5))
    await okx_feed.start()
    try:
        await okx_feed.wait_ready(20)
        sim.faults.stall(3.0)
        await wait_until(lambda: okx_feed.counters.reconnects >= 1, what="watchdog reconnect")
        await okx_feed.wait_ready(20)
        await _assert_books_equal_to_simulator(sim, okx_feed)
    finally:
        await okx_feed.stop()


async def test_books_bootstrap_from_rest_when_no_snapshot_is_sent() -> None:
    sim = OkxSimulator(
        SimulatorConfig(enabled=True, port=0, seed=12, update_interval=0.05),
        send_book_snapshot=False,
    )
    await sim.start()
    bus = Bus()
    okx_feed = OkxFeed(_okx(sim), SYMBOLS, ("books",), bus, rng=random.Random(6))
    try:
        await okx_feed.start()
        await okx_feed.wait_ready(20)
        await _assert_books_equal_to_simulator(sim, okx_feed)
    finally:
        await okx_feed.stop()
        await sim.stop()


async def test_maintenance_notice_leads_to_a_clean_reconnect(sim, feed) -> None:
    okx_feed, recorder = feed
    sim.faults.maintenance_notice(close_after=0.2)
    await wait_until(lambda: okx_feed.counters.reconnects >= 1, what="reconnect after notice")
    await okx_feed.wait_ready(20)
    assert any(getattr(e, "kind", "") == "notice" for e in recorder.system)
    await _assert_books_equal_to_simulator(sim, okx_feed)
