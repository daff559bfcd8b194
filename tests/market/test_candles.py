"""Candles: right-aligned buckets, closing, flat gaps, late trades, and live == batch."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.core.clock import NS_PER_S, TestClock
from desk.core.events import Candle
from desk.market.candles import CandleAggregator, aggregate_trades, bucket_end
from desk.market.timeframes import SUPPORTED_TIMEFRAMES, format_timeframe, parse_timeframe

MIN = 60 * NS_PER_S


def at(hh: int, mm: int, ss: int = 0, ns: int = 0) -> int:
    """ns since the epoch of 2024-01-02 hh:mm:ss UTC, plus ``ns``."""
    return int(datetime(2024, 1, 2, hh, mm, ss, tzinfo=UTC).timestamp()) * NS_PER_S + ns


class Desk:
    """An aggregator on a hand-moved clock that collects what it emits."""

    def __init__(self, *timeframes: str, grace_ns: int = 0) -> None:
        self.clock = TestClock(at(9, 0))
        self.out: list[Candle] = []
        self.agg = CandleAggregator(
            "okx", "BTC-USDT", timeframes, self.clock, self.out.append, grace_ns=grace_ns
        )

    def trade(self, ts: int, price: float, size: float = 1.0) -> None:
        self.clock.set_ns(max(self.clock.now_ns(), ts))
        self.agg.on_trade(ts, price, size)

    def tick(self, now: int) -> None:
        self.clock.set_ns(now)
        self.agg.on_clock()

    def ends(self, timeframe: str | None = None) -> list[int]:
        return [c.end for c in self.out if timeframe in (None, c.timeframe)]


# -- timeframes --------------------------------------------------------------------------------


def test_timeframes_parse_to_nanoseconds() -> None:
    assert parse_timeframe("1s") == NS_PER_S
    assert parse_timeframe("3s") == 3 * NS_PER_S
    assert parse_timeframe("15m") == 15 * MIN
    assert parse_timeframe("4h") == 4 * 60 * MIN
    assert parse_timeframe("1d") == 24 * 60 * MIN
    assert parse_timeframe("2w") == 14 * 24 * 60 * MIN
    assert all(parse_timeframe(tf) > 0 for tf in SUPPORTED_TIMEFRAMES)


@pytest.mark.parametrize("bad", ["7x", "", "m", "0m", "-1m", "1.5m", "1M", " 1m", "1m "])
def test_a_bad_timeframe_is_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_timeframe(bad)
    assert str(err.value) == (
        f"unknown timeframe {bad!r}: expected a number followed by s, m, h, d or w"
    )


def test_bad_timeframe_error_text_is_exact() -> None:
    with pytest.raises(ValueError) as err:
        parse_timeframe("7x")
    assert str(err.value) == "unknown timeframe '7x': expected a number followed by s, m, h, d or w"


def test_timeframe_names_round_trip() -> None:
    assert [format_timeframe(parse_timeframe(tf)) for tf in SUPPORTED_TIMEFRAMES] == list(
        SUPPORTED_TIMEFRAMES
    )
    assert format_timeframe(90 * NS_PER_S) == "90s"


def test_an_aggregator_with_a_bad_timeframe_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown timeframe '5x'"):
        CandleAggregator("okx", "X", ["5x"], TestClock(), lambda c: None)


# -- right-aligned buckets ---------------------------------------------------------------------


def test_bucket_end_is_the_ceiling_of_the_trade_time() -> None:
    five = 5 * MIN
    assert bucket_end(at(9, 5), five) == at(9, 5)
    assert bucket_end(at(9, 5, ns=1), five) == at(9, 10)
    assert bucket_end(at(9, 0, ns=1), five) == at(9, 5)


def test_trade_exactly_on_the_boundary_belongs_to_the_candle_ending_there() -> None:
    desk = Desk("5m")
    desk.trade(at(9, 1), 100.0)
    desk.trade(at(9, 5), 101.0)  # 09:05:00.000000000 -> the 09:05 candle
    assert desk.out == []
    forming = desk.agg.forming("5m")
    assert forming is not None
    assert (forming.end, forming.close, forming.trades) == (at(9, 5), 101.0, 2)
    assert not forming.closed


def test_trade_one_nanosecond_after_the_boundary_opens_the_next_candle() -> None:
    desk = Desk("5m")
    desk.trade(at(9, 1), 100.0)
    desk.trade(at(9, 5, ns=1), 102.0)  # 09:05:00.000000001 -> the 09:10 candle
    assert desk.ends() == [at(9, 5)]
    assert desk.out[0].close == 100.0
    forming = desk.agg.forming("5m")
    assert forming is not None and forming.end == at(9, 10) and forming.open == 102.0


def test_closed_candle_carries_ohlcv_and_both_times() -> None:
    desk = Desk("1m")
    desk.trade(at(9, 0, 10), 100.0, 2.0)
    desk.trade(at(9, 0, 20), 105.0, 1.0)
    desk.trade(at(9, 0, 30), 95.0, 1.0)
    desk.trade(at(9, 0, 40), 101.0, 0.5)
    desk.trade(at(9, 1, 5), 101.5)
    (c,) = desk.out
    assert (c.open, c.high, c.low, c.close) == (100.0, 105.0, 95.0, 101.0)
    assert c.volume == 4.5
    assert c.quote_volume == 100.0 * 2.0 + 105.0 + 95.0 + 101.0 * 0.5
    assert c.trades == 4
    assert c.closed
    assert (c.end, c.ts_exchange) == (at(9, 1), at(9, 1))
    assert c.ts_recv == at(9, 1, 5)  # the clock when it was emitted
    assert (c.venue, c.symbol, c.timeframe) == ("okx", "BTC-USDT", "1m")


# -- closing by the clock ----------------------------------------------------------------------


def test_on_clock_closes_a_candle_without_a_new_trade() -> None:
    desk = Desk("1m")
    desk.trade(at(9, 0, 30), 100.0)
    desk.tick(at(9, 1))  # exactly at the end: a trade may still land on it
    assert desk.out == []
    desk.tick(at(9, 1, ns=1))
    assert desk.ends() == [at(9, 1)]
    assert desk.out[0].closed and desk.out[0].ts_recv == at(9, 1, ns=1)
    assert desk.agg.forming("1m") is None


def test_grace_keeps_a_candle_open_for_late_prints() -> None:
    desk = Desk("1m", grace_ns=2 * NS_PER_S)
    desk.trade(at(9, 0, 30), 100.0)
    desk.tick(at(9, 1, 1))
    desk.agg.on_trade(at(9, 0, 59), 99.0, 1.0)  # a second late, inside the grace
    assert desk.out == []
    desk.tick(at(9, 1, 2, ns=1))
    assert desk.ends() == [at(9, 1)]
    assert desk.out[0].close == 99.0 and desk.out[0].trades == 2


def test_nothing_is_emitted_before_the_first_trade() -> None:
    desk = Desk("1s", "1m")
    desk.tick(at(10, 0))
    assert desk.out == []
    assert desk.agg.forming("1m") is None


def test_on_clock_emits_a_flat_candle_for_every_quiet_interval() -> None:
    desk = Desk("1m")
    desk.trade(at(9, 0, 30), 100.0)
    desk.trade(at(9, 0, 45), 101.0)
    desk.tick(at(9, 3, 30))
    assert desk.ends() == [at(9, 1), at(9, 2), at(9, 3)]
    flat = desk.out[1]
    assert (flat.open, flat.high, flat.low, flat.close) == (101.0, 101.0, 101.0, 101.0)
    assert (flat.volume, flat.quote_volume, flat.trades, flat.closed) == (0.0, 0.0, 0, True)
    desk.tick(at(9, 3, 40))  # nothing new is due
    assert len(desk.out) == 3


# -- gaps and late trades ----------------------------------------------------------------------


def test_a_gap_between_trades_is_filled_with_flat_candles_in_order() -> None:
    desk = Desk("1m")
    desk.trade(at(9, 0, 10), 100.0)
    desk.trade(at(9, 4, 10), 110.0)
    assert desk.ends() == [at(9, 1), at(9, 2), at(9, 3), at(9, 4)]
    assert [c.close for c in desk.out] == [100.0] * 4
    assert [c.trades for c in desk.out] == [1, 0, 0, 0]
    forming = desk.agg.forming("1m")
    assert forming is not None and (forming.end, forming.open) == (at(9, 5), 110.0)


def test_a_trade_after_the_clock_closed_everything_fills_the_gap_too() -> None:
    desk = Desk("1m")
    desk.trade(at(9, 0, 10), 100.0)
    desk.tick(at(9, 1, 30))
    desk.trade(at(9, 3, 10), 90.0)
    assert desk.ends() == [at(9, 1), at(9, 2), at(9, 3)]
    assert desk.out[-1].trades == 0 and desk.out[-1].close == 100.0


def test_a_late_trade_is_counted_and_not_applied() -> None:
    desk = Desk("1m", "5m")
    desk.trade(at(9, 0, 10), 100.0)
    desk.trade(at(9, 1, 10), 101.0)  # closes the 09:01 one-minute candle
    desk.agg.on_trade(at(9, 0, 50), 50.0, 1.0)  # late for 1m, still on time for 5m
    assert desk.agg.late_trades == 1
    assert desk.agg.late_trades_by_timeframe() == {"1m": 1, "5m": 0}
    assert desk.out[0].low == 100.0
    five = desk.agg.forming("5m")
    assert five is not None and five.low == 50.0 and five.trades == 3


def test_timeframes_close_independently() -> None:
    desk = Desk("1m", "5m")
    desk.trade(at(9, 0, 10), 100.0)
    desk.trade(at(9, 2, 10), 101.0)
    assert desk.ends("1m") == [at(9, 1), at(9, 2)]
    assert desk.ends("5m") == []
    desk.tick(at(9, 5, 1))
    assert desk.ends("5m") == [at(9, 5)]
    assert desk.ends("1m") == [at(9, 1), at(9, 2), at(9, 3), at(9, 4), at(9, 5)]


# -- the vectorised path -----------------------------------------------------------------------


def test_aggregate_trades_uses_the_same_edges_and_flat_rows() -> None:
    ts = np.array([at(9, 0, 1), at(9, 1), at(9, 1, ns=1), at(9, 4)], dtype=np.int64)
    px = np.array([100.0, 101.0, 102.0, 99.0])
    sz = np.array([1.0, 2.0, 1.0, 1.0])
    c = aggregate_trades(ts, px, sz, MIN)
    assert c.end.tolist() == [at(9, 1), at(9, 2), at(9, 3), at(9, 4)]
    assert c.open.tolist() == [100.0, 102.0, 102.0, 99.0]
    assert c.close.tolist() == [101.0, 102.0, 102.0, 99.0]
    assert c.volume.tolist() == [3.0, 1.0, 0.0, 1.0]
    assert c.trades.tolist() == [2, 1, 0, 1]


def test_aggregate_trades_of_nothing_is_empty() -> None:
    empty = np.array([], dtype=np.int64)
    c = aggregate_trades(empty, empty.astype(float), empty.astype(float), MIN)
    assert len(c.end) == 0 and c.end.dtype == np.int64


def test_aggregate_trades_refuses_unsorted_trades() -> None:
    ts = np.array([2, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="sorted"):
        aggregate_trades(ts, np.ones(2), np.ones(2), 10)


# -- live == batch -----------------------------------------------------------------------------

BASE = at(9, 0)
TIMEFRAMES = {"1s": NS_PER_S, "3s": 3 * NS_PER_S, "1m": MIN}


@st.composite
def trade_times(draw: st.DrawFn) -> list[int]:
    """Sorted trade times over a few minutes, many of them exactly on (or next to) an edge."""
    edge = st.builds(
        lambda k, d: BASE + k * NS_PER_S + d,
        st.integers(0, 200),
        st.sampled_from([0, 0, 1, -1]),
    )
    anywhere = st.integers(BASE - NS_PER_S, BASE + 200 * NS_PER_S)
    return sorted(draw(st.lists(st.one_of(edge, anywhere), min_size=1, max_size=60)))


prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
sizes = st.floats(min_value=1e-8, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(deadline=None, max_examples=200, derandomize=True)
@given(trade_times(), st.data())
def test_streaming_candles_equal_aggregate_trades(times: list[int], data: st.DataObject) -> None:
    px = data.draw(st.lists(prices, min_size=len(times), max_size=len(times)))
    sz = data.draw(st.lists(sizes, min_size=len(times), max_size=len(times)))
    out: list[Candle] = []
    clock = TestClock(times[0])
    agg = CandleAggregator("okx", "X", list(TIMEFRAMES), clock, out.append)
    for t, p, s in zip(times, px, sz, strict=True):
        agg.on_trade(t, p, s)
    last_end = {name: bucket_end(times[-1], tf) for name, tf in TIMEFRAMES.items()}
    clock.set_ns(max(last_end.values()) + 1)
    agg.on_clock()
    assert agg.late_trades == 0

    for name, tf in TIMEFRAMES.items():
        live = [c for c in out if c.timeframe == name]
        assert all(c.closed for c in live)
        assert [c.end for c in live] == list(range(live[0].end, live[-1].end + 1, tf))
        batch = aggregate_trades(np.array(times), np.array(px), np.array(sz), tf)
        inside = [c for c in live if c.end <= last_end[name]]
        rows = list(zip(*batch, strict=True))
        assert [
            (c.end, c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades)
            for c in inside
        ] == [tuple(r.item() for r in row) for row in rows]
        for c in live[len(inside) :]:  # intervals after the last trade, passed by the clock
            assert c.trades == 0 and c.open == c.close == batch.close[-1]
