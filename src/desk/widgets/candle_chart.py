"""Candlestick chart with volume for one symbol and timeframe, sized to the widget.

The grid (``candle_grid``) is rebuilt only when the candles' ``version`` or the widget's size
changes; ``render_line`` then hands out ready ``Strip``s. Colours are component classes whose
values are theme variables ($candle-up, $candle-down …), so a theme switch restyles the chart.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from desk.bridge.views import CandlesView
from desk.widgets.candle_grid import fit_runs, render_grid
from desk.widgets.consolidated_rows import venue_tag
from desk.widgets.formatting import changed_runs, fmt_pct, fmt_price, fmt_size, price_decimals
from desk.widgets.styled import StyledLines

SUMMARY_MIN_HEIGHT = 8
STYLE_NAMES = {
    "up": "candle-chart--up",
    "down": "candle-chart--down",
    "vol-up": "candle-chart--volume-up",
    "vol-down": "candle-chart--volume-down",
    "last-up": "candle-chart--last-up",
    "last-down": "candle-chart--last-down",
    "axis": "candle-chart--axis",
    "time": "candle-chart--axis",
}


class CandleChart(StyledLines, Widget):
    """OHLC candles (half-block resolution), volume bars, a price axis and a time axis."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(STYLE_NAMES.values())

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.candles: CandlesView | None = None
        self.draws = 0
        self._strips: list[Strip] = []
        self._grid: list[object] = []
        self._drawn_key: tuple[object, ...] = ()
        self._decimals: dict[str, int] = {}
        self._style_cache: dict[str, Style] = {}
        self._name_venue = False

    def wanted_limit(self) -> int:
        """Candles to fetch: one per column is the most that can be shown."""
        return max(20, self.size.width)

    def show(self, candles: CandlesView, *, name_venue: bool = False) -> bool:
        """Redraw for a new version, symbol, timeframe, venue or size; returns whether it
        redrew. ``name_venue``: the title says whose candles these are (the view's venue)."""
        key = (candles.version, candles.symbol, candles.timeframe, candles.venue, self.size)
        if key == self._drawn_key:
            return False
        self._drawn_key = key
        self.candles = candles
        self._name_venue = name_venue
        self._rebuild()
        title = chart_title(candles, self.size.width if name_venue else 0)
        if self.border_title != title:  # a border change repaints the whole widget
            self.border_title = title
        return True

    def _rebuild(self) -> None:
        candles = self.candles
        width, height = self.size
        if candles is None or not candles.candles:
            self._strips = []
            self.refresh()
            return
        closes = [c.close for c in candles.candles[-20:]]
        known = self._decimals.get(candles.symbol, 0)
        decimals = self._decimals[candles.symbol] = price_decimals(closes, known)
        decimals = min(decimals, axis_decimals(closes[-1]))
        summary = height >= SUMMARY_MIN_HEIGHT
        grid: list[object] = list(
            render_grid(candles.candles, width, height - summary, candles.timeframe, decimals)
        )
        if summary:
            grid.insert(0, self._summary_runs(width, decimals))
        old_grid, old_strips = self._grid, self._strips
        same_shape = len(old_grid) == len(grid)
        self._grid = grid
        self._strips = [  # an unchanged line keeps its Strip and is not repainted
            old_strips[index]
            if same_shape and old_grid[index] == runs
            else self._strip(runs, width)  # type: ignore[arg-type]
            for index, runs in enumerate(grid)
        ]
        self.draws += 1
        if len(old_grid) != len(grid):
            self.refresh()
            return
        regions = [Region(0, start, width, count) for start, count in changed_runs(old_grid, grid)]
        if regions:  # in one refresh (each call has a fixed cost); none would mean all
            self.refresh(*regions)

    def _strip(self, runs: list[tuple[str, str]], width: int) -> Strip:
        styles = self._styles()
        return Strip([Segment(text, styles[name]) for text, name in runs], width)

    def _styles(self) -> dict[str, Style]:
        """Style name -> full style, resolved once per theme (cleared on a style update)."""
        if not self._style_cache:
            base = self.style_of()
            self._style_cache = {name: self.style_of(css) for name, css in STYLE_NAMES.items()}
            self._style_cache[""] = base
        return self._style_cache

    def _summary_runs(self, width: int, decimals: int) -> list[tuple[str, str]]:
        """The forming bar in words on the top line: close and change, then high, low and
        volume as far as the width allows. It changes on every trade, so it is a line of its
        own (a border title would repaint the whole chart)."""
        assert self.candles is not None
        bar = self.candles.candles[-1]
        change = (bar.close / bar.open - 1) * 100 if bar.open else float("nan")
        runs = [
            (f" C {fmt_price(bar.close, decimals)} ", "axis"),
            (fmt_pct(change), "up" if not change < 0 else "down"),
        ]
        used = sum(len(text) for text, _ in runs)
        for extra in (
            f"  H {fmt_price(bar.high, decimals)}",
            f"  L {fmt_price(bar.low, decimals)}",
            f"  V {fmt_size(bar.volume)}",
        ):
            if used + len(extra) > width:
                break
            runs.append((extra, "axis"))
            used += len(extra)
        return fit_runs(runs, width)

    def on_resize(self) -> None:
        if self.candles is not None:
            self.show(self.candles, name_venue=self._name_venue)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = {}
        self._grid = []  # same runs, new colours: every line must be rebuilt
        if self.candles is not None and self.is_mounted:
            self._rebuild()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        if y == 0 and self.candles is not None and not self.candles.candles:
            text = " waiting for candles…"
            return Strip([Segment(text, self.style_of())]).crop_extend(
                0, self.size.width, self.style_of()
            )
        return Strip.blank(self.size.width, self.style_of())


def chart_title(candles: CandlesView, venue_room: int = 0) -> str:
    """Symbol and timeframe; with ``venue_room`` (the chart's width) also the venue, by name
    where the border has room for it, else by its ladder tag (OKX, BIN, CB)."""
    title = f"{candles.symbol} · {candles.timeframe}"
    if not venue_room:
        return title
    named = f"{title} · {candles.venue}"
    return named if len(named) <= venue_room - 4 else f"{title} · {venue_tag(candles.venue)}"


def axis_decimals(price: float) -> int:
    """Axis labels carry about seven significant digits: enough to read, narrow enough to fit."""
    digits = len(str(int(abs(price)))) if price == price else 1
    return max(0, 7 - digits)
