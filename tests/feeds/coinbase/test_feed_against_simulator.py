"""The Coinbase feed against the Coinbase simulator over real WebSockets: books stay exact
through faults, a gap resyncs its book alone, trades arrive once."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Side
from desk.core.events import BookChanged, SystemEvent, Trade
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.coinbase.feed import CoinbaseFeed
from desk.net.config import ReconnectConfig
from desk.sim.coinbase.products import DEFAULT_PRODUCTS
from desk.sim.coinbase.simulator import CoinbaseSimulator
from desk.sim.config import SimulatorConfig
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

BTC, ETH = "BTC-USD", "ETH-USDT"
SYMBOLS = (BTC, ETH)


@pytest.fixture
async def sim() -> AsyncIterator[CoinbaseSimulator]:
    products = [p for p in DEFAULT_PRODUCTS if p.product_id in SYMBOLS]
    config = SimulatorConfig(port=0, seed=11, update_interval=0.05, steps_per_second=300)
    async with CoinbaseSimulator(config, products=products) as simulator:
        yield simulator


def _config(sim: CoinbaseSimulator, **overrides: object) -> CoinbaseConfig:
    return CoinbaseConfig(
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        symbols=SYMBOLS,
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

    def kinds(self) -> set[str]:
        return {e.kind for e in self.system if isinstance(e, SystemEvent)}


async def _start(sim: CoinbaseSimulator, **overrides: object) -> tuple[CoinbaseFeed, Recorder]:
    bus = Bus()
    recorder = Recorder(bus)
    feed = CoinbaseFeed.from_config(_config(sim, **overrides), bus, rng=random.Random(3))
    await feed.start()
    await feed.wait_ready(20)
    return feed, recorder


@pytest.fixture
async def feed(sim: CoinbaseSimulator) -> AsyncIterator[tuple[CoinbaseFeed, Recorder]]:
    started = await _start(sim)
    yield started
    await started[0].stop()


async def _assert_books_equal_to_simulator(sim: CoinbaseSimulator, feed: CoinbaseFeed) -> None:
    """Freeze the market, publish what is pending, wait for the feed to hold the same book."""
    sim.pause()
    try:
        sim.publish()
        for symbol in SYMBOLS:
            await wait_until(
                lambda s=symbol: feed.books[s].copy_levels() == sim.published_book(s),
                what=f"the {symbol} book to equal the simulator's",
            )
            assert not feed.books[symbol].is_crossed()
            assert len(feed.books[symbol]) > 50
    finally:
        sim.resume()


async def test_books_stay_equal_to_the_simulators_own_book(sim, feed) -> None:
    cb_feed, recorder = feed
    start = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > start + 50, what="50 book updates")
    await _assert_books_equal_to_simulator(sim, cb_feed)
    c = cb_feed.counters
    assert c.gaps == 0 and c.decode_errors == 0 and c.resyncs == 0
    assert c.messages > 0 and c.bytes > 0
    await wait_until(lambda: cb_feed.heartbeats >= 1, what="a heartbeat")
    assert {b.venue for b in recorder.books} == {"coinbase"}


async def test_trades_arrive_once_with_the_aggressor_side(sim, feed) -> None:
    _, recorder = feed
    await wait_until(lambda: len(recorder.trades) > 20, what="20 trades")
    sent = {t["trade_id"]: t for symbol in SYMBOLS for t in sim.published_trades(symbol)}
    for trade in recorder.trades:
        wire = sent[trade.trade_id]
        assert (trade.price, trade.size) == (float(wire["price"]), float(wire["size"]))
        assert trade.side is (Side.SELL if wire["side"] == "BUY" else Side.BUY)
    ids = [(t.symbol, t.trade_id) for t in recorder.trades]
    assert len(ids) == len(set(ids))


async def test_a_forced_gap_resyncs_only_that_symbol(sim, feed) -> None:
    cb_feed, recorder = feed
    btc, eth = recorder.snapshots(BTC), recorder.snapshots(ETH)
    sim.faults.sequence_gap(BTC)
    await wait_until(lambda: cb_feed.counters.gaps >= 1, what="the gap to be detected")
    await wait_until(lambda: recorder.snapshots(BTC) > btc, what="BTC's fresh snapshot")
    assert recorder.snapshots(ETH) == eth, "the ETH book must not be resynced"
    assert cb_feed.counters.resyncs == 1 and cb_feed.counters.reconnects == 0
    assert "gap" in recorder.kinds() and "resync" in recorder.kinds()
    await _assert_books_equal_to_simulator(sim, cb_feed)


async def test_connection_mode_resyncs_every_book_on_a_gap(sim) -> None:
    cb_feed, recorder = await _start(sim, gap_resync="connection")
    try:
        before = {s: recorder.snapshots(s) for s in SYMBOLS}
        sim.faults.sequence_gap(ETH)
        await wait_until(
            lambda: all(recorder.snapshots(s) > before[s] for s in SYMBOLS), what="both resyncs"
        )
        await _assert_books_equal_to_simulator(sim, cb_feed)
    finally:
        await cb_feed.stop()


async def test_a_dropped_connection_reconnects_and_resyncs_every_book(sim, feed) -> None:
    cb_feed, recorder = feed
    before = {s: recorder.snapshots(s) for s in SYMBOLS}
    sim.faults.drop_connections()
    await wait_until(lambda: cb_feed.counters.reconnects >= 1, what="a reconnect")
    await wait_until(
        lambda: all(recorder.snapshots(s) > before[s] for s in SYMBOLS), what="fresh snapshots"
    )
    assert cb_feed.counters.gaps == 0  # a new connection numbers from scratch
    await _assert_books_equal_to_simulator(sim, cb_feed)


async def test_malformed_and_truncated_frames_are_counted_and_skipped(sim, feed) -> None:
    cb_feed, recorder = feed
    sim.faults.malformed_frame()
    sim.faults.truncated_frame()
    await wait_until(lambda: cb_feed.counters.decode_errors >= 2, what="two decode errors")
    count = len(recorder.books)
    await wait_until(lambda: len(recorder.books) > count + 10, what="books to keep flowing")
    assert cb_feed.counters.reconnects == 0 and cb_feed.counters.gaps == 0
    assert "decode_error" in recorder.kinds()
    await _assert_books_equal_to_simulator(sim, cb_feed)


async def test_duplicate_trades_are_dropped(sim, feed) -> None:
    cb_feed, recorder = feed
    await wait_until(lambda: any(t.symbol == BTC for t in recorder.trades), what="a BTC trade")
    await wait_until(lambda: sim.faults.duplicate_trades(BTC), what="a batch to repeat")
    await wait_until(lambda: cb_feed.counters.duplicate_trades >= 1, what="a duplicate dropped")
    ids = [(t.symbol, t.trade_id) for t in recorder.trades]
    assert len(ids) == len(set(ids))


async def test_a_stall_trips_the_watchdog_and_the_feed_recovers(sim) -> None:
    cb_feed, _ = await _start(sim, watchdog_timeout=2.0)
    try:
        sim.faults.stall(4.0)
        await wait_until(lambda: cb_feed.counters.reconnects >= 1, what="watchdog reconnect")
        await cb_feed.wait_ready(20)
        await _assert_books_equal_to_simulator(sim, cb_feed)
    finally:
        await cb_feed.stop()
