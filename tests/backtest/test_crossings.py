"""Candidate codes made from shared series (a sweep's fast path for crossing strategies)
against the strategies' own batch codes, bit for bit: ties, NaN, block boundaries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.backtest.batch import LANES, Workspace
from desk.backtest.config import BacktestConfig
from desk.backtest.crossings import crossing_codes, crossing_series, group_codes
from desk.backtest.kernel import config_vector, simulate
from desk.backtest.lockstep import KIND_CROSS, KIND_NONE
from desk.backtest.run import make_strategy
from desk.signals import indicators as ind
from desk.signals.strategy import LONG, SHORT, codes_from, cross_down, cross_up
from tests.backtest.conftest import walk

values = st.sampled_from([np.nan, -1.0, 0.0, 0.5, 1.0, 2.0])
CONFIG = BacktestConfig(taker_bps=5.0, slippage_bps=1.0)


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(values, min_size=1, max_size=60),
    level=st.lists(values, min_size=60, max_size=60),
    block=st.sampled_from([8, 16, 4096]),
)
def test_crossings_made_from_the_series_are_the_strategy_rule(x, level, block) -> None:
    """Outside the kernel (:func:`crossing_codes`) and inside it, block by block: a set
    crossing the two series trades as the set given the rule's codes."""
    xs, lv = np.array(x), np.array(level[: len(x)])
    want = codes_from(cross_up(xs, lv, LONG), cross_down(xs, lv, SHORT))
    got = np.full(len(xs), 7, dtype=np.int8)
    crossing_codes(xs, lv, got)
    np.testing.assert_array_equal(got, want)

    arrays = walk(len(xs), seed=len(xs), vol=0.01).arrays()
    kinds = np.full(LANES, KIND_NONE)
    kinds[0] = KIND_CROSS
    series = np.zeros((LANES, 2), dtype=np.int64)
    series[0] = xs.ctypes.data, lv.ctypes.data
    ws = Workspace(block)
    trades = ws.run(arrays, kinds, np.zeros((1, 0), np.int8), config_vector(CONFIG), np.empty(0),
                    series=series)  # fmt: skip
    alone = simulate(arrays, want, CONFIG, codes=True, curves=False)
    np.testing.assert_array_equal(ws.stats[0], alone.stats)
    np.testing.assert_array_equal(trades[0, : len(alone.trades)], alone.trades)


def test_ma_crossovers_cross_their_own_averages() -> None:
    """The series named for an MA crossover are its own (the reused arrays), and the codes
    made from them are its batch codes; other strategies are left to their own."""
    data = walk(3_000, seed=9, vol=0.002)
    arrays = data.arrays()
    arrays["close"] = np.round(arrays["close"], 1)  # flat stretches: ties between averages
    params = [
        {"fast": f, "slow": s, "kind": k} for f, s in [(2, 3), (4, 30)] for k in ("sma", "ema")
    ]
    strategies = [make_strategy("ma_crossover", p) for p in params]
    strategies.append(make_strategy("rsi_mean_reversion", {"n": 5}))
    with ind.reuse(arrays):
        for strategy, p in zip(strategies, params, strict=False):
            fast, slow = crossing_series(strategy, arrays)
            average = ind.sma if p["kind"] == "sma" else ind.ema
            assert fast is average(arrays["close"], p["fast"])
            assert slow is average(arrays["close"], p["slow"])
        assert crossing_series(strategies[-1], arrays) is None
        out = np.zeros((len(strategies), len(data)), dtype=np.int8)
        group_codes(arrays, strategies, out)
        for row, strategy in zip(out, strategies, strict=True):
            np.testing.assert_array_equal(row, strategy.batch_codes(arrays))
