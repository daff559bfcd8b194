"""The fast batch path the backtester runs: compiled crossing rules, candidate codes straight
into the kernel, metrics from the kernel's own statistics, indicators reused across a sweep.

Each shortcut is held to the plain path it replaces, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.backtest.config import BacktestConfig
from desk.backtest.events import events_from_codes
from desk.backtest.kernel import simulate
from desk.backtest.metrics import compute_metrics, metrics_from_stats
from desk.backtest.run import backtest, make_strategy
from desk.signals import indicators as ind
from desk.signals.strategy import (
    EXIT_LONG,
    EXIT_SHORT,
    LONG,
    SHORT,
    codes_from,
    cross_down,
    cross_up,
    crosses_above,
    crosses_below,
)
from tests.backtest.conftest import walk

# ---- crossing rules ------------------------------------------------------------------------

values = st.sampled_from([np.nan, -1.0, 0.0, 0.5, 1.0, 2.0])


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(values, min_size=1, max_size=40),
    level=st.lists(values, min_size=40, max_size=40),
    scalar=st.sampled_from([None, 0.0, 1.0]),
    zero_filter=st.booleans(),
)
def test_compiled_rules_mark_what_the_numpy_masks_mark(x, level, scalar, zero_filter) -> None:
    """Ties, NaN, scalar levels, the zero filter and rule priority, against the mask path."""
    xs = np.array(x)
    lv = np.array(level[: len(x)]) if scalar is None else scalar
    up, down = crosses_above(xs, lv), crosses_below(xs, lv)
    if zero_filter:
        up &= xs > 0.0
        down &= xs < 0.0
    other = np.arange(len(xs)) % 3 == 0  # a mask rule between crossings keeps its priority
    want = np.zeros(len(xs), dtype=np.int8)
    for mask, code in reversed([(up, LONG), (other, EXIT_LONG), (down, SHORT), (up, EXIT_SHORT)]):
        want[mask] = code
    got = codes_from(
        cross_up(xs, lv, LONG, sign=1 if zero_filter else 0),
        (other, EXIT_LONG),
        cross_down(xs, lv, SHORT, sign=-1 if zero_filter else 0),
        cross_up(xs, lv, EXIT_SHORT, sign=1 if zero_filter else 0),
    )
    np.testing.assert_array_equal(got, want)
    paired = codes_from(cross_up(xs, lv, LONG), cross_down(xs, lv, SHORT))  # one shared pass
    unpaired = np.zeros(len(xs), dtype=np.int8)
    for mask, code in reversed([(crosses_above(xs, lv), LONG), (crosses_below(xs, lv), SHORT)]):
        unpaired[mask] = code
    np.testing.assert_array_equal(paired, unpaired)


def test_batch_codes_do_not_touch_the_live_state_or_the_plotted_indicators() -> None:
    strategy = make_strategy("ma_crossover", {"fast": 3, "slow": 8})
    arrays = walk(300, seed=2).arrays()
    codes = strategy.batch_codes(arrays)
    assert codes.dtype == np.int8 and codes.shape == (300,)
    assert strategy.state == 0 and strategy.get_indicators() == {}
    rows = [i for i, _ in strategy.array_signals(arrays)]
    assert np.flatnonzero(events_from_codes(codes)).tolist() == rows


# ---- codes into the kernel, statistics out -------------------------------------------------

CONFIGS = [
    BacktestConfig(cash=5_000.0, taker_bps=5.0, slippage_bps=2.0, lot=0.001, min_size=0.01),
    BacktestConfig(sizing="fixed", size=3.0, leverage=None, fill="close", stop_loss=0.01),
    BacktestConfig(fraction=0.5, take_profit=0.004, stop_loss=0.006, order_type="limit"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["fraction", "fixed-close-stop", "exits"])
@pytest.mark.parametrize("start", [0, 150])
def test_codes_in_the_kernel_equal_events_and_its_stats_equal_the_curves_metrics(
    config: BacktestConfig, start: int
) -> None:
    c = walk(2_500, seed=4, vol=0.004)
    arrays = c.arrays()
    codes = make_strategy("rsi_mean_reversion", {"n": 6}).batch_codes(arrays)
    plain = simulate(arrays, events_from_codes(codes), config, start=start)
    fused = simulate(arrays, codes, config, start=start, codes=True)
    lean = simulate(arrays, codes, config, start=start, codes=True, curves=False)
    for a, b in ((plain, fused), (plain, lean)):
        np.testing.assert_array_equal(a.trades, b.trades)
        np.testing.assert_array_equal(a.stats, b.stats)
        assert (a.fees, a.fills, a.skipped) == (b.fees, b.fills, b.skipped)
    np.testing.assert_array_equal(plain.equity, fused.equity)
    assert lean.equity.shape == (0,)
    assert plain.fills > 5
    kw = {"cash": config.cash, "bar_ns": c.bar_ns, "fees": plain.fees}
    from_curves = compute_metrics(plain.equity[start:], plain.position[start:], plain.trades, **kw)
    assert metrics_from_stats(lean.stats, lean.trades, **kw) == from_curves  # bit for bit


def test_a_backtests_metrics_are_its_curves_metrics() -> None:
    c = walk(1_500, seed=6, vol=0.003)
    result = backtest(c, "macd_trend", {"zero_filter": True}, CONFIGS[0], start=100)
    again = compute_metrics(
        result.equity, result.position, result.trades,
        cash=result.config.cash, bar_ns=c.bar_ns, fees=result.metrics["fees"],
    )  # fmt: skip
    assert result.metrics == again
    assert result.metrics["trades"] > 0


# ---- indicators reused across a sweep ------------------------------------------------------


def test_reuse_returns_the_first_result_read_only_and_only_inside_the_block() -> None:
    x = walk(500, seed=1).close
    fresh = ind.sma(x, 7)
    with ind.reuse():
        a = ind.sma(x, 7)
        assert ind.sma(x, 7) is a and not a.flags.writeable
        assert ind.sma(x, 8) is not a and ind.ema(x, 7) is not a
        _, mid, _ = ind.bollinger(x, 7, 2.0)
        assert ind.bollinger(x, 7, 2.0)[1] is mid
        np.testing.assert_array_equal(a, fresh)
    assert ind.sma(x, 7) is not a and ind.sma(x, 7).flags.writeable


def test_a_token_keeps_results_for_new_copies_of_the_same_data_until_another_token() -> None:
    data = walk(500, seed=1).arrays()
    with ind.reuse(data, token="sweep-1"):
        first = ind.sma(data["close"], 5)
        ind.sma(data["close"] * 2.0, 5)  # an unnamed input: not kept beyond the block
    copy = {k: v.copy() for k, v in data.items()}  # as a worker's next chunk receives them
    with ind.reuse(copy, token="sweep-1"):
        assert ind.sma(copy["close"], 5) is first
    with ind.reuse(copy, token="sweep-2"):
        assert ind.sma(copy["close"], 5) is not first
    ind.forget()


def test_reuse_stays_within_its_memory_bound() -> None:
    x = walk(1_000, seed=1).close  # 8 kB per result
    with ind.reuse(max_bytes=3 * 8_000):
        firsts = [ind.sma(x, n) for n in range(2, 8)]
        assert ind.sma(x, 7) is firsts[-1]  # recent: kept
        assert ind.sma(x, 2) is not firsts[0]  # oldest: dropped
