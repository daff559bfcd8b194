"""Tickers, tapes and book versions kept per venue: one venue moving leaves another's views be."""

from __future__ import annotations

import msgspec

from desk.config import DeskConfig, with_simulator
from desk.core.enums import Side
from desk.core.events import BookChanged, Candle, Ticker, Trade
from desk.engine.engine import Engine
from desk.engine.views import EngineViews

T0 = 1_700_000_000_000_000_000
SYMBOL = "BTC-USDT"


def trade(venue: str, price: float, n: int, symbol: str = SYMBOL) -> Trade:
    ts = T0 + n
    return Trade(
        ts_exchange=ts,
        ts_recv=ts,
        venue=venue,
        symbol=symbol,
        trade_id=f"{venue}-{n}",
        price=price,
        size=0.5,
        side=Side.BUY,
    )


def ticker(venue: str, last: float, symbol: str = SYMBOL) -> Ticker:
    return Ticker(
        ts_exchange=T0,
        ts_recv=T0,
        venue=venue,
        symbol=symbol,
        last=last,
        last_size=1.0,
        bid=last - 0.1,
        bid_size=1.0,
        ask=last + 0.1,
        ask_size=1.0,
        open_24h=last / 1.01,
        high_24h=last,
        low_24h=last,
        volume_24h=10.0,
        volume_quote_24h=10.0 * last,
    )


def changed(venue: str, symbol: str = SYMBOL) -> BookChanged:
    return BookChanged(
        ts_exchange=T0,
        ts_recv=T0,
        venue=venue,
        symbol=symbol,
        seq_id=1,
        snapshot=False,
        best_bid=99.0,
        best_ask=101.0,
    )


def views() -> tuple[EngineViews, Engine]:
    """The views of a three-venue engine that is not started (events come from the test)."""
    config = with_simulator(DeskConfig(), all_venues=True)
    engine = Engine(config)
    return EngineViews(engine), engine


def publish(engine: Engine, *events: object) -> None:
    for event in events:
        engine.bus.publish(f"market_data:{event.symbol}", event)  # type: ignore[attr-defined]


def test_each_venue_keeps_its_tape_and_all_keeps_every_trade_newest_first() -> None:
    v, engine = views()
    publish(engine, trade("okx", 100.0, 1), trade("binance", 100.2, 2), trade("okx", 100.1, 3))
    okx = v.tape(SYMBOL, 10, "okx")
    assert [(t.venue, t.price) for t in okx.trades] == [("okx", 100.1), ("okx", 100.0)]
    assert [(t.venue, t.price) for t in v.tape(SYMBOL, 10, "binance").trades] == [
        ("binance", 100.2)
    ]
    merged = v.tape(SYMBOL, 10)  # "all", the default: every venue's, as before
    assert [t.venue for t in merged.trades] == ["okx", "binance", "okx"]
    assert v.tape(SYMBOL, 10, "coinbase").trades == []
    publish(engine, trade("binance", 100.3, 4))
    assert v.tape(SYMBOL, 10, "okx") is okx  # another venue's trade: OKX's tape is the same
    assert v.tape(SYMBOL, 10) is not merged


def test_every_venues_ticker_is_kept_in_venue_order() -> None:
    v, engine = views()
    publish(engine, ticker("coinbase", 101.0), ticker("okx", 100.0), ticker("binance", 100.5))
    publish(engine, ticker("okx", 100.0, "ETH-USDT"))
    shown = [(t.symbol, t.venue, t.last) for t in v.tickers().tickers]
    assert shown == [
        (SYMBOL, "okx", 100.0),
        (SYMBOL, "binance", 100.5),
        (SYMBOL, "coinbase", 101.0),
        ("ETH-USDT", "okx", 100.0),
    ]
    okx = v.tickers().tickers[0]
    assert round(okx.change_24h_pct, 9) == 1.0
    publish(engine, ticker("binance", 100.7))  # no longer "the last venue wins"
    assert [(t.venue, t.last) for t in v.tickers().tickers[:3]] == [
        ("okx", 100.0),
        ("binance", 100.7),
        ("coinbase", 101.0),
    ]


