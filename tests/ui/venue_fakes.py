"""A frozen market on three venues for the fake client: each venue's book shifted from OKX's.

On BTC-USDT the venues sit a tick or two apart (their levels interleave in the consolidated
ladder, and Binance bids above Coinbase's ask, but by less than the fees). On ETH-USDT and
SOL-USDT Binance's book sits 8 bp above OKX's and Coinbase's 6 bp below, so buying on Coinbase
and selling on Binance nets about +4 bp after two 5 bp taker fees: a positive matrix cell.
The cross-venue view is built by the engine's own ``CrossVenueBoard`` from ``BookChanged``
notices of the fake books, so the figures are the ones the engine would show.
"""

from __future__ import annotations

from typing import Any

from desk.bridge.venue_views import CrossVenueView
from desk.core.bus import Bus
from desk.core.events import BookChanged
from desk.engine.cross_venue_board import CrossVenueBoard

VENUES = ("okx", "binance", "coinbase")
VENUE_SHIFT_BPS = {"okx": 0.0, "binance": 8.0, "coinbase": -6.0}
VENUE_SHIFT_TICKS = {"okx": 0, "binance": 2, "coinbase": -1}  # BTC-USDT's
FEE_BPS = 5.0
AGE_STEP_NS = 150_000_000  # each venue's top a little older than the previous one's


def venue_shift(venue: str, mid: float, tick: float, symbol: str) -> float:
    """How far ``venue``'s book of ``symbol`` sits from OKX's, in price, on the tick."""
    if symbol == "BTC-USDT":
        return VENUE_SHIFT_TICKS.get(venue, 0) * tick
    return round(mid * VENUE_SHIFT_BPS.get(venue, 0.0) / 1e4 / tick) * tick


class _TopBook:
    """The little of an OrderBook the board reads: the best level of each side."""

    def __init__(self, view: Any) -> None:
        self.view = view

    def bids(self, n: int) -> list[tuple[float, float]]:
        return [(level.price, level.size) for level in self.view.bids[:n]]

    def asks(self, n: int) -> list[tuple[float, float]]:
        return [(level.price, level.size) for level in self.view.asks[:n]]


def frozen_cross_venue(client: Any, venues: tuple[str, ...]) -> CrossVenueView:
    """Every symbol's fake books on ``venues`` through a real board (see module doc)."""
    from tests.ui.fakes import T0

    books = {
        (symbol, venue): client.book(symbol, 1, venue)
        for symbol in client.symbols
        for venue in venues
    }
    bus = Bus()
    board = CrossVenueBoard(
        bus,
        client.symbols,
        default_fee_bps=FEE_BPS,
        venues=lambda: venues,
        book=lambda symbol, venue: _TopBook(books[(symbol, venue)]),
    )
    for (symbol, venue), book in books.items():
        if book.stale:
            continue
        ts = T0 - venues.index(venue) * AGE_STEP_NS
        bus.publish(
            f"market_data:{symbol}",
            BookChanged(
                ts_exchange=ts,
                ts_recv=ts,
                venue=venue,
                symbol=symbol,
                seq_id=book.seq_id,
                snapshot=False,
                best_bid=book.bids[0].price,
                best_ask=book.asks[0].price,
            ),
        )
    view = board.view()
    version = sum(client.book_versions.values())
    return CrossVenueView(version=version, venues=view.venues, symbols=view.symbols)
