"""The instruments referential: changes are logged, the SQLite cache covers a venue outage."""

from __future__ import annotations

from typing import Any

import pytest

from desk.core.enums import Severity
from desk.engine.instruments import InstrumentRegistry
from desk.market.instruments import Instrument

pytestmark = pytest.mark.asyncio


def _btc(**rules: str) -> Instrument:
    base = {"tick_size": "0.1", "lot_size": "0.00000001", "min_size": "0.00001"}
    return Instrument(venue="okx", symbol="BTC-USDT", base="BTC", quote="USDT", **{**base, **rules})


def _eth() -> Instrument:
    return Instrument(
        venue="okx",
        symbol="ETH-USDT",
        base="ETH",
        quote="USDT",
        tick_size="0.01",
        lot_size="0.000001",
        min_size="0.0001",
    )


class _Store:
    def __init__(self, cached: list[Instrument] | None = None) -> None:
        self.recorded: list[Instrument] = []
        self.cached = cached or []

    def record_instrument(self, instrument: Instrument) -> None:
        self.recorded.append(instrument)

    async def load_instruments(self) -> list[Instrument]:
        return self.cached


class _Registry(InstrumentRegistry):
    def __init__(self, store: _Store, venue: list[list[Instrument] | Exception]) -> None:
        self.events: list[tuple[str, Severity]] = []
        super().__init__(
            ("BTC-USDT", "ETH-USDT"),
            "http://unused",
            store,
            lambda src, kind, msg, sev: self.events.append((msg, sev)),
        )
        self.answers = venue

    async def _fetch(self) -> list[Instrument]:
        answer: Any = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_rule_changes_and_delistings_are_logged_and_stored() -> None:
    store = _Store()
    registry = _Registry(store, [[_btc(), _eth()], [_btc(tick_size="0.01", state="suspend")]])
    await registry.load()
    assert set(registry.by_symbol) == {"BTC-USDT", "ETH-USDT"} and registry.events == []
    changes = await registry.refresh()
    assert changes == [
        "BTC-USDT: tick_size 0.1 -> 0.01",
        "BTC-USDT: state live -> suspend",
        "ETH-USDT: delisted (no longer listed by the venue)",
    ]
    assert [sev for _, sev in registry.events] == [Severity.WARNING] * 3
    assert registry.by_symbol["BTC-USDT"].tick_size == "0.01"
    assert not registry.by_symbol["ETH-USDT"].is_live
    assert store.recorded[-1].state == "delisted"


async def test_a_venue_outage_at_start_falls_back_on_the_sqlite_cache() -> None:
    registry = _Registry(_Store(cached=[_btc()]), [ConnectionError("venue down")])
    await registry.load()
    assert registry.by_symbol["BTC-USDT"].tick_size == "0.1"
    ((message, severity),) = registry.events
    assert "venue down" in message and "1 cached" in message and severity is Severity.WARNING


async def test_another_venues_changes_name_the_venue_and_feed_the_referential() -> None:
    from desk.engine.instruments import unlisted
    from desk.market.instruments import InstrumentReferential

    def binance_btc(**rules: str) -> Instrument:
        return Instrument(**{**_fields(_btc(**rules)), "venue": "binance", "native": "BTCUSDT"})

    referential = InstrumentReferential()
    registry = _Registry(
        _Store(), [[binance_btc(min_notional="5")], [binance_btc(min_notional="10")]]
    )
    registry.venue, registry.referential = "binance", referential
    await registry.load()
    assert registry.missing == ["ETH-USDT"]
    assert unlisted([registry]) == [
        "binance does not list ETH-USDT (native ETHUSDT); remove it from "
        "exchanges.binance.symbols (or trading.symbols, which it trades when its own list is "
        "empty) or disable binance"
    ]
    assert await registry.refresh() == ["binance BTC-USDT: min_notional 5 -> 10"]
    assert referential.by_native("binance", "BTCUSDT").min_notional == "10"


def _fields(instrument: Instrument) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(instrument)
