"""Market mode: ticker strip, order-book ladder, trade tape and candles for one symbol.

The ladder shows one venue's book, or every venue's merged (``v`` cycles okx → binance →
coinbase → all); the ticker strip and the tape follow it (that venue's, or every venue's with
each row tagged). The chart shows the candles of the venue on the ladder; under the merged
ladder, those of the venue shown before (the first venue at start), named in its title.
``x`` pushes the cross-venue view (:mod:`desk.screens.cross_venue`).

Only what is on screen is asked for: the hidden ladder samples nothing, and a venue that is not
shown costs nothing here (each venue's book and tape have versions of their own).
"""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Footer

from desk.bridge.venue_views import ALL_VENUES
from desk.messages import RefreshRequested
from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.screens.cross_venue import CrossVenueScreen
from desk.widgets.candle_chart import CandleChart
from desk.widgets.consolidated_ladder import ConsolidatedLadder
from desk.widgets.ladder import Ladder
from desk.widgets.tape import Tape
from desk.widgets.ticker_strip import TickerStrip

CHART_EVERY = 3
"""The chart is sampled every third refresh (about 3 a second): its forming bar moves with
every trade, and redrawing the chart is the costliest part of a refresh, while a bar that moves
a third of a second later is no loss. A new symbol or timeframe is drawn at once."""


class MarketScreen(DeskScreen):
    """The selected symbol's book, tape and chart, and every symbol's ticker."""

    MODE_TITLE = "market"
    BINDINGS = bindings("market")

    def compose(self) -> ComposeResult:
        yield self.header
        yield TickerStrip(id="tickers")
        with Horizontal(id="market-body"):
            yield Ladder(id="ladder")
            yield ConsolidatedLadder(id="consolidated")
            yield Tape(id="tape")
            yield CandleChart(id="chart")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.ladder = self.query_one(Ladder)
        self.consolidated = self.query_one(ConsolidatedLadder)
        self.consolidated.display = False
        self.tape = self.query_one(Tape)
        self.chart = self.query_one(CandleChart)
        self.tickers = self.query_one(TickerStrip)
        self.venue = ""  # "" until the first sample: the client's first venue
        self.venues: tuple[str, ...] = ("okx",)  # as the last sample found them
        self.chart_venue = ""  # whose candles the chart shows: the last single venue shown
        self._titled_for: tuple[str, ...] = ()
        self._chart_for: tuple[str, ...] = ()
        self._chart_wait = 0

    def venue_choices(self) -> tuple[str, ...]:
        """Each venue, then all of them merged (only when there is more than one)."""
        venues = self.venues
        return (*venues, ALL_VENUES) if len(venues) > 1 else venues

    def action_cycle_venue(self) -> None:
        choices = self.venue_choices()
        current = choices.index(self.venue) if self.venue in choices else -1
        self.venue = choices[(current + 1) % len(choices)]
        self.post_message(RefreshRequested())

    def action_cross_venue(self) -> None:
        """The cross-venue view, over this mode (escape comes back)."""
        self.app.push_screen(CrossVenueScreen())

    def sample_body(self, ctx: RefreshContext) -> None:
        """One sample: each widget asks for what fits it and redraws only on a new version."""
        client, symbol = ctx.client, ctx.symbol
        venues = self.venues = tuple(client.venues)
        if self.venue not in (*venues, ALL_VENUES) or (
            self.venue == ALL_VENUES and len(venues) < 2
        ):
            self.venue = venues[0]
        merged = self.venue == ALL_VENUES
        if not merged:
            self.chart_venue = self.venue
        elif self.chart_venue not in venues:
            self.chart_venue = venues[0]
        self.tickers.show(client.tickers(), symbol, self.venue)
        if self.consolidated.display != merged:
            self.ladder.display, self.consolidated.display = not merged, merged
        if merged:
            depth = self.consolidated.wanted_depth(ctx.ui.ladder_depth)
            books = [client.book(symbol, depth, venue) for venue in venues]
            self.consolidated.show(books, depth)
        else:
            depth = self.ladder.wanted_depth(ctx.ui.ladder_depth)
            self.ladder.show(client.book(symbol, depth, self.venue), ctx.now_ns)
        self.tape.show(client.tape(symbol, self.tape.wanted_limit(), self.venue), self.venue)
        self._sample_chart(ctx, name_venue=len(venues) > 1)
        titles = (symbol, self.venue)
        if titles != self._titled_for:
            self._titled_for = titles  # a border title repaints its whole widget: set it rarely
            where = "all venues" if merged else self.venue
            self.ladder.border_title = f"book {symbol} · {where}"
            self.consolidated.border_title = f"book {symbol} · {where}"
            self.tape.border_title = f"tape {symbol} · {self.venue}"  # "all": rows tagged

    def _sample_chart(self, ctx: RefreshContext, *, name_venue: bool) -> None:
        """The chart venue's candles, every CHART_EVERY samples (at once for a new symbol,
        timeframe or venue); the title names the venue when there is more than one."""
        chart_for = (ctx.symbol, ctx.timeframe, self.chart_venue)
        self._chart_wait -= 1
        if chart_for != self._chart_for or self._chart_wait <= 0:
            self._chart_for, self._chart_wait = chart_for, CHART_EVERY
            limit = self.chart.wanted_limit()
            candles = ctx.client.candles(ctx.symbol, ctx.timeframe, limit, self.chart_venue)
            self.chart.show(candles, name_venue=name_venue)


async def open_cross_venue(app: App[Any]) -> None:
    """The cross-venue view over the market mode, from anywhere (the command palette)."""
    await app.run_action("mode('market')")
    if isinstance(app.screen, MarketScreen):
        app.screen.action_cross_venue()


async def show_venue(app: App[Any], venue: str) -> None:
    """The market mode showing ``venue``'s book ("all": every venue merged)."""
    await app.run_action("mode('market')")
    screen = app.screen
    if isinstance(screen, MarketScreen):
        screen.venue = venue
        screen.post_message(RefreshRequested())
