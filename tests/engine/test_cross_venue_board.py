"""The engine's cross-venue board: tops per venue from the bus, the spreads the watcher uses."""

from __future__ import annotations

import math

import msgspec

from desk.config import DeskConfig
from desk.core.bus import Bus
from desk.core.events import BookChanged, Ticker
from desk.engine.cross_venue_board import CrossVenueBoard, board_for, venue_order
from desk.engine.engine import Engine
from desk.market.cross_venue import CrossVenueTops, VenueTop

T0 = 1_700_000_000_000_000_000


def changed(venue: str, bid: float, ask: float, symbol: str = "BTC-USDT", ts: int = T0):
    return BookChanged(
        ts_exchange=ts,
        ts_recv=ts,
        venue=venue,
        symbol=symbol,
        seq_id=1,
        snapshot=False,
        best_bid=bid,
        best_ask=ask,
    )


class OneLevelBook:
    def __init__(self, bid: tuple[float, float], ask: tuple[float, float]) -> None:
        self.bid, self.ask = bid, ask

    def bids(self, n: int) -> list[tuple[float, float]]:
        return [self.bid][:n]

    def asks(self, n: int) -> list[tuple[float, float]]:
        return [self.ask][:n]


def test_tops_and_spreads_match_the_watchers_class_in_venue_order() -> None:
    bus = Bus()
    books = {"coinbase": OneLevelBook((100.2, 3.0), (100.3, 4.0))}
    board = CrossVenueBoard(
        bus,
        ("BTC-USDT",),
        fees_bps={"binance": 7.5},
        default_fee_bps=10.0,
        venues=lambda: ("okx", "binance", "coinbase"),
        book=lambda symbol, venue: books.get(venue),
    )
    bus.publish("market_data:BTC-USDT", changed("coinbase", 100.2, 100.3, ts=T0 + 2))
    bus.publish("market_data:BTC-USDT", changed("okx", 99.9, 100.0, ts=T0 + 1))
    bus.publish("market_data:BTC-USDT", changed("binance", 100.5, 100.6))
    view = board.view()
    assert view.venues == ["okx", "binance", "coinbase"]
    row = view.symbol("BTC-USDT")
    assert row is not None
    assert [t.venue for t in row.tops] == ["okx", "binance", "coinbase"]
    assert [t.fee_bps for t in row.tops] == [10.0, 7.5, 10.0]
    assert [t.ts_recv for t in row.tops] == [T0 + 1, T0, T0 + 2]
    coinbase = row.tops[2]
    assert (coinbase.bid_size, coinbase.ask_size) == (3.0, 4.0)  # read from the live book
    assert math.isnan(row.tops[0].bid_size)  # no book: BookChanged carries no size
    reference = CrossVenueTops({"binance": 7.5}, 10.0)
    for venue, bid, ask in (
        ("okx", 99.9, 100.0),
        ("binance", 100.5, 100.6),
        ("coinbase", 100.2, 100.3),
    ):
        reference.update(VenueTop(venue, "BTC-USDT", bid, ask, T0))
    assert {(c.buy, c.sell): c.bps for c in row.spreads} == reference.matrix("BTC-USDT")
    assert len(row.spreads) == 6
    assert row.best is not None and (row.best.buy, row.best.sell) == ("okx", "binance")
    assert row.best.bps == reference.best("BTC-USDT")[2] > 0  # type: ignore[index]


