"""Bar charts of health rates over time, shown where the health mode has room (wide screens).

One bar per second of history, newest on the right, several rows of eighth blocks high; the
title carries the latest and the peak value, so the chart reads without an axis.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from textual.app import ComposeResult
from textual.containers import Grid
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from desk.widgets.formatting import bar_rows, fmt_ms, fmt_rate
from desk.widgets.health_history import HealthHistory
from desk.widgets.styled import StyledLines

SERIES_TITLES = {"loop_lag": "loop lag p99 ms", "cpu": "cpu %"}


class RateChart(StyledLines, Widget):
    """One series as bars; redraws only when the series grew."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"rate-chart--bars"}

    def __init__(self, name: str) -> None:
        super().__init__(classes="rate-chart")
        self.series_name = name
        self.values: list[float] = []
        self._lines: list[str] = []
        self._lines_size = Size(0, 0)

    def show(self, values: list[float]) -> None:
        if values == self.values:
            return
        self.values = values
        name = self.series_name
        self.border_title = (
            f"{title_of(name)}  now {_fmt(name, values[-1])}  peak {_fmt(name, max(values))}"
        )
        self._lines = []
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self.values and (not self._lines or self._lines_size != self.size):
            self._lines = bar_rows(self.values, width, height)
            self._lines_size = self.size
        if y >= len(self._lines):
            return Strip.blank(width, self.style_of())
        style = self.style_of("rate-chart--bars")
        return Strip([Segment(self._lines[y], style)], width)


class RateCharts(Grid):
    """A chart per recorded series; charts appear as their series first show up."""

    def compose(self) -> ComposeResult:
        yield from ()

    def show(self, history: HealthHistory) -> None:
        charts = {chart.series_name: chart for chart in self.query(RateChart)}
        for name in history.series:
            chart = charts.get(name)
            if chart is None:
                chart = RateChart(name)
                self.mount(chart)
            chart.show(history.values(name))


def title_of(name: str) -> str:
    if name.startswith("msgs:"):
        return f"msg/s {name.removeprefix('msgs:')}"
    return SERIES_TITLES.get(name, name)


def _fmt(name: str, value: float) -> str:
    return fmt_rate(value) if name.startswith("msgs:") else fmt_ms(value)