def test_a_venues_book_view_is_rebuilt_only_when_that_venue_changed() -> None:
    v, engine = views()
    publish(engine, changed("okx"), changed("binance"))
    okx, binance = v.book(SYMBOL, 5, "okx"), v.book(SYMBOL, 5, "binance")
    publish(engine, changed("binance"), changed("coinbase"))
    assert v.book(SYMBOL, 5, "okx") is okx
    moved = v.book(SYMBOL, 5, "binance")
    assert moved is not binance and moved.version == binance.version + 1
    publish(engine, trade("binance", 100.4, 5), trade("okx", 99.9, 6), changed("okx"))
    assert v.book(SYMBOL, 5, "okx").last_price == 99.9  # its own venue's last trade


def test_the_chart_moves_with_okx_trades_only() -> None:
    v, engine = views()
    timeframe = engine.config.trading.timeframes[0]
    before = v.candles(SYMBOL, timeframe).version
    publish(engine, trade("binance", 100.2, 1), trade("coinbase", 100.1, 2))
    assert v.candles(SYMBOL, timeframe).version == before
    publish(engine, trade("okx", 100.0, 3))
    assert v.candles(SYMBOL, timeframe).version != before
    closed = Candle(
        ts_exchange=T0,
        ts_recv=T0,
        venue="binance",
        symbol=SYMBOL,
        timeframe=timeframe,
        end=T0,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=1.0,
        quote_volume=1.0,
        trades=1,
        closed=True,
    )
    publish(engine, closed, msgspec.structs.replace(closed, venue="okx"))
    assert [c.close for c in v.candles(SYMBOL, timeframe).candles] == [1.0]


def test_a_tape_asked_again_holds_exactly_the_newest_trades() -> None:
    """Only the trades since the last view are converted; the rows must still be the newest."""
    v, engine = views()
    published: list[Trade] = []
    for batch in (3, 1, 4, 9, 2):  # fewer, then more trades than the limit between two asks
        for _ in range(batch):
            n = len(published)
            published.append(trade(("okx", "binance")[n % 2], 100.0 + n, n))
            publish(engine, published[-1])
        for venue in ("all", "okx"):
            mine = [t for t in published if venue == "all" or t.venue == venue]
            shown = v.tape(SYMBOL, 5, venue)
            assert [t.price for t in shown.trades] == [t.price for t in reversed(mine)][:5]
            assert shown.version == len(mine)


def test_each_venues_candles_are_kept_apart_and_move_with_that_venues_trades_only() -> None:
    v, engine = views()
    engine._wire_candles()  # the aggregators start() wires: forming bars from each venue's trades
    timeframe = engine.config.trading.timeframes[0]
    closed = Candle(
        ts_exchange=T0,
        ts_recv=T0,
        venue="binance",
        symbol=SYMBOL,
        timeframe=timeframe,
        end=T0,
        open=2.0,
        high=2.0,
        low=2.0,
        close=2.0,
        volume=1.0,
        quote_volume=2.0,
        trades=1,
        closed=True,
    )
    publish(engine, closed, msgspec.structs.replace(closed, venue="coinbase", close=3.0))
    binance = v.candles(SYMBOL, timeframe, venue="binance")
    assert binance.venue == "binance" and [c.close for c in binance.candles] == [2.0]
    assert [c.close for c in v.candles(SYMBOL, timeframe, venue="coinbase").candles] == [3.0]
    okx = v.candles(SYMBOL, timeframe)
    assert okx.venue == "okx" and okx.candles == []  # OKX's series (the default) is its own
    publish(engine, trade("okx", 99.0, 5), trade("coinbase", 98.0, 6))
    assert v.candles(SYMBOL, timeframe, venue="binance").version == binance.version
    publish(engine, trade("binance", 100.5, 7))
    moved = v.candles(SYMBOL, timeframe, venue="binance")
    assert moved.version != binance.version
    assert moved.forming and moved.candles[-1].close == 100.5  # Binance's own forming bar
    assert v.candles(SYMBOL, timeframe).candles[-1].close == 99.0  # OKX's, from OKX's trade
