"""The instrument referential: venue + native symbol <-> desk's normalised name."""

from __future__ import annotations

from desk.market.instruments import Instrument, InstrumentReferential, native_symbol


def _instrument(venue: str, symbol: str, native: str = "", tick: str = "0.01") -> Instrument:
    base, quote = symbol.split("-")
    return Instrument(
        venue=venue,
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size="0.00001",
        min_size="0.00001",
        native=native,
        min_notional="5" if venue == "binance" else "",
    )


def test_one_symbol_on_three_venues_by_native_and_by_desk_name() -> None:
    ref = InstrumentReferential(
        [
            _instrument("okx", "BTC-USDT", tick="0.1"),
            _instrument("binance", "BTC-USDT", native="BTCUSDT"),
            _instrument("coinbase", "BTC-USDT", native="BTC-USDT"),
            _instrument("coinbase", "BTC-USD", native="BTC-USD"),
        ]
    )
    assert ref.by_native("binance", "BTCUSDT").symbol == "BTC-USDT"
    assert ref.normalised("binance", "BTCUSDT") == "BTC-USDT"
    assert ref.normalised("binance", "BTC-USDT") is None  # Binance never writes the dash
    assert ref.get("okx", "BTC-USDT").tick_size == "0.1"
    assert ref.get("binance", "BTC-USDT").tick_size == "0.01"  # rules are per venue
    assert ref.get("binance", "BTC-USDT").min_notional == "5"
    assert ref.venues("BTC-USDT") == ["binance", "coinbase", "okx"]
    assert ref.venues("BTC-USD") == ["coinbase"]  # a dollar is not a tether
    assert ref.symbols("coinbase") == ["BTC-USD", "BTC-USDT"]
    assert ref.get("okx", "BTC-USD") is None and len(ref) == 4


def test_a_refresh_replaces_the_rules_in_place() -> None:
    ref = InstrumentReferential([_instrument("binance", "ETH-USDT", native="ETHUSDT")])
    ref.add(_instrument("binance", "ETH-USDT", native="ETHUSDT", tick="0.1"))
    assert ref.by_native("binance", "ETHUSDT").tick_size == "0.1" and len(ref) == 1


def test_native_names_by_the_venues_rules() -> None:
    assert native_symbol("binance", "BTC-USDT") == "BTCUSDT"
    assert native_symbol("okx", "BTC-USDT") == "BTC-USDT"
    assert native_symbol("coinbase", "BTC-USD") == "BTC-USD"
    assert _instrument("okx", "SOL-USDT").native_symbol == "SOL-USDT"
