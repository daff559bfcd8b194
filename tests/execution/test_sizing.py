"""Position sizing: each method, its cap, lot rounding and the minimum size."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from desk.execution.sizing import (
    FixedFraction,
    FixedSize,
    VolatilityScaled,
    round_to_step,
    size_for,
)
from desk.market.instruments import Instrument

D = Decimal


def btc(lot: str = "0.001", min_size: str = "0.01") -> Instrument:
    return Instrument(
        venue="okx",
        symbol="BTC-USDT",
        base="BTC",
        quote="USDT",
        tick_size="0.1",
        lot_size=lot,
        min_size=min_size,
    )


def test_fixed_size_is_rounded_down_to_the_lot() -> None:
    assert size_for(FixedSize(size=D("0.1234")), btc()) == D("0.123")


def test_fixed_size_is_capped() -> None:
    assert size_for(FixedSize(size=D(2), max_size=D("0.5")), btc()) == D("0.5")


def test_fixed_fraction_commits_a_share_of_equity_at_the_price() -> None:
    # 10,000 equity x 10% = 1,000 USDT at 30,000 = 0.0333.. BTC -> 0.033 on a 0.001 lot
    method = FixedFraction(fraction=D("0.1"))
    assert size_for(method, btc(), price=D(30_000), equity=D(10_000)) == D("0.033")


def test_fixed_fraction_cap_and_float_inputs() -> None:
    method = FixedFraction(fraction=D("0.5"), max_size=D("0.2"))
    assert size_for(method, btc(), price=30_000.0, equity=100_000.0) == D("0.2")


def test_volatility_scaled_risks_the_budget_over_k_atrs() -> None:
    # 300 USDT / (2 x 250.0) = 0.6 BTC
    method = VolatilityScaled(risk_budget=D(300), atr_multiple=D(2))
    assert size_for(method, btc(), atr=250.0) == D("0.6")
    # a wilder market, smaller size: 300 / (2 x 700) = 0.2142.. -> 0.214
    assert size_for(method, btc(), atr=D(700)) == D("0.214")


def test_volatility_scaled_is_capped() -> None:
    method = VolatilityScaled(risk_budget=D(300), max_size=D("0.25"))
    assert size_for(method, btc(), atr=D(10)) == D("0.25")


def test_below_the_minimum_size_gives_zero() -> None:
    assert size_for(FixedSize(size=D("0.009")), btc()) == 0
    method = FixedFraction(fraction=D("0.01"))
    assert size_for(method, btc(), price=D(30_000), equity=D(1_000)) == 0


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: FixedSize(size=D(0)), "@size"),
        (lambda: FixedSize(size=D(1), max_size=D(0)), "@max_size"),
        (lambda: FixedFraction(fraction=D("1.5")), "@fraction"),
        (lambda: FixedFraction(fraction=D(0)), "@fraction"),
        (lambda: VolatilityScaled(risk_budget=D(-1)), "@risk_budget"),
        (lambda: VolatilityScaled(risk_budget=D(1), atr_multiple=D(0)), "@atr_multiple"),
    ],
)
def test_bad_configs_name_the_field(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


def test_missing_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="needs a price > 0"):
        size_for(FixedFraction(fraction=D("0.1")), btc(), equity=D(1000))
    with pytest.raises(ValueError, match="needs equity >= 0"):
        size_for(FixedFraction(fraction=D("0.1")), btc(), price=D(1000))
    with pytest.raises(ValueError, match="needs an ATR > 0"):
        size_for(VolatilityScaled(risk_budget=D(100)), btc(), atr=0.0)


def test_round_to_step_is_exact() -> None:
    assert round_to_step(D("42219.94"), D("0.1"), "down") == D("42219.9")
    assert round_to_step(D("42219.91"), D("0.1"), "up") == D("42220.0")
    assert round_to_step(D("42219.9"), D("0.1"), "up") == D("42219.9")
    assert round_to_step(D("123"), D("10"), "down") == D("120")
    assert round_to_step(D("0.35"), D("0.1"), "nearest") == D("0.4")
