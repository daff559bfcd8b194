"""One bot in depth: its candles, its strategy's indicators, its signals and its change log.

Pushed over the bots mode (``d`` or enter on a bot); escape goes back. The indicator series
come from ``BotDetailView.indicators``, aligned to the candles: series on the price scale (moving
averages, Bollinger bands) are plotted with the close, the others (RSI, MACD …) in their own
panel with their reference levels. The change log is the record of every override and who made
it.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Label

from desk.bridge.views import BotDetailView, CandlesView
from desk.messages import ParamsFormRequested
from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.widgets.arb_tables import ArbLegsTable, arb_summary
from desk.widgets.bot_tables import BotEventsTable, SignalsTable, fmt_pnl
from desk.widgets.candle_chart import CandleChart
from desk.widgets.formatting import fmt_size
from desk.widgets.series_plot import PlotSpec, Series, SeriesPlot

RSI_LEVELS = (30.0, 70.0)
CLOSE_COLOUR = 3


class BotDetailScreen(DeskScreen):
    """The detail of ``bot_id``, sampled like a mode while it is on top."""

    MODE_TITLE = "bot"
    BINDINGS = bindings("bot_detail")

    def __init__(self, bot_id: str) -> None:
        super().__init__()
        self.bot_id = bot_id
        self.detail: BotDetailView | None = None
        self._drawn: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield self.header
        yield Label("", id="detail-summary")
        with Horizontal(id="detail-body"):
            with Vertical(id="detail-plots"):
                self.arb, self.legs = Label("", id="detail-arb"), ArbLegsTable(id="detail-legs")
                self.arb.display = self.legs.display = False  # an arbitrage bot's books
                yield self.arb
                yield self.legs
                yield CandleChart(id="detail-chart")
                yield SeriesPlot(id="detail-overlay")
                yield SeriesPlot(id="detail-oscillator")
            with Vertical(id="detail-tables"):
                yield SignalsTable(id="detail-signals")
                yield BotEventsTable(id="detail-events")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.summary = self.query_one("#detail-summary", Label)
        self.chart = self.query_one(CandleChart)
        self.overlay = self.query_one("#detail-overlay", SeriesPlot)
        self.oscillator = self.query_one("#detail-oscillator", SeriesPlot)
        self.signals = self.query_one(SignalsTable)
        self.events = self.query_one(BotEventsTable)
        self.legs.border_title = "legs"
        self.signals.border_title = "signals"
        self.events.border_title = "changes"

    def sample_body(self, ctx: RefreshContext) -> None:
        try:
            detail = ctx.client.bot_detail(self.bot_id, limit=max(120, self.chart.wanted_limit()))
        except KeyError:
            self.notify(f"bot {self.bot_id!r} is gone", severity="warning")
            self.dismiss()
            return
        key = (detail.version, self.signals.style_epoch, self.events.style_epoch, detail.arbitrage)
        if key == self._drawn:
            return
        self._drawn = key
        self.detail = detail
        self._show(detail)

    def _show(self, detail: BotDetailView) -> None:
        bot = detail.bot
        self.summary.update(
            f" {bot.bot_id} · {bot.strategy} {_params_text(bot.params)} · {bot.symbol} "
            f"{bot.timeframe} · {bot.state}/{bot.mode} · pos {fmt_size(bot.position)} · "
            f"pnl {fmt_pnl(bot.pnl)} · sent {bot.sent_count}/{bot.signal_count}"
        )
        self.chart.show(
            CandlesView(
                version=detail.version,
                symbol=bot.symbol,
                timeframe=bot.timeframe,
                candles=detail.candles,
                forming=False,
            )
        )
        price, other = split_series(detail)
        self.overlay.display = bool(price)
        self.oscillator.display = bool(other)
        if price:
            closes = [c.close for c in detail.candles]
            series = (Series("close", closes, CLOSE_COLOUR), *price)
            self.overlay.show(PlotSpec(series, title="price", key=(detail.version,)))
        if other:
            self.oscillator.show(oscillator_spec(other, detail.bot.params, detail.version))
        self.arb.display = self.legs.display = detail.arbitrage is not None
        if detail.arbitrage is not None:
            self.arb.update(arb_summary(detail.arbitrage))
            self.legs.show_legs(detail.arbitrage)
        self.signals.show_signals(detail.signals)
        self.signals.border_title = f"signals · {len(detail.signals)}"
        self.events.show_events(detail.events)
        self.events.border_title = f"changes · {len(detail.events)}"

    def action_close_detail(self) -> None:
        self.dismiss()

    def action_edit_params(self) -> None:
        self.post_message(ParamsFormRequested(self.bot_id))


def split_series(detail: BotDetailView) -> tuple[list[Series], list[Series]]:
    """(series on the price scale, the others): a series whose typical value lies within the
    candles' range is a price (an average, a band); the close itself is left out (it is drawn
    anyway)."""
    lows = [c.low for c in detail.candles if math.isfinite(c.low)]
    highs = [c.high for c in detail.candles if math.isfinite(c.high)]
    price: list[Series] = []
    other: list[Series] = []
    for name, values in detail.indicators.items():
        if name == "close":
            continue
        finite = [v for v in values if math.isfinite(v)]
        typical = statistics.median(finite) if finite else math.nan
        on_price = bool(lows) and min(lows) * 0.8 <= typical <= max(highs) * 1.2
        group = price if on_price else other
        group.append(Series(name, values, len(group), bars=name == "hist"))
    return price, other


def oscillator_spec(series: list[Series], params: dict[str, Any], version: int) -> PlotSpec:
    """RSI on 0..100 with its oversold/overbought levels; anything with bars around zero."""
    names = {s.name for s in series}
    if names == {"rsi"}:
        low = float(params.get("oversold", RSI_LEVELS[0]))
        high = float(params.get("overbought", RSI_LEVELS[1]))
        return PlotSpec(
            tuple(series), levels=(low, high), fixed=(0.0, 100.0), title="RSI", key=(version,)
        )
    return PlotSpec(tuple(series), levels=(0.0,), title="indicators", key=(version,))


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items())
