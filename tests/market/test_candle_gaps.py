"""Candles never fill a huge gap bar by bar, and historical data runs on its own clock."""

from __future__ import annotations

import time

import pytest

from desk.core.clock import NS_PER_S, TestClock
from desk.core.events import Candle
from desk.market.candles import DEFAULT_MAX_FILL_BARS, CandleAggregator, bucket_end
from tests.market.test_candles import Desk, at

YEAR_5138_NS = 99_999_999_999_999 * 1_000_000
DAY = 86_400 * NS_PER_S


def test_a_trade_from_the_year_5138_is_a_gap_not_billions_of_flat_candles() -> None:
    gaps: list[str] = []
    out: list[Candle] = []
    agg = CandleAggregator(
        "okx", "BTC-USDT", ["1s", "1m"], TestClock(at(9, 0)), out.append, on_gap=gaps.append
    )
    agg.on_trade(at(9, 0, 0, 5), 100.0, 1.0)
    agg.on_trade(YEAR_5138_NS, 101.0, 1.0)
    assert [c.end for c in out] == [at(9, 0, 1), at(9, 1)], "only the candles that were open"
    assert agg.gaps == 2 and len(gaps) == 2
    assert "5138" in gaps[0] and "not filled" in gaps[0]
    forming = agg.forming("1s")
    assert forming is not None and forming.end == bucket_end(YEAR_5138_NS, NS_PER_S)  # restarted


def test_the_clock_passing_a_long_quiet_spell_records_a_gap_and_goes_on() -> None:
    desk = Desk("1s")
    desk.trade(at(9, 0, 0, 5), 100.0)
    desk.tick(at(12, 0))  # three hours of 1s bars: more than the limit
    assert desk.ends() == [at(9, 0, 1)]
    assert desk.agg.gaps == 1
    desk.trade(at(12, 0, 0, 5), 102.0)
    desk.tick(at(12, 0, 3, ns=1))
    # the series restarts where the clock stopped it: the interval before the trade is flat
    assert desk.ends()[1:] == [at(12, 0, 0), at(12, 0, 1), at(12, 0, 2), at(12, 0, 3)]
    assert desk.out[1].trades == 0 and desk.out[2].close == 102.0


def test_a_gap_up_to_the_limit_is_still_filled() -> None:
    out: list[Candle] = []
    agg = CandleAggregator("okx", "X", ["1s"], TestClock(), out.append, max_fill_bars=5)
    agg.on_trade(at(9, 0, 0, 5), 100.0, 1.0)
    agg.on_trade(at(9, 0, 6, 5), 100.0, 1.0)  # five empty seconds between
    assert len(out) == 6 and agg.gaps == 0
    agg.on_trade(at(9, 0, 13, 5), 100.0, 1.0)  # six: one too many
    assert len(out) == 7 and agg.gaps == 1
    assert DEFAULT_MAX_FILL_BARS == 1000


def test_historical_trades_run_on_their_own_clock_and_never_read_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_wall_clock() -> int:
        raise AssertionError("the wall clock was read")

    monkeypatch.setattr(time, "time_ns", no_wall_clock)
    monkeypatch.setattr(time, "time", no_wall_clock)
    out: list[Candle] = []
    agg = CandleAggregator("okx", "BTC-USDT", ["1m"], None, out.append)  # None: the data's clock
    start = 1_640_995_200 * NS_PER_S  # 2022-01-01
    for i in range(180):
        agg.on_trade(start + i * NS_PER_S + 1, 100.0 + i, 1.0)
        agg.on_clock()
    assert [c.end for c in out] == [start + 60 * NS_PER_S, start + 120 * NS_PER_S]
    assert all(c.ts_recv == start + 179 * NS_PER_S + 1 or c.ts_recv < start + DAY for c in out)
    assert agg.now_ns() == start + 179 * NS_PER_S + 1 and agg.gaps == 0
