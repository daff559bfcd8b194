"""Binance's 24 h figures end to end: the simulator's ``miniTicker`` over a real WebSocket, the
feed's ``Ticker`` events, and the engine's tickers view (the UI's ticker strip and cross-venue
view read it), which showed "—" for Binance's 24 h change before the feed took the stream."""

from __future__ import annotations

import math
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from desk.config import DeskConfig, with_simulator
from desk.core.bus import Bus
from desk.core.events import Ticker
from desk.engine.engine import Engine
from desk.engine.views import EngineViews
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.feed import BinanceFeed
from desk.net.config import ReconnectConfig
from desk.sim.binance.simulator import BinanceSimulator
from desk.sim.config import SimulatorConfig
from tests.feeds.binance.fakes import Recorder
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

SYMBOL, NATIVE, STREAM = "BTC-USDT", "BTCUSDT", "btcusdt@miniTicker"
NS_PER_MS = 1_000_000


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    """No simulated past: the 24 h window is everything since start, so a paused market keeps
    its figures still and the feed's can be compared with the simulator's exactly."""
    config = SimulatorConfig(port=0, seed=11, update_interval=0.05, history_hours=0)
    async with BinanceSimulator(config) as simulator:
        yield simulator


@pytest.fixture
async def feed(sim: BinanceSimulator) -> AsyncIterator[tuple[BinanceFeed, Recorder]]:
    bus = Bus()
    recorder = Recorder(bus)
    config = BinanceConfig(
        enabled=True,
        symbols=(SYMBOL,),
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        reconnect=ReconnectConfig(initial_delay=0.05, max_delay=0.5, jitter=0.1),
    )
    binance = BinanceFeed(config, bus, rng=random.Random(3))
    await binance.start()
    await binance.wait_ready(20)
    yield binance, recorder
    await binance.stop()


def pushed(ticker: Ticker) -> bool:
    """A ticker the feed published on a ``miniTicker`` push (``bookTicker`` has no time)."""
    return ticker.ts_exchange > 0


def figures(ticker: Ticker) -> tuple[float, ...]:
    t = ticker
    return t.open_24h, t.high_24h, t.low_24h, t.volume_24h, t.volume_quote_24h


async def test_the_feeds_tickers_carry_the_simulators_24h_figures(sim, feed) -> None:
    _, recorder = feed
    await wait_until(lambda: any(map(pushed, recorder.tickers)), what="a first miniTicker")
    sim.pause()
    paused_ns = time.time_ns()
    await wait_until(
        lambda: any(pushed(t) and t.ts_exchange > paused_ns for t in recorder.tickers),
        what="a miniTicker pushed after the pause",
    )
    data = msgspec.json.decode(sim.streams[NATIVE].latest["miniTicker"])
    expected = tuple(float(data[k]) for k in ("o", "h", "l", "v", "q"))
    last_push = [t for t in recorder.tickers if pushed(t)][-1]
    assert figures(last_push) == expected
    assert last_push.low_24h <= last_push.open_24h <= last_push.high_24h
    assert 0 < last_push.bid < last_push.ask, "the best bid/ask of the last bookTicker"
    assert last_push.last > 0

    # a bookTicker after it carries the same figures (the take's volume comes with the next push)
    count = len(recorder.tickers)
    sim.synthetic_take(NATIVE, "buy", "0.5")
    sim.publish(depth=False, mini=False)
    await wait_until(
        lambda: any(not pushed(t) for t in recorder.tickers[count:]),
        what="a bookTicker after the take",
    )
    from_book = next(t for t in recorder.tickers[count:] if not pushed(t))
    assert figures(from_book) == expected
    assert not any(math.isnan(x) for x in figures(from_book))


async def test_a_malformed_mini_ticker_is_counted_and_the_stream_goes_on(sim, feed) -> None:
    binance, recorder = feed
    await wait_until(lambda: any(map(pushed, recorder.tickers)), what="a first miniTicker")
    now_ms = sim.now_ms()
    bad = [
        b'{"e":"24hrMiniTicker","E":%d,"s":"BTCUSDT","c":"oops","o":"1","h":"1","l":"1",'
        b'"v":"1","q":"1"}' % now_ms,
        b'{"e":"24hrMiniTicker","E":%d,"s":"BTCUSDT","c":"1.00","o":"1.00","h":"1.00",'
        b'"l":"1.00","v":"1","q":"1"}' % (now_ms + 1),  # 60,000 times below the market
        b'{"e":"24hrMiniTicker","E":%d,"s":"BTCUSDT","c":' % (now_ms + 2),
    ]
    binance.keeper.refresh_guards()  # the band on the live price, as once a second
    errors = binance.counters.decode_errors
    for payload in bad:
        sim.hub.broadcast(STREAM, payload)
    await wait_until(
        lambda: binance.counters.decode_errors >= errors + len(bad), what="the bad pushes counted"
    )
    assert binance.counters.bad_values >= 1, "the price out of band"
    count = len(recorder.tickers)
    await wait_until(
        lambda: any(map(pushed, recorder.tickers[count:])), what="the next good miniTicker"
    )
    good = next(t for t in recorder.tickers[count:] if pushed(t))
    assert good.low_24h > 1000.0, "nothing of the bad pushes was taken"
    assert binance.counters.reconnects == 0 and binance.counters.gaps == 0


async def test_the_engines_tickers_view_shows_binances_24h_change(tmp_path: Path) -> None:
    config = with_simulator(DeskConfig(), all_venues=True)
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "desk.sqlite"))
    trading = msgspec.structs.replace(config.trading, symbols=(SYMBOL,))
    engine = Engine(msgspec.structs.replace(config, storage=storage, trading=trading, bots=()))
    views = EngineViews(engine)

    def changes() -> dict[str, float]:
        return {t.venue: t.change_24h_pct for t in views.tickers().tickers if t.symbol == SYMBOL}

    await engine.start()
    try:
        await wait_until(
            lambda: math.isfinite(changes().get("binance", math.nan)),
            timeout=30,
            what="Binance's 24 h change in the tickers view",
        )
        binance = next(
            t for t in views.tickers().tickers if (t.symbol, t.venue) == (SYMBOL, "binance")
        )
        assert binance.open_24h > 0 and binance.volume_24h > 0
        assert binance.change_24h_pct == pytest.approx((binance.last / binance.open_24h - 1) * 100)
        assert abs(binance.change_24h_pct) < 50
    finally:
        await engine.stop()
