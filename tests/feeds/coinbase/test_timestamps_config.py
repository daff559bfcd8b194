"""Coinbase times and the ``exchanges.coinbase`` config section."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest

from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.coinbase.symbols import to_desk, to_native
from desk.feeds.coinbase.timestamps import parse_ns


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-02-09T20:32:50.714964855Z", 1_675_974_770_714_964_855),
        ("2019-08-14T20:42:27.265Z", 1_565_815_347_265_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("2023-02-09T21:32:50.5+01:00", 1_675_974_770_500_000_000),
        ("2023-02-09 20:32:50.1234567891Z", 1_675_974_770_123_456_789),
    ],
)
def test_rfc3339_times_to_ns(text: str, ns: int) -> None:
    assert parse_ns(text) == ns


def test_the_parser_agrees_with_datetime_to_the_microsecond() -> None:
    text = "2024-02-29T23:59:59.999999Z"
    expected = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parse_ns(text) // 1000 == int(expected.timestamp()) * 1_000_000 + 999_999


@pytest.mark.parametrize("text", ["", "yesterday", "2023-02-09T20:32", "2023-02-09T20:32:5xZ",
                                  "2023-02-09T20:32:50.Z", "2023-02-09T20:32:50+0100"])  # fmt: skip
def test_bad_times_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ns(text)


def test_symbols_keep_their_quote() -> None:
    assert to_desk("btc-usd") == "BTC-USD" and to_desk("BTC-USDT") == "BTC-USDT"
    assert to_native("BTC-USDT") == "BTC-USDT"


def test_defaults_are_the_real_endpoints() -> None:
    config = CoinbaseConfig()
    assert config.ws_url == "wss://advanced-trade-ws.coinbase.com"
    assert config.rest_url == "https://api.coinbase.com"
    assert not config.enabled and config.channels == ("level2", "market_trades", "ticker")


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"ws_url": "https://x"}, "$.ws_url"),
        ({"rest_url": "ftp://x"}, "$.rest_url"),
        ({"symbols": ["BTC-USD", "btcusd"]}, "$.symbols[1]"),
        ({"channels": ["level3"]}, "$.channels[0]"),
        ({"gap_resync": "sometimes"}, "$.gap_resync"),
        ({"watchdog_timeout": 0.5}, "$.watchdog_timeout"),
        ({"validation": {"price_band": 0.5}}, "$.validation.price_band"),
        ({"surprise": 1}, "$.surprise"),
    ],
)
def test_a_bad_section_is_refused_naming_the_key(raw: dict, path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as err:
        msgspec.convert(raw, CoinbaseConfig)
    message = str(err.value)  # desk.config turns each of these forms into the path
    key = path[2:]
    assert path in message or message.startswith(f"@{key}:") or f"`{key}`" in message, message
