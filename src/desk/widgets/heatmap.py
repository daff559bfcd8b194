"""A sweep's chosen metric over two parameters, as a grid of coloured cells.

Rows are the first grid parameter's values, columns the second's. Each cell shows the metric
and is shaded by its rank, worst to best, in five steps (a loss-coloured cell, loss-coloured
text, plain, profit-coloured text, a profit-coloured cell), the direction following the
metric (a lower drawdown is better). The best cell is bold and underlined; cells the
constraints left out (``fast<slow``) are dots. Colours are theme variables.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from desk.backtest.formatting import LABELS, fmt_metric
from desk.backtest.names import sort_key

SHADES = 5
BEST = Style(bold=True, underline=True)
MIN_CELL = 7


class Heatmap(Static):
    """Call :meth:`show` with a ``HeatmapData``-shaped object (metric, names, axes, values)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"heatmap--c{i}" for i in range(SHADES)),
        "heatmap--axis",
        "heatmap--empty",
    }
    DEFAULT_CSS = """
    Heatmap { height: auto; }
    Heatmap > .heatmap--c0 { background: $pnl-down; color: $background; }
    Heatmap > .heatmap--c1 { background: $panel; color: $pnl-down; }
    Heatmap > .heatmap--c2 { background: $panel; color: $foreground; }
    Heatmap > .heatmap--c3 { background: $panel; color: $pnl-up; }
    Heatmap > .heatmap--c4 { background: $pnl-up; color: $background; }
    Heatmap > .heatmap--axis { color: $muted; }
    Heatmap > .heatmap--empty { color: $muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.data: Any = None

    def show(self, data: Any) -> None:
        self.data = data
        self.update(self.render_map(data) if data is not None else "")

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.data is not None and self.is_mounted:
            self.update(self.render_map(self.data))

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"heatmap--{name}", partial=True)

    def render_map(self, data: Any) -> Text:
        values: list[list[float]] = data.values
        texts = [[fmt_metric(data.metric, v) for v in row] for row in values]
        x_labels = [str(x) for x in data.x]
        y_labels = [str(y) for y in data.y]
        cell = max(MIN_CELL, *(len(t) + 1 for row in texts for t in row), *map(len, x_labels))
        label = max(len(data.y_name), *map(len, y_labels)) + 1
        shade = shades(data.metric, values)
        axis = self._style("axis")
        out = Text(no_wrap=True, overflow="crop")
        title = LABELS.get(data.metric, data.metric)
        out.append(f"{title} by {data.y_name} (rows) x {data.x_name} (columns)\n", style=axis)
        out.append(f"{data.y_name:<{label}}", style=axis)
        for x in x_labels:
            out.append(f"{x:>{cell}}", style=axis)
        for i, y in enumerate(y_labels):
            out.append("\n")
            out.append(f"{y:<{label}}", style=axis)
            for j, text in enumerate(texts[i]):
                value = values[i][j]
                if math.isnan(value):
                    out.append(f"{'·':>{cell}}", style=self._style("empty"))
                    continue
                style = self._style(f"c{shade[i][j]}")
                if data.best is not None and tuple(data.best) == (i, j):
                    style = style + BEST
                out.append(f"{text:>{cell - 1}} ", style=style)
        return out


def shades(metric: str, values: list[list[float]]) -> list[list[int]]:
    """0 (worst) .. SHADES-1 (best) per cell, by rank among the cells run (NaN: 0)."""
    ranked = sorted(
        (sort_key(metric, v), i, j)
        for i, row in enumerate(values)
        for j, v in enumerate(row)
        if not math.isnan(v)
    )
    out = [[0] * len(row) for row in values]
    count = len(ranked)
    for place, (_, i, j) in enumerate(ranked):  # best first
        out[i][j] = SHADES - 1 - (place * SHADES // count if count else 0)
    return out
