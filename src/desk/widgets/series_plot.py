"""A small braille line plot of a few aligned series: a strategy's indicators under its chart.

Each cell holds 2 x 4 braille dots, so a 60 x 6 panel plots 120 points at 24 levels. Lines are
joined column to column; a ``bars`` series (a MACD histogram) is filled from zero. NaN points
(warm-up) are not drawn. Horizontal ``levels`` (RSI 30/70, a zero line) are dotted behind the
series. Colours are component classes (theme variables). Drawing happens only when the caller's
``key`` (a view version) or the size changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

PALETTE = 4
AXIS_WIDTH = 10
BRAILLE = 0x2800
# braille dot bits by (column in cell, row in cell)
DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
LEVEL = -1


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]
    colour: int = 0
    bars: bool = False


@dataclass(frozen=True, slots=True)
class PlotSpec:
    """What one panel plots: its series, dotted levels and an optional fixed value range."""

    series: tuple[Series, ...]
    levels: tuple[float, ...] = ()
    fixed: tuple[float, float] | None = None
    title: str = ""
    key: tuple[object, ...] = field(default=())


class SeriesPlot(Static):
    """A legend line, then the plot with a value axis on the right."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"series-plot--s{i}" for i in range(PALETTE)),
        "series-plot--level",
        "series-plot--axis",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.spec: PlotSpec | None = None
        self.draws = 0
        self._drawn: tuple[object, ...] = ()

    def show(self, spec: PlotSpec) -> bool:
        """Redraw when the spec's key or the size changed; returns whether it redrew."""
        drawn = (spec.key, spec.title, self.size)
        if drawn == self._drawn:
            return False
        self._drawn = drawn
        self.spec = spec
        self.update(self._render_text(spec))
        self.draws += 1
        return True

    def on_resize(self) -> None:
        if self.spec is not None:
            self.show(self.spec)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.spec is not None and self.is_mounted:
            self._drawn = ()
            self.show(self.spec)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"series-plot--{name}", partial=True)

    def _render_text(self, spec: PlotSpec) -> Text:
        width, height = self.content_size
        text = Text(no_wrap=True, overflow="crop")
        legend = Text(f"{spec.title} " if spec.title else "", style=self._style("axis"))
        for series in spec.series:
            legend.append("━ ", style=self._style(f"s{series.colour % PALETTE}"))
            legend.append(f"{series.name}  ", style=self._style("axis"))
        text.append_text(legend)
        rows = height - 1
        cols = width - AXIS_WIDTH
        if rows < 1 or cols < 4:
            return text
        lines = plot_cells(spec, cols, rows)
        low, high = value_range(spec, cols * 2)
        labels = axis_labels(spec, low, high, rows)
        for row, cells in enumerate(lines):
            text.append("\n")
            for char, colour in cells:
                name = "level" if colour == LEVEL else f"s{colour % PALETTE}"
                text.append(char, style=self._style(name) if char != " " else None)
            text.append(f" {labels.get(row, ''):>{AXIS_WIDTH - 1}}", style=self._style("axis"))
        return text


def value_range(spec: PlotSpec, points: int) -> tuple[float, float]:
    """The plotted range: the fixed one, or the finite values shown (and the levels)."""
    if spec.fixed is not None:
        return spec.fixed
    values = [v for s in spec.series for v in s.values[-points:] if math.isfinite(v)]
    values.extend(spec.levels)
    if any(s.bars for s in spec.series):
        values.append(0.0)
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low < 1e-12:
        pad = abs(high) * 0.01 or 1.0
        return low - pad, high + pad
    return low, high


def plot_cells(spec: PlotSpec, cols: int, rows: int) -> list[list[tuple[str, int]]]:
    """``rows`` lines of ``cols`` (character, colour index) cells; LEVEL colours a level."""
    points = cols * 2
    dots_high = rows * 4
    low, high = value_range(spec, points)
    masks = [[0] * cols for _ in range(rows)]
    colours = [[LEVEL] * cols for _ in range(rows)]

    def dot_row(value: float) -> int:
        fraction = (value - low) / (high - low)
        return min(dots_high - 1, max(0, round((1 - fraction) * (dots_high - 1))))

    def put(x: int, y: int, colour: int) -> None:
        cell_x, cell_y = x // 2, y // 4
        masks[cell_y][cell_x] |= DOT_BITS[x % 2][y % 4]
        if colour != LEVEL:
            colours[cell_y][cell_x] = colour

    for level in spec.levels:
        if low <= level <= high:
            y = dot_row(level)
            for x in range(0, points, 4):
                put(x, y, LEVEL)
    for series in spec.series:
        tail = list(series.values[-points:])
        offset = points - len(tail)
        previous: int | None = None
        zero = dot_row(0.0) if low <= 0 <= high else (dots_high - 1 if low > 0 else 0)
        for i, value in enumerate(tail):
            if not math.isfinite(value):
                previous = None
                continue
            x, y = offset + i, dot_row(value)
            if series.bars:
                for yy in range(min(y, zero), max(y, zero) + 1):
                    put(x, yy, series.colour)
            else:
                start = y if previous is None else previous
                for yy in range(min(start, y), max(start, y) + 1):
                    put(x, yy, series.colour)
            previous = y
    return [
        [(chr(BRAILLE + masks[r][c]) if masks[r][c] else " ", colours[r][c]) for c in range(cols)]
        for r in range(rows)
    ]


def axis_labels(spec: PlotSpec, low: float, high: float, rows: int) -> dict[int, str]:
    """Row -> label: the top and bottom of the range, and each level on its own row."""
    labels = {0: fmt_axis(high)}
    if rows > 1:
        labels[rows - 1] = fmt_axis(low)
    for level in spec.levels:
        if low <= level <= high and high > low:
            row = round((1 - (level - low) / (high - low)) * (rows - 1))
            labels.setdefault(row, fmt_axis(level))
    return labels


def fmt_axis(value: float) -> str:
    """Six significant digits at most: an axis label, not a price to trade on."""
    if not math.isfinite(value):
        return "—"
    return f"{value:,.6g}"[: AXIS_WIDTH - 1]
