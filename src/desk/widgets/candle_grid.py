"""Candles and volume laid out on a character grid (no Textual), so the chart is testable as text.

Each cell row covers two price steps: the upper and lower half of a cell are each "body",
"wick" or empty, and the pair picks a glyph (█ ▀ ▄ │ ╵ ╷), which doubles the vertical
resolution of a plain block chart. Volume bars use eighth blocks (▁ … █). The grid is returned
as runs of (text, style name) per line; the widget maps style names to theme colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from operator import itemgetter

from desk.bridge.views import CandleView
from desk.widgets.formatting import fmt_price, fmt_size, utc_label

EIGHTHS = " ▁▂▃▄▅▆▇█"
# (upper half, lower half) -> glyph; B body, W wick, " " nothing.
GLYPHS = {
    ("B", "B"): "█",
    ("B", "W"): "▀",
    ("W", "B"): "▄",
    ("B", " "): "▀",
    (" ", "B"): "▄",
    ("W", "W"): "│",
    ("W", " "): "╵",
    (" ", "W"): "╷",
    (" ", " "): " ",
}
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TIME_LABEL_SPACING = 12

Run = tuple[str, str]
TrendGroups = tuple[tuple[str, int], ...]
_text_of = itemgetter(0)


@dataclass(frozen=True, slots=True)
class Layout:
    width: int
    axis: int
    step: int
    price_rows: int
    volume_rows: int
    time_rows: int


def timeframe_ns(timeframe: str) -> int:
    """'15m' -> ns in one bar; unknown units count as seconds."""
    return int(timeframe[:-1] or 1) * UNIT_SECONDS.get(timeframe[-1], 1) * 1_000_000_000


def plan(candles: list[CandleView], width: int, height: int, decimals: int) -> Layout:
    """Split the widget into price, volume and time areas and an axis that fits the labels."""
    top = max((c.high for c in candles), default=0.0)
    axis = len(fmt_price(top, decimals)) + 3
    step = 2 if width >= 100 else 1
    time_rows = 1 if height >= 10 else 0
    volume_rows = max(1, height // 5) if height >= 8 else 0
    price_rows = max(1, height - time_rows - volume_rows)
    return Layout(max(0, width - axis), axis, step, price_rows, volume_rows, time_rows)


def visible(candles: list[CandleView], layout: Layout) -> list[CandleView]:
    count = max(0, (layout.width + layout.step - 1) // layout.step)
    return candles[-count:] if count else []


def render_grid(
    candles: list[CandleView], width: int, height: int, timeframe: str, decimals: int
) -> list[list[Run]]:
    """``height`` lines of runs, each exactly ``width`` cells wide."""
    if width <= 0 or height <= 0:
        return []
    layout = plan(candles, width, height, decimals)
    shown = visible(candles, layout)
    if not shown:
        return [[(" " * width, "")] for _ in range(height)]
    groups = _trend_groups(shown)
    lines = _price_lines(shown, layout, decimals, groups)
    lines += _volume_lines(shown, layout, groups)
    lines += _time_lines(shown, layout, timeframe)
    return [fit_runs(line, width) for line in lines[:height]]


def _price_lines(
    shown: list[CandleView], layout: Layout, decimals: int, groups: TrendGroups
) -> list[list[Run]]:
    lo = min(c.low for c in shown)
    hi = max(c.high for c in shown)
    span = hi - lo or max(abs(hi) * 1e-4, 1e-9)
    rows = layout.price_rows
    columns = [_candle_column(c.open, c.high, c.low, c.close, hi, span, rows) for c in shown]
    plot = _Plot(columns, groups, layout)
    last = shown[-1]
    last_row = _subrow(last.close, hi, span, rows * 2) // 2
    labels = {0: hi, rows - 1: lo, rows // 2: hi - span / 2}
    lines = []
    for r in range(rows):
        runs = plot.row(r, "")
        if r == last_row:
            label = f"◂{fmt_price(last.close, decimals)}"
            runs.append((f" {label}".ljust(layout.axis), f"last-{_trend(last)}"))
        elif r in labels:
            runs.append((f"  {fmt_price(labels[r], decimals)}".ljust(layout.axis), "axis"))
        else:
            runs.append((" " * layout.axis, "axis"))
        lines.append(runs)
    return lines


def _subrow(price: float, hi: float, span: float, subrows: int) -> int:
    return min(subrows - 1, max(0, round((hi - price) / span * (subrows - 1))))


COLUMNS_CACHED = 1024
"""Candle columns remembered: a chart shows ~100 candles and redraws all of them only when its
price range moves, so a few generations of its columns are hits; a bigger cache only keeps dead
keys (the forming candle's every close, old ranges) for longer. At 8192 it kept filling for
about an hour of a full-speed feed (bench/heap_growth.py), a share of the desk's slow RSS creep."""


@lru_cache(maxsize=COLUMNS_CACHED)
def _candle_column(
    open_: float, high: float, low: float, close: float, top: float, span: float, rows: int
) -> tuple[str, ...]:
    """Glyphs, top to bottom, of one candle; cached, so a refresh redraws only changed bars."""
    subrows = rows * 2
    wick_top, wick_bottom = _subrow(high, top, span, subrows), _subrow(low, top, span, subrows)
    body_top = _subrow(max(open_, close), top, span, subrows)
    body_bottom = _subrow(min(open_, close), top, span, subrows)

    def kind(s: int) -> str:
        if body_top <= s <= body_bottom:
            return "B"
        return "W" if wick_top <= s <= wick_bottom else " "

    return tuple(GLYPHS[(kind(2 * r), kind(2 * r + 1))] for r in range(rows))


@lru_cache(maxsize=COLUMNS_CACHED)
def _volume_column(eighths: int, rows: int) -> tuple[str, ...]:
    return tuple(EIGHTHS[min(8, max(0, eighths - (rows - 1 - r) * 8))] for r in range(rows))


class _Plot:
    """Rows of the plot area from per-candle glyph columns, grouped into runs by trend.

    Each row's text is joined once from the transposed columns (one ``str.join`` per row, not
    one per trend group) and cut into runs by ``_row_runs``, which is cached: while the forming
    candle moves, only the rows its column crosses have new text, so the others are lookups.
    Candles are right-aligned: the newest always sits beside the price axis.
    """

    def __init__(self, columns: list[tuple[str, ...]], groups: TrendGroups, layout: Layout) -> None:
        self.width, self.step = layout.width, layout.step
        gap = " " * (layout.step - 1)
        self.texts = [gap.join(cells) + gap for cells in zip(*columns, strict=True)]
        self.groups = groups

    def row(self, r: int, prefix: str) -> list[Run]:
        return list(_row_runs(self.texts[r], self.groups, self.step, self.width, prefix))


@lru_cache(maxsize=512)
def _row_runs(
    text: str, groups: tuple[tuple[str, int], ...], step: int, width: int, prefix: str
) -> tuple[Run, ...]:
    """One plot row as runs: neighbouring candles of one trend share a run, and blank stretches
    join the run before them (blanks look alike in any style)."""
    runs: list[Run] = []
    at = 0
    for trend, count in groups:
        end = at + count * step
        part = text[at:end]
        at = end
        style = prefix + trend
        if runs and (runs[-1][1] == style or part.isspace()):
            runs[-1] = (runs[-1][0] + part, runs[-1][1])
        else:
            runs.append((part, style))
    if at > width:
        return tuple(fit_runs(runs, width))
    if at < width:  # few candles yet: keep the newest beside the price axis
        runs.insert(0, (" " * (width - at), ""))
    return tuple(runs)


def _volume_lines(shown: list[CandleView], layout: Layout, groups: TrendGroups) -> list[list[Run]]:
    rows = layout.volume_rows
    if rows <= 0:
        return []
    top = max(c.volume for c in shown) or 1.0
    columns = [
        _volume_column(round(c.volume / top * rows * 8) if math.isfinite(c.volume) else 0, rows)
        for c in shown
    ]
    plot = _Plot(columns, groups, layout)
    lines = []
    for r in range(rows):
        runs = plot.row(r, "vol-")
        label = f"  {fmt_size(top)}" if r == 0 else ""
        runs.append((label.ljust(layout.axis)[: layout.axis], "axis"))
        lines.append(runs)
    return lines


def _time_lines(shown: list[CandleView], layout: Layout, timeframe: str) -> list[list[Run]]:
    if layout.time_rows <= 0:
        return []
    bar_ns = timeframe_ns(timeframe)
    chars = [" "] * (len(shown) * layout.step)
    position = len(chars) - 1
    label_width = len(utc_label(shown[-1].end, timeframe))
    index = min(len(shown) - 1, (len(chars) - label_width) // layout.step)
    while index >= 0:  # label from the newest bar leftwards, so the latest time always shows
        label = utc_label(shown[index].end - bar_ns, timeframe)
        start = index * layout.step
        if start + len(label) <= len(chars) and start + len(label) <= position + 1:
            chars[start : start + len(label)] = label
            position = start - 2
        index -= max(1, TIME_LABEL_SPACING // layout.step)
    text = "".join(chars)[: layout.width].rjust(layout.width)
    return [[(text, "time"), (" " * layout.axis, "axis")]]


def _trend(candle: CandleView) -> str:
    return "up" if candle.close >= candle.open else "down"


def _trend_groups(shown: list[CandleView]) -> TrendGroups:
    """Runs of neighbouring candles of one trend: (trend, how many), oldest first."""
    trends = ["up" if c.close >= c.open else "down" for c in shown]
    return tuple((trend, len(list(group))) for trend, group in groupby(trends))


def fit_runs(line: list[Run], width: int) -> list[Run]:
    """Crop or pad a line to exactly ``width`` cells."""
    used = sum(map(len, map(_text_of, line)))  # every line of every redraw passes here
    if used == width:
        return line
    out: list[Run] = []
    used = 0
    for text, style in line:
        if used >= width:
            break
        text = text[: width - used]
        out.append((text, style))
        used += len(text)
    if used < width:
        out.append((" " * (width - used), ""))
    return out
