"""The compiled kernel against the plain-Python reference loop, on random bars and signals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.backtest.config import BacktestConfig
from desk.backtest.kernel import simulate
from desk.backtest.reference import reference_simulate


@st.composite
def scenario(draw):
    n = draw(st.integers(1, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, draw(st.sampled_from([0.002, 0.02, 0.08])), n)))
    opens = np.concatenate([[50.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.01, n))
    high = np.maximum(opens, close) * (1 + np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(opens, close) * (1 - np.abs(rng.normal(0.0, 0.01, n)))
    density = draw(st.sampled_from([0.05, 0.3, 0.9]))
    ev = np.where(rng.random(n) < density, rng.choice([1, -1, 2], n), 0).astype(np.int8)
    atr = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0.1, 3.0, n))
    sizing = draw(st.sampled_from(["fixed", "fraction", "atr"]))
    cfg = BacktestConfig(
        cash=draw(st.sampled_from([100.0, 10_000.0])),
        sizing=sizing,
        size=draw(st.sampled_from([0.37, 5.0, 250.0]))
        if sizing == "fixed"
        else draw(st.sampled_from([float("inf"), 3.0])),
        fraction=draw(st.sampled_from([0.1, 0.5, 1.0])),
        risk_budget=draw(st.sampled_from([5.0, 100.0])),
        atr_multiple=draw(st.sampled_from([1.0, 2.5])),
        maker_bps=draw(st.sampled_from([-1.0, 0.0, 2.0])),
        taker_bps=draw(st.sampled_from([0.0, 5.0, 30.0])),
        order_type=draw(st.sampled_from(["market", "limit"])),
        slippage_bps=draw(st.sampled_from([0.0, 3.0])),
        slippage_range=draw(st.sampled_from([0.0, 0.1])),
        fill=draw(st.sampled_from(["open", "close"])),
        leverage=draw(st.sampled_from([None, 1.0, 3.0])),
        stop_loss=draw(st.sampled_from([None, 0.01, 0.05])),
        take_profit=draw(st.sampled_from([None, 0.02, 0.1])),
        tick=draw(st.sampled_from([0.0, 0.01, 0.5])),
        lot=draw(st.sampled_from([0.0, 0.001, 0.1, 1.0])),
        min_size=draw(st.sampled_from([0.0, 0.01, 2.0])),
    )
    start = draw(st.integers(0, max(0, n - 1)))
    arrays = {"open": opens, "high": high, "low": low, "close": close}
    return arrays, ev, cfg, atr, start


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_kernel_matches_the_reference_loop(case) -> None:
    arrays, ev, cfg, atr, start = case
    out = simulate(arrays, ev, cfg, atr=atr, start=start)
    cash, pos, equity, trades, fees, fills, skipped = reference_simulate(
        arrays, ev, cfg, atr=atr, start=start
    )
    assert (out.fills, out.skipped) == (fills, skipped)
    np.testing.assert_allclose(out.position, pos, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.cash, cash, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(out.equity, equity, rtol=1e-12, atol=1e-9)
    assert out.fees == pytest.approx(fees, rel=1e-12, abs=1e-12)
    assert out.trades.shape == (len(trades), 10)
    if trades:
        np.testing.assert_allclose(out.trades, np.array(trades), rtol=1e-12, atol=1e-9)
