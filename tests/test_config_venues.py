"""``exchanges: {okx, binance, coinbase}``: which venues run, on which symbols, and what is
refused before anything connects."""

from __future__ import annotations

import pytest

from desk.config import ConfigError, DeskConfig, parse_config, with_simulator


def test_by_default_only_okx_runs() -> None:
    config = DeskConfig()
    assert config.exchanges.venues == ("okx",)
    assert config.exchanges.binance.ws_url == "wss://stream.binance.com:9443"
    assert config.exchanges.coinbase.ws_url == "wss://advanced-trade-ws.coinbase.com"


def test_a_venue_without_symbols_trades_the_desks_symbols() -> None:
    config = parse_config(
        {
            "trading": {"symbols": ["BTC-USDT", "ETH-USDT"]},
            "exchanges": {
                "binance": {"enabled": True},
                "coinbase": {"enabled": True, "symbols": ["BTC-USD", "BTC-USDT"]},
            },
        }
    )
    assert config.exchanges.venues == ("okx", "binance", "coinbase")
    assert config.venue_symbols("okx") == ("BTC-USDT", "ETH-USDT")
    assert config.venue_symbols("binance") == ("BTC-USDT", "ETH-USDT")
    assert config.venue_symbols("coinbase") == ("BTC-USD", "BTC-USDT")
    assert config.all_symbols == ("BTC-USDT", "ETH-USDT", "BTC-USD")


def test_desk_sim_runs_every_venue() -> None:
    config = with_simulator(DeskConfig(), all_venues=True)
    assert config.simulator.enabled and config.exchanges.venues == ("okx", "binance", "coinbase")
    assert with_simulator(DeskConfig()).exchanges.venues == ("okx",)  # tests' engines stay OKX


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "trading": {"symbols": ["BTC-USDT", "BTC-USDT-SWAP"]},
                "exchanges": {"binance": {"enabled": True}},
            },
            "$.exchanges.binance.symbols: binance trades trading.symbols, but "
            "trading.symbols[1] 'BTC-USDT-SWAP' is not a spot pair",
        ),
        (
            {"exchanges": {"coinbase": {"symbols": ["btc-usd"]}}},
            "$.exchanges.coinbase.symbols[0]: 'btc-usd' is not a BASE-QUOTE name",
        ),
        ({"exchanges": {"binance": {"symbol": ["BTC-USDT"]}}}, "$.exchanges.binance.symbol"),
        (
            {
                "bots": [
                    {
                        "bot_id": "b",
                        "strategy": "ma_crossover",
                        "symbol": "BTC-USDT",
                        "timeframe": "1m",
                        "size": 1,
                        "venue": "binance",
                    }
                ]
            },
            "$.bots[0].venue: 'binance' is not an enabled venue (okx)",
        ),
        (
            {
                "exchanges": {"coinbase": {"enabled": True, "symbols": ["BTC-USD"]}},
                "bots": [
                    {
                        "bot_id": "b",
                        "strategy": "ma_crossover",
                        "symbol": "BTC-USDT",
                        "timeframe": "1m",
                        "size": 1,
                        "venue": "coinbase",
                    }
                ],
            },
            "$.bots[0].symbol: 'BTC-USDT' is not in coinbase's symbols (BTC-USD)",
        ),
    ],
)
def test_bad_venue_settings_are_refused_naming_the_key(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "desk.yaml")
    assert expected in str(info.value)
