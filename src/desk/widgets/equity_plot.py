"""A backtest's equity curve with its drawdown underneath, on one time axis.

Both are braille line plots (:class:`~desk.widgets.series_plot.SeriesPlot`); the whole run is
fitted to the width (a plot of the tail would hide the start), each column showing the last
equity of its stretch of bars and the deepest drawdown in it, so no hole is smoothed away.
The drawdown is filled down from zero in the theme's loss colour.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from desk.widgets.formatting import NS
from desk.widgets.series_plot import AXIS_WIDTH, PlotSpec, Series, SeriesPlot


class DrawdownPlot(SeriesPlot):
    """A SeriesPlot whose first series takes the loss colour ($pnl-down)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {*SeriesPlot.COMPONENT_CLASSES, "drawdown-plot--fill"}
    DEFAULT_CSS = """
    DrawdownPlot > .drawdown-plot--fill { color: $pnl-down; }
    """

    def _style(self, name: str) -> Style:
        if name == "s0":
            return self.get_component_rich_style("drawdown-plot--fill", partial=True)
        return super()._style(name)


class EquityPlot(Vertical):
    """Equity (top, two thirds) and drawdown in % (bottom), with the run's first and last
    time under them."""

    DEFAULT_CSS = """
    EquityPlot { height: 1fr; }
    EquityPlot > #equity-line { height: 2fr; min-height: 3; }
    EquityPlot > #equity-drawdown { height: 1fr; min-height: 3; }
    EquityPlot > #equity-times { height: 1; color: $muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._curves: tuple[Sequence[int], Sequence[float], Sequence[float], object] | None = None

    def compose(self) -> ComposeResult:
        yield SeriesPlot(id="equity-line")
        yield DrawdownPlot(id="equity-drawdown")
        yield Label("", id="equity-times")

    def show(
        self,
        end: Sequence[int],
        equity: Sequence[float],
        drawdown: Sequence[float],
        key: object,
    ) -> None:
        """Plot one run (``drawdown`` as fractions <= 0); redraws only for a new ``key``."""
        self._curves = (end, equity, drawdown, key)
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if self._curves is None or not self.is_mounted:
            return
        end, equity, drawdown, key = self._curves
        line = self.query_one("#equity-line", SeriesPlot)
        under = self.query_one("#equity-drawdown", DrawdownPlot)
        points = max(2, 2 * (line.content_size.width - AXIS_WIDTH))
        eq = fit(equity, points, _last)
        dd = [100.0 * v for v in fit(drawdown, points, min)]  # the deepest of each column
        size = (points, line.content_size.height, under.content_size.height)
        line.show(PlotSpec((Series("equity", eq, 0),), title="equity", key=(key, size)))
        under.show(
            PlotSpec(
                (Series("drawdown %", dd, 0, bars=True),),
                levels=(0.0,),
                title="drawdown",
                key=(key, size),
            )
        )
        times = self.query_one("#equity-times", Label)
        if end:
            first, last = utc_minute(end[0]), utc_minute(end[-1])
            gap = max(1, line.content_size.width - AXIS_WIDTH - len(first) - len(last))
            times.update(f"{first}{' ' * gap}{last}")


def fit(values: Sequence[float], points: int, pick: Callable[[list[float]], float]) -> list[float]:
    """``values`` across exactly ``points`` plot points: longer series in buckets, each read
    by ``pick`` (``min``: its worst; NaN skipped), shorter ones stretched (each value repeated
    over its share of the width), so a run always spans the whole plot.
    """
    n = len(values)
    if n == 0:
        return []
    if n <= points:
        return [values[k * n // points] for k in range(points)]
    out = []
    for k in range(points):
        lo, hi = k * n // points, (k + 1) * n // points
        chunk = [v for v in values[lo:hi] if not math.isnan(v)]
        out.append(pick(chunk) if chunk else math.nan)
    return out


def utc_minute(ts_ns: int) -> str:
    """YYYY-MM-DD HH:MM in UTC."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(int(ts_ns) // NS))


def _last(chunk: list[float]) -> float:
    return chunk[-1]
