"""Symbols, instrument rules from exchangeInfo (PROTOCOLS.md B.4) and the feed's config."""

from __future__ import annotations

import msgspec
import pytest

from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.exchange_info import decode_exchange_info, parse_symbols
from desk.feeds.binance.symbols import SymbolMap, split_native, to_native
from tests.feeds.binance.samples import (
    LOT_SIZE,
    MIN_NOTIONAL,
    NOTIONAL,
    PRICE_FILTER,
    exchange_info,
    symbol,
)


def test_desk_names_map_to_binance_names_and_back() -> None:
    names = SymbolMap(["BTC-USDT", "ETH-BTC"])
    assert names.native("BTC-USDT") == "BTCUSDT"
    assert names.normalised("BTCUSDT") == "BTC-USDT"
    assert names.normalised("ethbtc") == "ETH-BTC"
    assert names.normalised("SOLFDUSD") == "SOL-FDUSD", "an unknown name splits at its quote"
    assert to_native("BNB-BTC") == "BNBBTC"
    assert split_native("BNBUSDC") == ("BNB", "USDC")


@pytest.mark.parametrize("bad", ["BTCUSDT", "btc-usdt", "BTC-USDT-SWAP", ""])
def test_a_malformed_desk_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        to_native(bad)


def test_exchange_info_filters_become_desk_instrument_rules() -> None:
    info = decode_exchange_info(exchange_info(symbol()))
    (rules,), skipped = parse_symbols(info)
    assert skipped == []
    inst = rules.instrument
    assert (inst.venue, inst.symbol, inst.base, inst.quote) == ("binance", "BNB-BTC", "BNB", "BTC")
    assert (inst.tick_size, inst.lot_size, inst.min_size) == (
        "0.00000100",
        "0.00100000",
        "0.00100000",
    )
    assert inst.is_live and rules.native == "BNBBTC"
    assert rules.min_notional == "10.00000000", "the stricter of MIN_NOTIONAL and NOTIONAL"
    assert (rules.max_notional, rules.min_price, rules.max_price, rules.max_qty) == (
        "10000.00000000",
        "0.00000100",
        "100000.00000000",
        "100000.00000000",
    )
    assert inst.format_price(0.0012345678) == "0.001235"
    assert inst.format_size(1.23456) == "1.234"


def test_a_halted_symbol_is_not_live() -> None:
    info = decode_exchange_info(exchange_info(symbol(status="HALT")))
    (rules,), _ = parse_symbols(info)
    assert rules.instrument.state == "halt" and not rules.instrument.is_live


def test_a_symbol_without_usable_rules_is_skipped_with_the_reason() -> None:
    no_lot = symbol("XYZBTC", "XYZ", "BTC", filters=(PRICE_FILTER, MIN_NOTIONAL))
    zero_tick = symbol(
        "ABCBTC", "ABC", "BTC", filters=(PRICE_FILTER.replace(b'0.00000100"}', b'0"}'), LOT_SIZE)
    )
    info = decode_exchange_info(exchange_info(symbol(), no_lot, zero_tick))
    rules, skipped = parse_symbols(info)
    assert [r.native for r in rules] == ["BNBBTC"]
    assert [(s.native, s.reason) for s in skipped] == [
        ("XYZBTC", "no LOT_SIZE with a positive stepSize"),
        ("ABCBTC", "no PRICE_FILTER with a positive tickSize"),
    ]


def test_only_notional_or_only_min_notional_both_count() -> None:
    only_new = symbol(filters=(PRICE_FILTER, LOT_SIZE, NOTIONAL))
    (rules,), _ = parse_symbols(decode_exchange_info(exchange_info(only_new)))
    assert rules.min_notional == "10.00000000"
    neither = symbol(filters=(PRICE_FILTER, LOT_SIZE))
    (rules,), _ = parse_symbols(decode_exchange_info(exchange_info(neither)))
    assert rules.min_notional == "" and rules.max_notional == ""


def test_the_default_config_is_binance_itself() -> None:
    cfg = BinanceConfig()
    assert (cfg.ws_url, cfg.rest_url) == (
        "wss://stream.binance.com:9443",
        "https://api.binance.com",
    )
    assert not cfg.enabled and cfg.depth_stream == "depth@100ms"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ws_url": "http://x"}, "@ws_url: must start with ws:// or wss://"),
        ({"rest_url": "ftp://x"}, "@rest_url: must start with http://"),
        ({"symbols": ["BTCUSDT"]}, "@symbols: 'BTCUSDT' is not a desk symbol"),
        ({"symbols": ["BTC-USDT", "BTC-USDT"]}, "@symbols: a symbol is listed twice"),
        ({"symbols": [f"A{i}-USDT" for i in range(400)]}, "@symbols: 400 symbols need more"),
        ({"max_connection_age": 90_000}, "@max_connection_age: Binance closes"),
        ({"trade_stream": "trades"}, "Invalid enum value 'trades' - at `$.trade_stream`"),
        ({"snapshot_limit": 6000}, "Expected `int` <= 5000 - at `$.snapshot_limit`"),
        ({"validation": {"price_band": 1}}, "at `$.validation.price_band`"),
        ({"wsurl": "x"}, "unknown field `wsurl`"),
    ],
)
def test_a_bad_config_is_refused_with_the_key(data: dict, expected: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(data, BinanceConfig)
    assert expected in str(info.value)
