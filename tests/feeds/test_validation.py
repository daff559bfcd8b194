"""The venue-neutral checks every feed uses (desk.feeds.validation)."""

from __future__ import annotations

import math

import msgspec
import pytest

from desk.feeds.validation import (
    MAX_PRICE,
    NO_SKEW_LIMIT,
    BadData,
    Price,
    PriceGuard,
    Size,
    TsMs,
    ValidationConfig,
    check_book,
    check_candle,
    check_levels,
    check_ticker_number,
    check_timestamp,
    level_mid,
    parse_price,
    parse_size,
    refusal_kind,
)

S = 1_000_000_000


class Wire(msgspec.Struct):
    px: Price
    sz: Size
    ts: TsMs


decode = msgspec.json.Decoder(Wire, strict=False).decode


@pytest.mark.parametrize(
    ("px", "sz", "ts", "kind"),
    [
        ('"NaN"', '"1"', '"1700000000000"', "value"),
        ('"inf"', '"1"', '"1700000000000"', "value"),
        ('"-1"', '"1"', '"1700000000000"', "value"),
        ('"0"', '"1"', '"1700000000000"', "value"),
        ('"1e308"', '"1"', '"1700000000000"', "value"),
        ('"abc"', '"1"', '"1700000000000"', "value"),
        ('"1"', '"-1"', '"1700000000000"', "value"),
        ('"1"', '"NaN"', '"1700000000000"', "value"),
        ('"1"', '"1"', '"99999999999999"', "timestamp"),
        ('"1"', '"1"', '"0"', "timestamp"),
    ],
)
def test_wire_types_refuse_impossible_numbers_while_decoding(
    px: str, sz: str, ts: str, kind: str
) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        decode(f'{{"px":{px},"sz":{sz},"ts":{ts}}}')
    assert refusal_kind(info.value) == kind
    assert decode('{"px":"60000.1","sz":"0","ts":"1700000000000"}').px == 60000.1


def test_a_malformed_frame_is_not_a_refused_value() -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        decode('{"px":"1","sz":"1"}')
    assert refusal_kind(info.value) is None
    assert refusal_kind(msgspec.DecodeError("truncated")) is None
    assert refusal_kind(BadData("x", "timestamp")) == "timestamp"


def test_the_config_turns_the_skew_into_nanoseconds_and_zero_into_no_limit() -> None:
    assert ValidationConfig().skew_ns == 300 * S
    assert ValidationConfig(max_clock_skew=0).skew_ns == NO_SKEW_LIMIT
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"price_band": 1.0}, ValidationConfig)


def test_timestamps_must_be_within_the_skew_of_the_receive_time() -> None:
    check_timestamp(1000 * S, 1000 * S + 299 * S, 300 * S)
    check_timestamp(1000 * S, 1000 * S - 299 * S, 300 * S)
    with pytest.raises(BadData) as info:
        check_timestamp(1000 * S, 1000 * S + 301 * S, 300 * S)
    assert info.value.kind == "timestamp" and "-301 s" in str(info.value)


def test_a_price_guard_is_open_until_armed_then_refuses_outside_the_band() -> None:
    guard = PriceGuard(10.0)
    guard.check(1e11)
    for bad in (math.nan, math.inf, -1.0, 0.0, MAX_PRICE, 1e308):
        with pytest.raises(BadData):
            guard.check(bad)
    guard.arm(60_000.0)
    guard.check(6_001.0)
    guard.check(599_999.0)
    for bad in (5_999.0, 600_001.0):
        with pytest.raises(BadData, match="outside the band"):
            guard.check(bad)
    assert guard.refused == 2


def test_a_guard_follows_good_prices_and_drops_a_band_that_only_refuses() -> None:
    guard = PriceGuard(10.0)
    guard.arm(100.0)
    guard.last = 150.0
    guard.refresh()
    assert (guard.lo, guard.hi) == (15.0, 1500.0)
    guard.refresh(fallback=200.0)  # no new trade price: a live book's mid will do
    assert guard.hi == 2000.0
    with pytest.raises(BadData):
        guard.check(60_000.0)
    guard.refresh()  # refused, nothing good since: the band goes
    assert not guard.armed
    guard.check(60_000.0)


@pytest.mark.parametrize("text", ["NaN", "inf", "-1", "1e5", " 1", "1.2.3", "", "0x10", "1" * 41])
def test_prices_and_sizes_must_be_plain_decimals(text: str) -> None:
    with pytest.raises(BadData):
        parse_price(text)
    with pytest.raises(BadData):
        parse_size(text)


def test_plain_decimals_parse() -> None:
    assert parse_price("60000.1") == 60000.1
    assert parse_size("0") == 0.0 and parse_size("0.00000000") == 0.0
    with pytest.raises(BadData):
        parse_price("0")
    with pytest.raises(BadData):
        parse_size("9" * 20)


def test_levels_are_checked_whole() -> None:
    guard = PriceGuard(10.0)
    guard.arm(100.0)
    check_levels([["99.5", "1", "0", "1"], ["99", "0"]], guard)
    for bad in (["99", "-1"], ["1000", "1"], ["99"], [99, "1"]):
        with pytest.raises(BadData):
            check_levels([["99.5", "1"], bad], guard)


def test_a_snapshot_arms_the_band_on_its_median_so_one_absurd_level_cannot_pass() -> None:
    assert level_mid([["99", "1"], ["98", "1"]], [["101", "1"], ["1e9", "1"]]) == 101.0
    guard = PriceGuard(10.0)
    assert check_book([["99", "1"]], [["101", "1"]], guard) == (10.1, 1010.0)
    with pytest.raises(BadData):
        check_book([["99", "1"], ["98", "1"]], [["101", "1"], ["100000", "1"]], PriceGuard(10.0))


def test_ticker_numbers_may_be_empty_but_not_wrong() -> None:
    assert math.isnan(check_ticker_number("", None, "x"))
    assert check_ticker_number("1.5", None, "x") == 1.5
    with pytest.raises(BadData):
        check_ticker_number("-1", None, "x")


@pytest.mark.parametrize(
    "ohlcv",
    [
        (1.0, 2.0, 0.5, 1.5, -1.0),
        (1.0, math.inf, 0.5, 1.5, 1.0),
        (math.nan, 2.0, 0.5, 1.5, 1.0),
        (1.0, 2.0, -1.0, 1.5, 1.0),
        (1.0, 1.2, 0.5, 1.5, 1.0),  # close above high
        (1.0, 2.0, 1.1, 1.5, 1.0),  # open below low
        (1.0, 2.0, 0.5, 1.5, math.nan),
    ],
)
def test_a_venue_candle_must_be_possible(ohlcv: tuple[float, ...]) -> None:
    with pytest.raises(BadData):
        check_candle(*ohlcv)


def test_a_possible_candle_passes() -> None:
    check_candle(1.0, 2.0, 0.5, 1.5, 10.0, 15.0)
    check_candle(1.0, 1.0, 1.0, 1.0, 0.0)
