"""One line across the top: every subscribed symbol's last price, 24h change and bid/ask.

It shows one venue's tickers (the venue of the market mode's ladder), or every venue's when the
ladder shows all of them merged. In the full form each ticker names its venue (``OKX``); the
compact form leaves it out unless the strip shows more than one venue.

The selected symbol is highlighted. When the full form (symbol, last, change, bid/ask) does not
fit the width, each ticker drops to a compact form (base currency, last, change) rather than
pushing symbols off the edge.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from desk.bridge.venue_views import ALL_VENUES
from desk.bridge.views import TickersView, TickerView
from desk.widgets.consolidated_rows import venue_tag
from desk.widgets.formatting import fmt_pct, fmt_price, price_decimals
from desk.widgets.styled import StyledLines

SEPARATOR = " │ "
Run = tuple[str, str]


class TickerStrip(StyledLines, Widget):
    """Last, 24h change % and bid/ask of every symbol, selected one highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ticker-strip--selected",
        "ticker-strip--symbol",
        "ticker-strip--up",
        "ticker-strip--down",
        "ticker-strip--bid",
        "ticker-strip--ask",
        "ticker-strip--muted",
    }

    DEFAULT_CSS = "TickerStrip { height: 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.tickers: list[TickerView] | None = None
        self.selected = ""
        self.draws = 0
        self._strip: Strip | None = None
        self._version_key: tuple[object, ...] = ()
        self._drawn_key: tuple[object, ...] = ()
        self._decimals: dict[str, int] = {}
        self._venues = 1
        self._compact_for: tuple[object, ...] = ()  # (width, tickers shown) known too narrow

    def show(self, tickers: TickersView, selected: str, venue: str = ALL_VENUES) -> bool:
        """Draw ``venue``'s tickers (ALL_VENUES: every venue's) unless what they show is already
        on screen; another venue's ticker moving redraws nothing. Returns whether it redrew."""
        version_key = (tickers.version, selected, self.size.width, venue)
        if version_key == self._version_key:
            return False
        self._version_key = version_key
        shown = [t for t in tickers.tickers if venue == ALL_VENUES or t.venue == venue]
        drawn = tuple((t.symbol, t.venue, t.last, t.change_24h_pct, t.bid, t.ask) for t in shown)
        key = (drawn, selected, self.size.width)
        if key == self._drawn_key:
            return False
        self._drawn_key = key
        self.tickers, self.selected = shown, selected
        self._venues = len({t.venue for t in shown})
        self._strip = None
        self.draws += 1
        self.refresh()
        return True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None

    def on_resize(self) -> None:
        self._strip = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y != 0 or self.tickers is None:
            return Strip.blank(width, self.style_of())
        if self._strip is None:
            self._strip = self._build(width)
        return self._strip

    @property
    def text(self) -> str:
        """The plain text of the strip as last drawn (for tests and screen readers)."""
        return self._strip.text if self._strip is not None else ""

    def _build(self, width: int) -> Strip:
        assert self.tickers is not None
        tickers = self.tickers
        shape = (width, tuple((t.symbol, t.venue) for t in tickers))
        runs = [] if shape == self._compact_for else self._runs(tickers, compact=False)
        if not runs or sum(len(text) for text, _ in runs) > width:
            # too narrow for the full form: remembered, so each new price builds the line once
            # (it stays compact until the width or the tickers shown change)
            self._compact_for = shape
            runs = self._runs(tickers, compact=True)
        base = self.style_of()
        segments = [Segment(text, self.style_of(name)) for text, name in runs]
        return Strip(segments).crop_extend(0, width, base)

    def _runs(self, tickers: list[TickerView], compact: bool) -> list[Run]:
        runs: list[Run] = [(" ", "")]
        for i, ticker in enumerate(tickers):
            if i:
                runs.append((SEPARATOR, "ticker-strip--muted"))
            runs.extend(self._ticker_runs(ticker, compact))
        return runs

    def _ticker_runs(self, ticker: TickerView, compact: bool) -> list[Run]:
        known = self._decimals.get(ticker.symbol, 0)
        decimals = self._decimals[ticker.symbol] = price_decimals([ticker.last], known)
        selected = ticker.symbol == self.selected
        name = ticker.symbol.split("-")[0] if compact else ticker.symbol
        change = ticker.change_24h_pct
        trend = "ticker-strip--up" if not change < 0 else "ticker-strip--down"
        runs: list[Run] = [
            (name, "ticker-strip--selected" if selected else "ticker-strip--symbol"),
            (f" {fmt_price(ticker.last, decimals)} ", ""),
            (fmt_pct(change) if math.isfinite(change) else "—", trend),
        ]
        if not compact or self._venues > 1:  # compact: only where venues must be told apart
            runs.insert(1, (f" {venue_tag(ticker.venue)}", "ticker-strip--muted"))
        if not compact:
            runs += [
                (" ", ""),
                (fmt_price(ticker.bid, decimals), "ticker-strip--bid"),
                ("/", "ticker-strip--muted"),
                (fmt_price(ticker.ask, decimals), "ticker-strip--ask"),
            ]
        return runs
