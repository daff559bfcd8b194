"""Instrument rules: orders must land on the venue's tick and lot grids, written exactly."""

from __future__ import annotations

import msgspec
import pytest

from desk.market.instruments import Instrument


def btc(**overrides: str) -> Instrument:
    """OKX BTC-USDT as PROTOCOLS.md A.7 shows it."""
    rules = {"tick_size": "0.1", "lot_size": "0.00000001", "min_size": "0.00001"}
    rules.update(overrides)
    return Instrument(venue="okx", symbol="BTC-USDT", base="BTC", quote="USDT", **rules)


def test_price_is_formatted_from_tick_multiples_never_float_repr() -> None:
    inst = btc()
    assert inst.format_price(42219.94, "down") == "42219.9"
    assert inst.format_price(42219.94) == "42219.9"
    assert inst.format_price(42219.96) == "42220.0"
    assert inst.format_price(42219.9) == "42219.9"  # not "42219.900000000001"
    assert inst.format_price(0.1 + 0.2) == "0.3"  # not "0.30000000000000004"


def test_rounding_modes_pick_the_lower_or_higher_tick() -> None:
    inst = btc()
    assert inst.round_price(42219.94, "down") == 42219.9
    assert inst.round_price(42219.94, "up") == 42220.0
    assert inst.round_price(42219.95, "nearest") == 42220.0
    assert inst.format_price(42219.91, "up") == "42220.0"


def test_a_price_already_on_the_tick_stays_put_in_every_mode() -> None:
    inst = btc()
    for mode in ("down", "up", "nearest"):
        assert inst.round_price(0.3, mode) == 0.3
        assert inst.round_price(0.1 + 0.2, mode) == 0.3  # float noise is not a tick away
        assert inst.format_price(42219.9, mode) == "42219.9"


def test_coarse_ticks_format_without_decimals() -> None:
    inst = btc(tick_size="5", lot_size="10", min_size="10")
    assert inst.format_price(42222.4) == "42220"
    assert inst.format_price(42222.6) == "42225"
    assert inst.format_size(123.0) == "120"
    assert inst.price_decimals == 0


def test_half_ticks_round_to_the_half_grid() -> None:
    inst = btc(tick_size="0.5")
    assert inst.format_price(100.74) == "100.5"
    assert inst.format_price(100.76) == "101.0"
    assert inst.is_price_on_tick("100.5")
    assert not inst.is_price_on_tick("100.4")


def test_size_rounds_down_to_the_lot_by_default() -> None:
    inst = btc()
    assert inst.format_size(0.123456789) == "0.12345678"
    assert inst.round_size(0.123456789) == 0.12345678
    assert inst.format_size(0.123456789, "up") == "0.12345679"
    assert inst.format_size(1e-05) == "0.00001000"


def test_tick_and_lot_checks_use_the_strings_exactly() -> None:
    inst = btc()
    assert inst.is_price_on_tick("42219.9")
    assert inst.is_price_on_tick("42219.90")
    assert not inst.is_price_on_tick("42219.95")
    assert inst.is_size_on_lot("0.00000001")
    assert not inst.is_size_on_lot("0.000000001")
    assert not inst.is_price_on_tick("abc")
    assert not inst.is_price_on_tick("NaN")


def test_minimum_size_is_checked_exactly() -> None:
    inst = btc()
    assert inst.meets_min_size("0.00001")
    assert not inst.meets_min_size("0.000009")
    assert not inst.meets_min_size("")


def test_float_mirrors_match_the_rule_strings() -> None:
    inst = btc()
    assert (inst.tick_f, inst.lot_f, inst.min_size_f) == (0.1, 1e-08, 1e-05)
    assert (inst.price_decimals, inst.size_decimals) == (1, 8)


def test_only_live_instruments_are_tradable() -> None:
    assert btc().is_live
    assert not btc(state="suspend").is_live


def test_rounding_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="cannot round"):
        btc().round_price(float("nan"))


def test_instrument_is_frozen_and_round_trips_as_its_rule_strings() -> None:
    inst = btc()
    inst.format_price(1.0)  # fill the derived-value caches first
    with pytest.raises(AttributeError):
        inst.tick_size = "1"  # type: ignore[misc]
    wire = msgspec.json.encode(inst)
    assert b"tick_f" not in wire
    again = msgspec.json.decode(wire, type=Instrument)
    assert again == inst and hash(again) == hash(inst)
