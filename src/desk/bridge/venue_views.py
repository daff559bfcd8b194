"""The cross-venue view: each venue's top of book per symbol and the spreads between venues.

Built engine-side by :class:`~desk.engine.cross_venue_board.CrossVenueBoard` from the same
:class:`~desk.market.cross_venue.CrossVenueTops` the spread watcher reads, so the figure a UI
shows is the figure a watcher alerts on. Ages are not baked in: a UI computes them from
``ts_recv`` and its own clock, so a cached view stays right as time passes.
"""

from __future__ import annotations

import msgspec

from desk.bridge.views import View

PRIMARY_VENUE = "okx"
"""The venue a view means when it names none (the only one before Binance and Coinbase)."""

ALL_VENUES = "all"
"""Every venue together: the merged tape, every venue's tickers, the consolidated ladder."""


class VenueTopView(msgspec.Struct, frozen=True, kw_only=True):
    """One venue's best bid and ask of one symbol (NaN for a missing side or size)."""

    venue: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts_recv: int
    fee_bps: float


class SpreadCellView(msgspec.Struct, frozen=True, array_like=True):
    """Buy at ``buy``'s ask, sell at ``sell``'s bid: net basis points after both taker fees."""

    buy: str
    sell: str
    bps: float


class SymbolCrossView(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol across venues: tops in venue order, every ordered pair's net spread."""

    symbol: str
    tops: list[VenueTopView]
    spreads: list[SpreadCellView]
    best: SpreadCellView | None = None


class CrossVenueView(View, frozen=True, kw_only=True):
    """Every symbol across the venues that feed this desk (``venues`` in display order)."""

    venues: list[str]
    symbols: list[SymbolCrossView]

    def symbol(self, symbol: str) -> SymbolCrossView | None:
        for row in self.symbols:
            if row.symbol == symbol:
                return row
        return None


def empty_cross_venue(venues: list[str] | None = None) -> CrossVenueView:
    """No top seen yet (or no engine answering)."""
    return CrossVenueView(venues=list(venues or [PRIMARY_VENUE]), symbols=[])
