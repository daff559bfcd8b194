"""The engine with OKX, Binance and Coinbase on the simulator, over real WebSockets and REST.

Each venue's books must equal that venue's simulator, candles are built per venue, prices move
around one shared fair price, a paper order on Binance fills against Binance's own book, and a
symbol a venue does not list refuses the start naming both.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from desk.config import ConfigError, DeskConfig, parse_config
from desk.core.enums import Side
from desk.core.events import Candle
from desk.core.orders import OrderRequest, OrderType
from desk.engine.engine import Engine
from tests.waiting import wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

SYMBOLS = ("BTC-USDT", "ETH-USDT")


def _config(db: Path, **exchanges: Any) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": "paper", "status_interval": 60},
            "trading": {
                "symbols": list(SYMBOLS),
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books"],
            },
            "exchanges": exchanges
            or {
                "binance": {"enabled": True},
                "coinbase": {"enabled": True, "symbols": ["BTC-USDT", "BTC-USD"]},
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 5, "steps_per_second": 400},
        }
    )


async def _started(config: DeskConfig) -> Engine:
    engine = Engine(config)
    await engine.start()
    assert engine.feeds is not None and engine.execution is not None, engine.execution_error
    await engine.feeds.wait_ready(30)
    return engine


def _native(venue: str, symbol: str) -> str:
    return symbol.replace("-", "") if venue == "binance" else symbol


def _published(engine: Engine, venue: str, symbol: str) -> Any:
    sim = engine.simulators[venue]
    if venue == "binance":
        return sim.book(_native(venue, symbol))
    return sim.published_book(symbol)


async def test_each_venues_books_equal_its_simulator_and_candles_are_per_venue(
    tmp_path: Path,
) -> None:
    engine = await _started(_config(tmp_path / "d.sqlite"))
    candles: list[Candle] = []
    engine.bus.subscribe(
        "market_data:*", lambda e: candles.append(e) if type(e) is Candle else None
    )
    try:
        feeds = engine.feeds
        assert feeds is not None
        assert feeds.venues() == ["okx", "binance", "coinbase"]
        assert set(feeds.counters()) == {"okx", "binance", "coinbase"}
        assert set(engine.venue_candles) == {
            ("okx", "BTC-USDT"),
            ("okx", "ETH-USDT"),
            ("binance", "BTC-USDT"),
            ("binance", "ETH-USDT"),
            ("coinbase", "BTC-USDT"),
            ("coinbase", "BTC-USD"),
        }
        await wait_until(
            lambda: {c.venue for c in candles if c.closed} == {"okx", "binance", "coinbase"},
            30,
            "closed candles of every venue",
        )
        for sim in engine.simulators.values():
            sim.pause()
        for sim in engine.simulators.values():
            sim.publish()
        books = [("okx", s) for s in SYMBOLS] + [("binance", s) for s in SYMBOLS]
        books += [("coinbase", "BTC-USDT"), ("coinbase", "BTC-USD")]
        for venue, symbol in books:
            await wait_until(
                lambda v=venue, s=symbol: (
                    feeds.book(s, v).copy_levels() == _published(engine, v, s)
                ),
                30,
                f"the {venue} {symbol} book to equal its simulator's",
            )
        okx, binance = feeds.book("BTC-USDT"), feeds.book("BTC-USDT", "binance")
        coinbase = feeds.book("BTC-USD", "coinbase")
        assert okx is not None and binance is not None and coinbase is not None
        assert okx is not binance and okx.venue == "okx" and binance.venue == "binance"
        for other in (binance, coinbase):  # one shared fair price, a little apart per venue
            assert abs(other.mid / okx.mid - 1) < 0.01
        assert engine.referential.by_native("binance", "BTCUSDT").symbol == "BTC-USDT"
        assert engine.referential.get("coinbase", "BTC-USD").quote == "USD"
        assert engine.referential.get("coinbase", "BTC-USDT").quote == "USDT"
        assert engine.referential.venues("BTC-USDT") == ["binance", "coinbase", "okx"]
    finally:
        await engine.stop()
    assert engine.sim_server._started == []  # every simulator stopped


async def test_a_paper_order_on_binance_fills_against_binances_book(tmp_path: Path) -> None:
    engine = await _started(_config(tmp_path / "d.sqlite"))
    try:
        execution, feeds = engine.execution, engine.feeds
        assert execution is not None and feeds is not None
        for sim in engine.simulators.values():
            sim.pause()
        binance = feeds.book("BTC-USDT", "binance")
        okx = feeds.book("BTC-USDT")
        assert binance is not None and okx is not None
        await wait_until(lambda: bool(binance) and bool(okx), 30, "both books")
        best_ask = Decimal(binance.raw_asks(1)[0][0])
        assert best_ask != Decimal(okx.raw_asks(1)[0][0])
        request = OrderRequest(
            symbol="BTC-USDT",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            size=Decimal("0.00001"),
            venue="binance",
        )
        order = execution.submit(request)
        assert order.venue == "binance", order.reason
        await wait_until(
            lambda: execution.portfolio.position("manual", "BTC-USDT", "binance") > 0,
            30,
            "the binance fill",
        )
        fills = [p for p in execution.portfolio.positions() if p.venue == "binance"]
        assert len(fills) == 1
        position = fills[0]
        assert position.size == Decimal("0.00001") and position.avg_price == best_ask
        assert execution.portfolio.position("manual", "BTC-USDT", "okx") == 0
    finally:
        await engine.stop()


async def test_a_symbol_a_venue_does_not_list_refuses_the_start(tmp_path: Path) -> None:
    config = _config(
        tmp_path / "d.sqlite",
        binance={"enabled": True, "symbols": ["BTC-USDT", "DOGE-USDT"]},
    )
    engine = Engine(config)
    with pytest.raises(ConfigError) as info:
        await engine.start()
    assert "binance does not list DOGE-USDT" in str(info.value)
    assert engine.feeds is None and engine.sim_server._started == []