def test_the_view_is_rebuilt_only_when_a_top_moved_and_tickers_move_tops_too() -> None:
    bus = Bus()
    board = CrossVenueBoard(bus, ("BTC-USDT", "ETH-USDT"))
    first = board.view()
    assert [s.symbol for s in first.symbols] == ["BTC-USDT", "ETH-USDT"]
    assert all(not s.tops and s.best is None for s in first.symbols)
    assert board.view() is first
    bus.publish("market_data:BTC-USDT", changed("okx", 10.0, 10.1))
    second = board.view()
    assert second is not first and second.version == first.version + 1
    assert board.view() is second
    ticker = Ticker(
        ts_exchange=T0,
        ts_recv=T0 + 5,
        venue="binance",
        symbol="BTC-USDT",
        last=10.2,
        last_size=1.0,
        bid=10.2,
        bid_size=2.0,
        ask=10.3,
        ask_size=5.0,
        open_24h=10.0,
        high_24h=11.0,
        low_24h=9.0,
        volume_24h=1.0,
        volume_quote_24h=10.0,
    )
    bus.publish("market_data:BTC-USDT", ticker)
    third = board.view()
    assert third.venues == ["okx", "binance"]  # a venue seen is listed even if not configured
    row = third.symbol("BTC-USDT")
    assert row is not None and [t.venue for t in row.tops] == ["okx", "binance"]
    assert (row.tops[1].bid_size, row.tops[1].ask_size) == (2.0, 5.0)


def test_a_missing_side_gives_no_spread_and_no_best() -> None:
    bus = Bus()
    board = CrossVenueBoard(bus, ("BTC-USDT",), venues=lambda: ("okx", "binance"))
    bus.publish("market_data:BTC-USDT", changed("okx", 10.0, 10.1))
    bus.publish("market_data:BTC-USDT", changed("binance", math.nan, 10.2))
    row = board.view().symbol("BTC-USDT")
    assert row is not None
    cells = {(c.buy, c.sell): c.bps for c in row.spreads}
    assert math.isnan(cells[("okx", "binance")])  # binance has no bid to sell to
    assert math.isfinite(cells[("binance", "okx")])
    assert row.best is not None and row.best.buy == "binance"


def test_the_engine_keeps_one_board_with_the_spread_watchers_fees() -> None:
    config = DeskConfig()
    spread = msgspec.structs.replace(
        config.watchers.spread, fees_bps={"okx": 8.0}, default_fee_bps=6.0
    )
    config = msgspec.structs.replace(
        config, watchers=msgspec.structs.replace(config.watchers, spread=spread)
    )
    engine = Engine(config)
    assert board_for(engine) is engine.cross_venue
    assert engine.cross_venue.tops.fee_bps("okx") == 8.0
    assert engine.cross_venue.tops.fee_bps("coinbase") == 6.0


def test_venue_order_puts_known_venues_first() -> None:
    assert venue_order(["kraken", "coinbase", "okx", "coinbase"]) == ["okx", "coinbase", "kraken"]


def test_events_nobody_looked_at_fold_into_the_same_tops_as_each_one_taken_in_order() -> None:
    """The board keeps only each venue's latest event until asked; the tops must be those of a
    CrossVenueTops fed every event as it came (a ticker after a book change wins, and back)."""
    import random

    rng = random.Random(15)
    bus = Bus()
    board = CrossVenueBoard(bus, ("BTC-USDT", "ETH-USDT"))
    reference = CrossVenueTops()
    for n in range(400):
        symbol = rng.choice(("BTC-USDT", "ETH-USDT"))
        venue = rng.choice(("okx", "binance", "coinbase"))
        bid = 100.0 + rng.randrange(50) / 10
        event: BookChanged | Ticker = changed(venue, bid, bid + 0.1, symbol, ts=T0 + n)
        if rng.random() < 0.3:
            event = Ticker(
                ts_exchange=T0 + n,
                ts_recv=T0 + n,
                venue=venue,
                symbol=symbol,
                last=bid,
                last_size=1.0,
                bid=bid,
                bid_size=float(n),
                ask=bid + 0.2,
                ask_size=1.0,
                open_24h=bid,
                high_24h=bid,
                low_24h=bid,
                volume_24h=1.0,
                volume_quote_24h=bid,
            )
        bus.publish(f"market_data:{symbol}", event)
        reference.on_event(event)
        if n % 97 == 0:  # a UI asking now and then
            board.view()
    assert board.version == 400
    for symbol in ("BTC-USDT", "ETH-USDT"):
        assert board.tops.tops(symbol) == reference.tops(symbol)
        assert board.tops.matrix(symbol) == reference.matrix(symbol)
