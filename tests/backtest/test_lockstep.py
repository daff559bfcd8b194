"""The lockstep kernel (many parameter sets at once) against the single-run kernel, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.backtest.batch import LANES, Workspace, evaluate_many, simulate_codes
from desk.backtest.book import S_FEES, S_NTR
from desk.backtest.config import BacktestConfig
from desk.backtest.kernel import config_vector, simulate
from desk.backtest.lockstep import BLOCK, KIND_CODES, KIND_NONE
from desk.backtest.run import atr_series, evaluate, make_strategy
from desk.signals import indicators as ind
from tests.backtest.conftest import walk
from tests.backtest.test_reference import scenario


def assert_same_as_alone(arrays, rows, cfg, atr, start, block=BLOCK) -> None:
    group = simulate_codes(arrays, rows, cfg, atr=atr, start=start, block=block)
    for g, codes in enumerate(rows):
        alone = simulate(arrays, codes, cfg, atr=atr, start=start, codes=True, curves=False)
        np.testing.assert_array_equal(group.stats[g], alone.stats)  # NaN in the same places
        np.testing.assert_array_equal(group.set_trades(g), alone.trades)
        assert group.fees[g] == alone.fees
        assert (group.fills[g], group.skipped[g]) == (alone.fills, alone.skipped)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario(),
    st.integers(1, LANES + 3),
    st.integers(0, 2**32 - 1),
    st.sampled_from([8, 16, BLOCK]),
)
def test_each_set_of_a_group_is_its_single_run(case, sets, seed, block) -> None:
    """Any config, codes of every kind; blocks of 8 and 16 bars put orders, fills and exits
    on both sides of many block boundaries."""
    arrays, ev, cfg, atr, start = case
    rng = np.random.default_rng(seed)
    n = len(ev)
    # Candidate codes of every kind (exits 2/-2/3 included), sparse to dense, one row a set;
    # more sets than lanes spill into a second, padded group.
    density = rng.choice([0.02, 0.2, 0.9], sets)
    kinds = np.array([1, -1, 2, -2, 3], dtype=np.int8)
    rows = np.where(rng.random((sets, n)) < density[:, None], rng.choice(kinds, (sets, n)), 0)
    rows[0] = ev
    assert_same_as_alone(arrays, rows.astype(np.int8), cfg, atr, start, block)


def test_a_long_run_with_every_rule_matches_alone() -> None:
    data = walk(30_000, seed=11, vol=0.004)
    arrays = data.arrays()
    atr = atr_series(data)
    with ind.reuse(arrays):
        rows = np.stack(
            [
                make_strategy("ma_crossover", {"fast": f, "slow": s}).batch_codes(arrays)
                for f, s in [(3, 9), (5, 20), (8, 13), (2, 40), (10, 11)]
            ]
        )
    for cfg in (
        BacktestConfig(sizing="fraction", fraction=0.5, taker_bps=5.0, slippage_bps=2.0,
                       lot=0.001, min_size=0.01, tick=0.01, stop_loss=0.01, take_profit=0.02),
        BacktestConfig(sizing="atr", risk_budget=40.0, size=200.0, leverage=2.0, fill="close",
                       order_type="limit", slippage_range=0.1),
    ):  # fmt: skip
        assert_same_as_alone(arrays, rows, cfg, atr, 500)


def test_evaluate_many_gives_the_metrics_of_evaluate() -> None:
    data = walk(5_000, seed=2, vol=0.003)
    arrays = data.arrays()
    cfg = BacktestConfig(taker_bps=4.0, slippage_bps=1.0, lot=0.001, min_size=0.01)
    params = [{"fast": f, "slow": s} for f in (3, 5, 8) for s in (12, 30, 50)]
    params += [{"fast": 4, "slow": 9, "kind": "ema"}] * (LANES - 3)  # a second group
    strategies = [make_strategy("ma_crossover", p) for p in params]
    many = evaluate_many(arrays, strategies, cfg, bar_ns=data.bar_ns, start=100)
    for p, got in zip(params, many, strict=True):
        alone, _ = evaluate(arrays, "ma_crossover", p, cfg, bar_ns=data.bar_ns, start=100)
        assert got.keys() == alone.keys()
        np.testing.assert_array_equal(list(got.values()), list(alone.values()))


def test_a_trades_table_too_small_grows_mid_run() -> None:
    """Dense codes over many small blocks from a table with room for a block: the kernel
    stops for room, the workspace grows the table, and the run goes on where it stopped."""
    data = walk(3_000, seed=4, vol=0.004)
    arrays, n = data.arrays(), len(data)
    rng = np.random.default_rng(4)
    rows = np.where(rng.random((3, n)) < 0.6, rng.choice([1, -1, 3], (3, n)), 0).astype(np.int8)
    cfg = BacktestConfig(taker_bps=5.0, stop_loss=0.002, fill="close")
    ws = Workspace(block=64)
    codes = ws.codes(LANES, n)
    codes[:] = 0
    codes[:3] = rows
    kinds = np.array([KIND_CODES] * 3 + [KIND_NONE] * (LANES - 3))
    trades = ws.run(arrays, kinds, codes, config_vector(cfg), np.empty(0))
    assert trades.shape[1] > 3 * 64 + 2  # it grew
    for g in range(3):
        alone = simulate(arrays, rows[g], cfg, codes=True, curves=False)
        np.testing.assert_array_equal(ws.stats[g], alone.stats)
        np.testing.assert_array_equal(trades[g, : int(ws.st[g, S_NTR])], alone.trades)
        assert ws.st[g, S_FEES] == alone.fees


def test_groups_mixing_crossings_and_other_strategies_match_evaluate() -> None:
    """A group of MA crossovers (codes made in the kernel from the shared averages, flat
    stretches giving ties) and other strategies (their own batch codes)."""
    data = walk(9_000, seed=6, vol=0.002)
    arrays = data.arrays()
    arrays["close"] = np.round(arrays["close"], 1)  # ties between the averages
    cfg = BacktestConfig(taker_bps=4.0, slippage_bps=1.0)
    runs = [("ma_crossover", {"fast": f, "slow": s, "kind": k})
            for f, s in [(2, 3), (3, 8), (5, 40)] for k in ("sma", "ema")]  # fmt: skip
    runs += [("rsi_mean_reversion", {"n": 7}), ("macd_trend", {"fast": 4, "slow": 9})]
    with ind.reuse(arrays):
        many = evaluate_many(arrays, [make_strategy(n, p) for n, p in runs], cfg,
                             bar_ns=data.bar_ns, start=50)  # fmt: skip
    for (name, p), got in zip(runs, many, strict=True):
        alone, _ = evaluate(arrays, name, p, cfg, bar_ns=data.bar_ns, start=50)
        np.testing.assert_array_equal(list(got.values()), list(alone.values()))
