"""The engine's cross-venue board: every venue's top of book per symbol, and the spreads.

A :class:`~desk.market.cross_venue.CrossVenueTops` fed each ``BookChanged`` and ``Ticker`` from
``market_data:*`` (as the spread watcher's is). On the hot path the board only keeps the latest
such event per (symbol, venue) and bumps a version: each one replaces that venue's top whole, so
folding only the latest into the tops when a UI asks gives the same tops, and a desk whose
cross-venue view nobody looks at pays a dict store per event. The
:class:`~desk.bridge.venue_views.CrossVenueView` is built only when a UI asks, at most once per
version. The spreads come from ``CrossVenueTops.matrix`` with the watcher's fees
(``watchers.spread.fees_bps`` / ``default_fee_bps``), the same code and inputs the spread
watcher reads, so what the operator sees is what the watcher alerts on.

Sizes at the top are read from the venue's live book when the view is built (a
``BookChanged`` carries prices only); the book's top is the one the last notice announced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from desk.bridge.venue_views import (
    PRIMARY_VENUE,
    CrossVenueView,
    SpreadCellView,
    SymbolCrossView,
    VenueTopView,
)
from desk.core.bus import Bus
from desk.core.events import BookChanged, Ticker
from desk.market.cross_venue import CrossVenueTops

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts

VENUE_ORDER = ("okx", "binance", "coinbase")
"""Display order of the venues desk speaks; any other venue follows, by name."""

BookLookup = Callable[[str, str], Any]  # (symbol, venue) -> OrderBook | None


def venue_order(venues: Sequence[str]) -> list[str]:
    """``venues`` once each, known venues first in ``VENUE_ORDER``, the rest by name."""
    known = [v for v in VENUE_ORDER if v in venues]
    return known + sorted(set(venues) - set(known))


class CrossVenueBoard:
    """Latest top per (symbol, venue) from the bus, and the view of it (see module doc)."""

    def __init__(
        self,
        bus: Bus,
        symbols: Sequence[str],
        *,
        fees_bps: Mapping[str, float] | None = None,
        default_fee_bps: float = 10.0,
        venues: Callable[[], Sequence[str]] = lambda: (PRIMARY_VENUE,),
        book: BookLookup | None = None,
    ) -> None:
        self._tops = CrossVenueTops(fees_bps, default_fee_bps)
        self._pending: dict[tuple[str, str], Any] = {}  # (symbol, venue) -> its latest event
        self.symbols = tuple(symbols)
        self.version = 0
        self._venues = venues
        self._book = book
        self._view: CrossVenueView | None = None
        bus.subscribe("market_data:*", self.on_market_data)

    def on_market_data(self, event: Any) -> None:
        """On the hot path: the latest event kept and a version bumped, nothing built. Book
        changes and tickers both move a top, as they do the spread watcher's."""
        kind = type(event)
        if kind is BookChanged or kind is Ticker:
            self._pending[(event.symbol, event.venue)] = event
            self.version += 1

    @property
    def tops(self) -> CrossVenueTops:
        """Every venue's top per symbol, up to the last event seen."""
        if self._pending:
            pending, self._pending = self._pending, {}
            for event in pending.values():
                self._tops.on_event(event)
        return self._tops

    def venues(self) -> list[str]:
        """The venues feeding this desk, and any other one a top was seen from."""
        seen = {venue for symbol in self.tops.symbols() for venue in self.tops.tops(symbol)}
        return venue_order([*self._venues(), *seen])

    def view(self) -> CrossVenueView:
        """The view of the current version (the same object while nothing changed)."""
        venues = self.venues()
        hit = self._view
        if hit is not None and hit.version == self.version and hit.venues == venues:
            return hit
        symbols = [*self.symbols, *(s for s in self.tops.symbols() if s not in self.symbols)]
        self._view = CrossVenueView(
            version=self.version,
            venues=venues,
            symbols=[self._symbol_view(symbol, venues) for symbol in symbols],
        )
        return self._view

    def _symbol_view(self, symbol: str, venues: list[str]) -> SymbolCrossView:
        tops = self.tops.tops(symbol)
        order = [v for v in venues if v in tops]
        matrix = self.tops.matrix(symbol)
        spreads = [
            SpreadCellView(buy, sell, matrix[(buy, sell)])
            for buy in order
            for sell in order
            if buy != sell
        ]
        best = self.tops.best(symbol)
        return SymbolCrossView(
            symbol=symbol,
            tops=[self._top_view(symbol, tops[venue]) for venue in order],
            spreads=spreads,
            best=SpreadCellView(*best) if best is not None else None,
        )

    def _top_view(self, symbol: str, top: Any) -> VenueTopView:
        bid_size, ask_size = top.bid_size, top.ask_size
        book = self._book(symbol, top.venue) if self._book is not None else None
        if book is not None:
            bids, asks = book.bids(1), book.asks(1)
            if bids and bids[0][0] == top.bid:
                bid_size = float(bids[0][1])
            if asks and asks[0][0] == top.ask:
                ask_size = float(asks[0][1])
        return VenueTopView(
            venue=top.venue,
            bid=top.bid,
            ask=top.ask,
            bid_size=bid_size,
            ask_size=ask_size,
            ts_recv=top.ts_ns,
            fee_bps=self.tops.fee_bps(top.venue),
        )


def board_for(engine: EngineParts) -> CrossVenueBoard:
    """The engine's own board if it keeps one, else a new one on its bus, with the spread
    watcher's taker fees (so both compute the same spreads)."""
    existing = getattr(engine, "cross_venue", None)
    if isinstance(existing, CrossVenueBoard):
        return existing
    config = engine.config
    spread = config.watchers.spread
    return CrossVenueBoard(
        engine.bus,
        config.trading.symbols,
        fees_bps={venue: float(bps) for venue, bps in spread.fees_bps.items()},
        default_fee_bps=float(spread.default_fee_bps),
        venues=lambda: engine_venues(engine),
        book=lambda symbol, venue: venue_book(engine.feeds, symbol, venue),
    )


def engine_venues(engine: EngineParts) -> list[str]:
    """The venues an engine's feeds speak (before the feeds start: the enabled sections)."""
    feeds = engine.feeds
    listed = getattr(feeds, "venues", None)
    if callable(listed):
        return venue_order(list(listed()))
    if feeds is not None:
        return venue_order([feed_venue(feed) for feed in feeds.feeds])
    exchanges = engine.config.exchanges
    return [
        name
        for name in VENUE_ORDER
        if getattr(exchanges, name, None) is not None
        and getattr(getattr(exchanges, name), "enabled", True)
    ]


def feed_venue(feed: Any) -> str:
    """A feed connection's venue ("okx#2" is OKX's second connection)."""
    return str(getattr(feed, "venue", "") or str(feed.name).split("#")[0])


def venue_book(feeds: Any, symbol: str, venue: str) -> Any:
    """The live book of ``symbol`` on ``venue`` (None when no feed keeps one)."""
    if feeds is None:
        return None
    if callable(getattr(feeds, "venues", None)):
        try:
            return feeds.book(symbol, venue=venue)
        except (KeyError, ValueError):  # a venue seen on the bus that no feed here speaks
            return None
    return feeds.book(symbol) if venue == PRIMARY_VENUE else None
