"""The kernel on hand-computed cases: fills, fees, slippage, lots, sizing, exits, warm-up."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from desk.backtest.book import (
    N_STATE,
    REASON_END,
    REASON_SIGNAL,
    REASON_STOP,
    REASON_TAKE,
    S_CASH,
    S_POS,
    S_SKIPPED,
    T_ENTRY_PX,
    T_EXIT_PX,
    T_FEES,
    T_OPEN,
    T_PNL,
    T_REASON,
    T_SIDE,
    T_SIZE,
)
from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.events import events_from_codes, signal_events
from desk.backtest.kernel import (
    EV_FLAT,
    EV_LONG,
    EV_SHORT,
    config_vector,
    order_qty,
    simulate,
)
from desk.execution.sizing import FixedFraction, VolatilityScaled, size_for
from desk.market.instruments import Instrument
from desk.signals.strategies import STRATEGIES, create_strategy
from desk.signals.strategy import transition
from tests.backtest.conftest import bars, walk

FOUR = bars(
    [100.0, 101.0, 102.0, 103.0],
    [101.0, 102.0, 103.0, 104.0],
    [99.0, 100.0, 101.0, 102.0],
    [100.5, 101.5, 102.5, 103.5],
)
FIXED2 = BacktestConfig(cash=1000.0, sizing="fixed", size=2.0, taker_bps=10.0, leverage=None)


def events(*codes: int) -> np.ndarray:
    return np.array(codes, dtype=np.int8)


def run(c, ev, cfg, **kw):
    return simulate(c.arrays(), ev, cfg, **kw)


# ---- signals from the strategies -----------------------------------------------------------


def _strategies():
    for name in sorted(STRATEGIES):
        if name == "combination":
            children = [{"name": "ma_crossover"}, {"name": "rsi_mean_reversion"}]
            yield create_strategy(name, {"children": children, "min_agree": 1})
        elif name not in ("lstm", "arbitrage"):  # a trained model / cross-venue books
            yield create_strategy(name)


@pytest.mark.parametrize("strategy", list(_strategies()), ids=lambda s: s.name)
def test_events_are_the_strategys_batch_signals(strategy) -> None:
    arrays = walk(3_000, seed=11, vol=0.004).arrays()
    ev = signal_events(strategy, arrays)
    found = strategy.array_signals(arrays)
    assert found, "the walk should produce signals"
    code = {"long": EV_LONG, "short": EV_SHORT, "flat": EV_FLAT}
    assert np.flatnonzero(ev).tolist() == [i for i, _ in found]
    assert [int(ev[i]) for i, _ in found] == [code[s.direction.value] for _, s in found]


def test_state_machine_matches_transition_for_every_code_and_state() -> None:
    for state_code in (0, 1, -1):
        for code in (0, 1, -1, 2, -2, 3):
            lead = {0: [], 1: [1], -1: [-1]}[state_code]
            ev = events_from_codes(np.array([*lead, code], dtype=np.int8))
            want = transition(state_code, code)
            got = int(ev[-1])
            assert got == (0 if want is None else EV_FLAT if want == 0 else want)


# ---- fills and fees ------------------------------------------------------------------------


def test_next_open_fill_with_taker_fee() -> None:
    out = run(FOUR, events(EV_LONG, 0, EV_FLAT, 0), FIXED2)
    # buy 2 @ 101 (open of bar 1), fee 0.202; sell 2 @ 103 (open of bar 3), fee 0.206
    assert out.position.tolist() == [0.0, 2.0, 2.0, 0.0]
    assert out.cash[1] == pytest.approx(1000 - 202 - 0.202)
    assert out.equity.tolist() == pytest.approx([1000.0, 1000.798, 1002.798, 1003.592])
    assert out.fees == pytest.approx(0.408)
    (t,) = out.trades
    assert (t[T_SIDE], t[T_SIZE], t[T_ENTRY_PX], t[T_EXIT_PX]) == (1.0, 2.0, 101.0, 103.0)
    assert t[T_PNL] == pytest.approx(4 - 0.408)
    assert t[T_FEES] == pytest.approx(0.408)
    assert (t[T_OPEN], t[T_REASON]) == (0.0, REASON_SIGNAL)


def test_close_fill_trades_on_the_signal_bar() -> None:
    cfg = BacktestConfig(**{**FIXED2.to_dict(), "fill": "close"})
    out = run(FOUR, events(EV_LONG, 0, EV_FLAT, 0), cfg)
    assert out.position.tolist() == [2.0, 2.0, 0.0, 0.0]
    # buy 2 @ 100.5, fee 0.201; sell 2 @ 102.5, fee 0.205
    assert out.equity[0] == pytest.approx(1000 - 0.201)
    assert out.equity[-1] == pytest.approx(1000 + 4 - 0.406)


def test_a_signal_on_the_last_bar_never_fills_at_an_open() -> None:
    out = run(FOUR, events(0, 0, 0, EV_LONG), FIXED2)
    assert out.fills == 0 and out.position[-1] == 0.0


def test_limit_orders_pay_maker_and_no_slippage() -> None:
    cfg = BacktestConfig(
        cash=1000.0, sizing="fixed", size=1.0, leverage=None, order_type="limit",
        maker_bps=-1.0, slippage_bps=50.0,
    )  # fmt: skip
    out = run(FOUR, events(EV_LONG, 0, 0, 0), cfg)
    assert out.trades[0][T_ENTRY_PX] == 101.0
    assert out.fees == pytest.approx(-0.0101)  # a rebate


def test_slippage_in_bps_and_range_then_tick() -> None:
    cfg = BacktestConfig(
        cash=1000.0, sizing="fixed", size=1.0, leverage=None, taker_bps=0.0,
        slippage_bps=10.0, slippage_range=0.25, tick=0.01,
    )  # fmt: skip
    out = run(FOUR, events(EV_LONG, 0, EV_FLAT, 0), cfg)
    (t,) = out.trades
    # buy: 101 + 0.101 + 0.25 * (102 - 100) = 101.601 -> up to the tick 101.61
    assert t[T_ENTRY_PX] == pytest.approx(101.61)
    # sell: 103 - 0.103 - 0.25 * 2 = 102.397 -> down to 102.39
    assert t[T_EXIT_PX] == pytest.approx(102.39)


# ---- sizing, lots, minimum size ------------------------------------------------------------


def test_fraction_sizing_rounds_down_to_the_lot() -> None:
    cfg = BacktestConfig(cash=1000.0, fraction=0.5, lot=0.1, taker_bps=0.0)
    out = run(FOUR, events(EV_LONG, 0, 0, 0), cfg)
    assert out.position[1] == pytest.approx(4.9)  # 500 / 100.5 = 4.975 -> 4.9


def test_below_the_minimum_size_is_skipped_and_the_position_stays() -> None:
    cfg = BacktestConfig(cash=1000.0, fraction=0.5, lot=0.1, min_size=5.0)
    out = run(FOUR, events(EV_LONG, 0, 0, 0), cfg)
    assert out.fills == 0 and out.skipped == 1
    # a refused reversal (no ATR yet) leaves the long in place
    cfg = BacktestConfig(sizing="atr", risk_budget=100.0, leverage=None)
    out = run(FOUR, events(EV_LONG, EV_SHORT, 0, 0), cfg, atr=np.array([1.0, np.nan, 1, 1]))
    assert out.skipped == 1 and out.position[-1] == 50.0  # 100 / (2 * 1)
    cfg = BacktestConfig(cash=1000.0, fraction=1.0, size=3.0, lot=1.0, min_size=4.0)
    out = run(FOUR, events(EV_LONG, 0, 0, 0), cfg)
    assert out.skipped == 1


def test_fixed_size_goes_to_the_lot_when_traded() -> None:
    cfg = BacktestConfig(cash=1000.0, sizing="fixed", size=0.15, lot=0.1, leverage=None)
    out = run(FOUR, events(EV_LONG, EV_SHORT, 0, 0), cfg)
    # +0.15 target -> buys 0.1; -0.15 target -> sells 0.25 -> 0.2: position -0.1
    assert out.position[1] == pytest.approx(0.1)
    assert out.position[2] == pytest.approx(-0.1)


def test_leverage_caps_the_target() -> None:
    cfg = BacktestConfig(cash=1000.0, sizing="fixed", size=20.0, lot=0.01, leverage=1.0)
    out = run(FOUR, events(EV_LONG, 0, 0, 0), cfg)
    assert out.position[1] == pytest.approx(9.95)  # 1000 / 100.5 = 9.950 -> 9.95
    cfg = BacktestConfig(cash=1000.0, sizing="fixed", size=20.0, lot=0.01, leverage=3.0)
    assert run(FOUR, events(EV_LONG, 0, 0, 0), cfg).position[1] == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("equity", "price", "fraction", "cap", "lot", "min_size"),
    [
        (10_000.0, 60_123.4, 0.3, None, "0.00000001", "0.00001"),
        (1_000.0, 100.5, 0.5, None, "0.1", "0.1"),
        (1_000.0, 3.0, 1.0, 100.0, "1", "1"),
        (123.45, 0.7, 0.25, None, "0.001", "50"),
        (5.0, 3_000.0, 0.1, None, "0.0001", "0.001"),
    ],
)
def test_fraction_sizing_mirrors_size_for(equity, price, fraction, cap, lot, min_size) -> None:
    inst = Instrument(
        venue="t", symbol="X-Y", base="X", quote="Y", tick_size="0.01", lot_size=lot,
        min_size=min_size,
    )  # fmt: skip
    method = FixedFraction(
        fraction=Decimal(repr(fraction)), max_size=None if cap is None else Decimal(repr(cap))
    )
    want = float(size_for(method, inst, price=price, equity=equity))
    cfg = BacktestConfig(
        cash=equity, fraction=fraction, size=math.inf if cap is None else cap, leverage=None
    ).with_instrument(inst)
    st = np.zeros(N_STATE)
    st[S_CASH] = equity
    got = order_qty(st, config_vector(cfg), EV_LONG, price, math.nan)
    assert got == pytest.approx(want, rel=1e-12)
    assert (st[S_SKIPPED] == 1) == (want == 0)


@pytest.mark.parametrize(
    ("atr", "budget", "multiple", "cap"),
    [(3.0, 100.0, 2.0, 50.0), (0.37, 10.0, 1.5, 1e9), (250.0, 100.0, 2.0, 0.5)],
)
def test_atr_sizing_mirrors_size_for(atr, budget, multiple, cap) -> None:
    inst = Instrument(
        venue="t", symbol="X-Y", base="X", quote="Y", tick_size="0.01", lot_size="0.01",
        min_size="0.01",
    )  # fmt: skip
    method = VolatilityScaled(
        risk_budget=Decimal(repr(budget)),
        atr_multiple=Decimal(repr(multiple)),
        max_size=Decimal(repr(cap)),
    )
    want = float(size_for(method, inst, atr=atr))
    cfg = BacktestConfig(
        sizing="atr", risk_budget=budget, atr_multiple=multiple, size=cap, leverage=None
    ).with_instrument(inst)
    st = np.zeros(N_STATE)
    st[S_CASH] = cfg.cash
    got = order_qty(st, config_vector(cfg), EV_SHORT, 100.0, atr)
    assert got == pytest.approx(-want, rel=1e-12)


def test_atr_sizing_skips_while_the_atr_warms_up() -> None:
    cfg = BacktestConfig(sizing="atr", risk_budget=100.0, leverage=None)
    out = run(FOUR, events(EV_LONG, 0, EV_LONG, 0), cfg, atr=np.array([np.nan, 1, 2, 3.0]))
    assert out.skipped == 1
    assert out.position[-1] == pytest.approx(25.0)  # 100 / (2 * 2)


def test_a_flip_is_the_exact_lot_difference_as_live_sends_it() -> None:
    """Long 0.6647255 flipping to short 0.66447194 with a 1e-8 lot is 1.32919744 to sell, as
    the live path's exact Decimals give; the float difference of the two sizes sits a hair
    under that in lots, and flooring it lost a lot (found by the live-parity test)."""
    cfg = BacktestConfig(sizing="fixed", size=0.66447194, leverage=None, lot=1e-8, min_size=1e-5)
    st = np.zeros(N_STATE)
    st[S_CASH], st[S_POS] = 50_000.0, 0.6647255
    got = order_qty(st, config_vector(cfg), EV_SHORT, 60_105.1, math.nan)
    want = Decimal("-0.66447194") - Decimal("0.6647255")
    assert Decimal(repr(got)) == want and st[S_SKIPPED] == 0
    st[S_POS] = -0.66447194  # already there: no order, and nothing refused
    assert order_qty(st, config_vector(cfg), EV_SHORT, 60_105.1, math.nan) == 0.0
    assert st[S_SKIPPED] == 0


# ---- shorts, flips, exits, warm-up ---------------------------------------------------------


def test_short_then_flip_splits_the_fee_between_the_two_trades() -> None:
    six = bars([100, 100, 98, 96, 97, 99], [101] * 6, [95] * 6, [100, 99, 97, 96, 98, 99])
    cfg = BacktestConfig(cash=1000.0, sizing="fixed", size=1.0, taker_bps=100.0, leverage=None)
    out = run(six, events(EV_SHORT, 0, EV_LONG, 0, EV_FLAT, 0), cfg)
    assert out.position.tolist() == [0.0, -1.0, -1.0, 1.0, 1.0, 0.0]
    short, long_ = out.trades
    # short 1 @ 100 (fee 1), buy 2 @ 96 (fee 1.92: half each), sell 1 @ 99 (fee 0.99)
    assert short[T_SIDE] == -1 and short[T_PNL] == pytest.approx(4 - 1 - 0.96)
    assert long_[T_SIDE] == 1 and long_[T_PNL] == pytest.approx(3 - 0.96 - 0.99)
    assert out.fees == pytest.approx(1 + 1.92 + 0.99)
    assert out.equity[-1] == pytest.approx(1000 + short[T_PNL] + long_[T_PNL])


def test_stop_loss_exits_at_the_level_and_take_profit_at_a_gap_open() -> None:
    c = bars(
        [100, 100, 99, 112, 100, 101],
        [101, 101, 100, 113, 101, 102],
        [99, 99, 94, 111, 99, 100],
        [100, 100, 96, 112, 100, 101],
    )
    cfg = BacktestConfig(
        cash=1000.0, sizing="fixed", size=1.0, leverage=None, taker_bps=0.0, maker_bps=0.0,
        stop_loss=0.05, take_profit=0.10,
    )  # fmt: skip
    # long @ 100 (bar 1's open); bar 2's low 94 reaches the stop at 95
    out = run(c, events(EV_LONG, 0, 0, 0, 0, 0), cfg)
    (t,) = out.trades
    assert (t[T_EXIT_PX], t[T_REASON]) == (95.0, REASON_STOP)
    gap = bars([100, 100, 112, 112], [101, 101, 113, 113], [99, 99, 111, 111], [100] * 4)
    (t,) = run(gap, events(EV_LONG, 0, 0, 0), cfg).trades
    assert (t[T_EXIT_PX], t[T_REASON]) == (112.0, REASON_TAKE)


def test_short_take_profit_inside_the_bar() -> None:
    c = bars([100, 100, 95], [101, 101, 96], [99, 99, 88], [100, 100, 90])
    cfg = BacktestConfig(
        cash=1000.0, sizing="fixed", size=1.0, leverage=None, maker_bps=0.0, take_profit=0.1
    )
    (t,) = run(c, events(EV_SHORT, 0, 0), cfg).trades
    assert (t[T_SIDE], t[T_EXIT_PX], t[T_REASON]) == (-1.0, 90.0, REASON_TAKE)


def test_an_open_trade_is_marked_at_the_last_close() -> None:
    out = run(FOUR, events(EV_LONG, 0, 0, 0), FIXED2)
    (t,) = out.trades
    assert (t[T_OPEN], t[T_REASON], t[T_EXIT_PX]) == (1.0, REASON_END, 103.5)
    assert out.equity[-1] == pytest.approx(1000 + t[T_PNL])


def test_signals_before_start_do_not_trade() -> None:
    out = run(FOUR, events(EV_LONG, EV_SHORT, 0, 0), FIXED2, start=1)
    assert out.position.tolist() == [0.0, 0.0, -2.0, -2.0]
    out = run(FOUR, events(EV_LONG, 0, 0, 0), FIXED2, start=1)
    assert out.fills == 0


def test_bad_configs_are_refused_with_the_field() -> None:
    with pytest.raises(BacktestError, match="`size` must be given"):
        BacktestConfig(sizing="fixed")
    with pytest.raises(BacktestError, match="`fraction`"):
        BacktestConfig(fraction=1.5)
    with pytest.raises(BacktestError, match="`stop_loss`"):
        BacktestConfig(stop_loss=1.5)
    with pytest.raises(ValueError, match="one entry per bar"):
        run(FOUR, events(0, 0), FIXED2)
