"""Candles per (venue, symbol): each venue's trades build its own bars, and the consumers
that follow one venue (indicator board, bots) never see another venue's bars."""

from __future__ import annotations

from desk.config import parse_config
from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Side
from desk.core.events import Candle, Trade
from desk.engine.indicator_board import IndicatorBoard
from desk.engine.venues import wire_candles

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _trade(venue: str, ts: int, price: float) -> Trade:
    return Trade(
        ts_exchange=ts,
        ts_recv=ts,
        venue=venue,
        symbol="BTC-USDT",
        trade_id=f"{venue}-{ts}",
        price=price,
        size=1.0,
        side=Side.BUY,
    )


def test_each_venue_builds_its_own_candles_from_its_own_trades() -> None:
    config = parse_config(
        {
            "trading": {"symbols": ["BTC-USDT"], "timeframes": ["1s"]},
            "exchanges": {"binance": {"enabled": True}},
            "candles": {"clock": "data"},
        }
    )
    bus = Bus()
    closed: list[Candle] = []
    aggregators = wire_candles(config, bus, None, closed.append, lambda _text: None)
    assert set(aggregators) == {("okx", "BTC-USDT"), ("binance", "BTC-USDT")}
    topic = topics.market_data("BTC-USDT")
    for second, (okx, binance) in enumerate([(100.0, 200.0), (101.0, 201.0), (102.0, 202.0)]):
        bus.publish(topic, _trade("okx", T0 + second * NS + 1, okx))
        bus.publish(topic, _trade("binance", T0 + second * NS + 2, binance))
    bars = {(c.venue, c.close) for c in closed if c.closed}
    assert ("okx", 100.0) in bars and ("binance", 200.0) in bars
    assert all((c.close < 150) == (c.venue == "okx") for c in closed)
    assert {c.venue for c in closed} == {"okx", "binance"}


def test_the_indicator_board_follows_okxs_candles_only() -> None:
    bus = Bus()
    board = IndicatorBoard(bus, ("BTC-USDT",), ("1s",))
    for venue, close in (("binance", 200.0), ("okx", 100.0)):
        candle = Candle(
            ts_exchange=T0,
            ts_recv=T0,
            venue=venue,
            symbol="BTC-USDT",
            timeframe="1s",
            end=T0,
            open=close,
            high=close,
            low=close,
            close=close,
            volume=1.0,
            quote_volume=close,
            trades=1,
            closed=True,
        )
        bus.publish(topics.market_data("BTC-USDT"), candle)
    assert board.value("BTC-USDT", "1s", "close") == 100.0
    assert [row.bars for row in board.rows()] == [1]
