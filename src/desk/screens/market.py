"""Market mode: ticker strip, order-book ladder, trade tape and candles for one symbol."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Footer

from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.widgets.candle_chart import CandleChart
from desk.widgets.ladder import Ladder
from desk.widgets.tape import Tape
from desk.widgets.ticker_strip import TickerStrip


class MarketScreen(DeskScreen):
    """The selected symbol's book, tape and chart, and every symbol's ticker."""

    MODE_TITLE = "market"
    BINDINGS = bindings("market")

    def compose(self) -> ComposeResult:
        yield self.header
        yield TickerStrip(id="tickers")
        with Horizontal(id="market-body"):
            yield Ladder(id="ladder")
            yield Tape(id="tape")
            yield CandleChart(id="chart")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.ladder = self.query_one(Ladder)
        self.tape = self.query_one(Tape)
        self.chart = self.query_one(CandleChart)
        self.tickers = self.query_one(TickerStrip)
        self._titled_for = ""

    def sample_body(self, ctx: RefreshContext) -> None:
        """One sample: each widget asks for what fits it and redraws only on a new version."""
        client, symbol = ctx.client, ctx.symbol
        self.tickers.show(client.tickers(), symbol)
        depth = self.ladder.wanted_depth(ctx.ui.ladder_depth)
        self.ladder.show(client.book(symbol, depth), ctx.now_ns)
        self.tape.show(client.tape(symbol, self.tape.wanted_limit()))
        self.chart.show(client.candles(symbol, ctx.timeframe, self.chart.wanted_limit()))
        if symbol != self._titled_for:
            self._titled_for = symbol  # a border title repaints its whole widget: set it rarely
            self.ladder.border_title = f"book {symbol}"
            self.tape.border_title = f"tape {symbol}"
