"""Where the health view's latency histograms come from: each feed's exchange-to-receive
samples (recorded on its hot path, folded once a second), merged per venue, and the bots'
tick-to-order, timed from the closed bar that led to an order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from desk.bridge.codec import decode_as, encode
from desk.bridge.views import HealthView
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, TestClock
from desk.core.enums import Mode
from desk.core.events import Candle
from desk.core.histogram import LatencyHistogram, MarkedLatency, bucket_of
from desk.engine.latency import latency_views
from desk.feeds.counters import FeedCounters
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig, SignalFate
from desk.signals.order_sink import PaperSink
from desk.signals.signal import Direction, Signal

MS = 1_000_000
T0 = 1_700_000_000 * NS_PER_S
SYM, TF = "BTC-USDT", "1m"


def test_the_hot_path_append_feeds_the_window_and_the_histogram_since_the_start() -> None:
    counters = FeedCounters("okx-public", latency_window=4)
    append = counters.latency_append  # what the feeds cache and call per message
    counters.on_message(10, T0)
    for latency in (1 * MS, 2 * MS, 3 * MS):
        append(latency)
    assert counters.latency_histogram.count == 3  # reading folds what is pending
    for latency in (4 * MS, 5 * MS, 60 * MS):
        append(latency)
    counters.on_message(10, T0 + NS_PER_S)  # a new second folds without anyone reading:
    assert len(counters._unfolded) == 0  # what waits on the hot path is one second's at most
    histogram = counters.latency_histogram
    assert histogram.count == 6
    assert (histogram.min_ns, histogram.max_ns) == (1 * MS, 60 * MS)
    assert histogram.counts[bucket_of(60 * MS)] == 1
    assert list(counters.latency) == [3 * MS, 4 * MS, 5 * MS, 60 * MS]  # the recent window
    assert counters.latencies_ms() == (60.0, 5.0, 60.0)  # last, p50, p99 of the window


def _feed(name: str, venue: str, samples: list[int]) -> Any:
    counters = FeedCounters(name)
    for sample in samples:
        counters.latency_append(sample)
    return SimpleNamespace(name=name, counters=counters, reporter=SimpleNamespace(venue=venue))


def test_latency_views_merge_connections_per_venue_then_add_the_bots_tick_to_order() -> None:
    tick_to_order = MarkedLatency()
    tick_to_order.mark(("BTC-USDT", 1), 0)
    tick_to_order.record(("BTC-USDT", 1), 300_000)
    engine = SimpleNamespace(
        feeds=SimpleNamespace(
            feeds=[
                _feed("okx-public", "okx", [1 * MS, 2 * MS]),
                _feed("okx-business", "okx", [9 * MS]),
                _feed("binance-spot", "binance", [40 * MS]),
            ]
        ),
        bots=SimpleNamespace(tick_to_order=tick_to_order),
    )
    views = latency_views(engine)  # type: ignore[arg-type]
    assert [(v.name, v.path, v.count) for v in views] == [
        ("okx", "exchange", 3),
        ("binance", "exchange", 1),
        ("bots", "tick_to_order", 1),
    ]
    okx = views[0]
    assert (okx.min_ns, okx.max_ns, okx.sum_ns) == (1 * MS, 9 * MS, 12 * MS)
    assert okx.counts == _histogram([1 * MS, 2 * MS, 9 * MS]).counts
    assert views[2].max_ns == 300_000
    no_feeds = SimpleNamespace(feeds=None, bots=engine.bots)
    assert [v.path for v in latency_views(no_feeds)] == ["tick_to_order"]  # type: ignore[arg-type]


def test_the_latency_views_cross_the_redis_wire_unchanged() -> None:
    """An attached UI reads the health view from Redis: the histograms come with it."""
    feeds = SimpleNamespace(feeds=[_feed("okx-public", "okx", [1 * MS, 3 * MS, 70 * MS])])
    views = latency_views(SimpleNamespace(feeds=feeds, bots=None))  # type: ignore[arg-type]
    health = HealthView(
        ts=1, mode=Mode.SIM, connections=[], loop_lag_ms=0.0, loop_lag_p99_ms=0.0,
        cpu_percent=0.0, rss_bytes=0, max_memory_bytes=0, queues=[], sqlite_backlog=0,
        sqlite_rows_written=0, sqlite_write_errors=0, candles_closed=0, uptime_s=0.0,
        latencies=views,
    )  # fmt: skip
    assert decode_as(encode(health), HealthView).latencies == views


def _histogram(values: list[int]) -> LatencyHistogram:
    histogram = LatencyHistogram()
    histogram.record_many(values)
    return histogram


class _Store:
    def record_signal(self, **_: Any) -> None: ...

    def record_bot_event(self, **_: Any) -> None: ...

    def upsert_bot(self, **_: Any) -> None: ...

    async def load_bots(self) -> list[dict[str, Any]]:
        return []


class _SlowSink(PaperSink):
    """An order path that takes ``cost_ns`` of the manager's clock to hand an order over."""

    def __init__(self, clock: TestClock, cost_ns: int) -> None:
        super().__init__()
        self.clock, self.cost_ns = clock, cost_ns

    def submit(self, bot: BotConfig, signal: Signal) -> str:
        self.clock.advance_ns(self.cost_ns)
        return super().submit(bot, signal)


def _candle(bar: int, close: float, recv_ns: int) -> Candle:
    end = T0 + (bar + 1) * 60 * NS_PER_S
    return Candle(
        ts_exchange=end,
        ts_recv=recv_ns,
        venue="okx",
        symbol=SYM,
        timeframe=TF,
        end=end,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
        quote_volume=close,
        trades=1,
        closed=True,
    )


def test_tick_to_order_times_each_order_from_the_bar_it_was_decided_on() -> None:
    bus, clock = Bus(), TestClock(T0)
    sink = _SlowSink(clock, cost_ns=2 * MS)
    manager = BotManager(bus, _Store(), sink, clock)
    bot = BotConfig(
        bot_id="fast", strategy="ma_crossover", symbol=SYM, timeframe=TF, size=1.0,
        params={"fast": 1, "slow": 2},
    )  # fmt: skip
    manager.add_bot(bot)
    manager.start_bot("fast")
    fates: list[Any] = []
    bus.subscribe(topics.bot_signals("fast"), lambda e: fates.append(getattr(e, "fate", None)))
    for bar, close in enumerate([100.0, 101.0, 99.0, 102.0, 98.0, 103.0]):
        clock.advance_ns(60 * NS_PER_S)
        bus.publish(topics.market_data(SYM), _candle(bar, close, recv_ns=clock.now_ns()))
    sent = fates.count(SignalFate.SENT)
    timed = manager.tick_to_order.histogram
    assert sent >= 3 and timed.count == len(sink.orders) == sent
    assert timed.min_ns == timed.max_ns == 2 * MS  # the bar's receive to the order handed over
    # a decision that arrives after a newer bar (a model's, late) is not timed from that bar
    stale = Signal(
        ts=T0 + 60 * NS_PER_S, symbol=SYM, timeframe=TF, direction=Direction.SHORT,
        strength=1.0, price=100.0, indicators={}, reason="late", strategy="ma_crossover",
    )  # fmt: skip
    assert manager.process_signal("fast", stale) is SignalFate.SENT
    assert timed.count == sent
