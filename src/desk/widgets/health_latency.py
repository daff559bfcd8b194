"""The health mode's latency table: exchange-to-receive per venue and the bots' tick-to-order.

One row per distribution: p50, p90, p99 and max, how many samples, and a bar histogram over a
log axis that every row shares (:mod:`desk.widgets.latency_bars`). The figures are over the last
minute once the screen has a minute of history, since the engine started before that (the
title says which). The bar takes whatever width the table has, so a wide terminal shows the
distribution in more detail; the part of it at and beyond the p99 is drawn in the warning
colour, so a long tail is seen at a glance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text

from desk.bridge.views import HealthView
from desk.widgets.health_history import HealthHistory
from desk.widgets.health_tables import HealthTable, _short
from desk.widgets.keyed_table import Column
from desk.widgets.latency_bars import PATH_LABELS as PATHS
from desk.widgets.latency_bars import (
    LatencyRow,
    axis_label,
    axis_range,
    bar,
    column_of,
    fmt_latency_ns,
    latency_row,
)

FIXED_COLUMNS = (
    Column("name", "source", 8),
    Column("path", "path", 10),
    Column("p50", "p50", 5, right=True),
    Column("p90", "p90", 5, right=True),
    Column("p99", "p99", 5, right=True),
    Column("max", "max", 5, right=True),
    Column("n", "n", 5, right=True),
)
MIN_BAR = 10
CELL_PADDING = 2  # DataTable pads every cell by one on each side
SPARE = 2  # the vertical scrollbar's column, and one to spare


class LatencyTable(HealthTable):
    """Latency distributions; ``show_latencies`` once per new health sample."""

    COLUMNS = (*FIXED_COLUMNS, Column("dist", "", MIN_BAR))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.latency_rows: list[LatencyRow] = []
        self.window_s = 0

    def show_latencies(self, health: HealthView, history: HealthHistory) -> None:
        rows, spans = [], []
        for view in health.latencies:
            window, span = history.latency_window(view)
            rows.append(latency_row(view, window))
            spans.append(span)
        self.latency_rows = rows
        self.window_s = min(spans, default=0)
        self._draw()

    def on_resize(self) -> None:
        if self.is_mounted:
            self._draw()

    def bar_width(self, buckets: int) -> int:
        """What the table has room for, at most one column per bucket of the axis."""
        fixed = sum(c.width + CELL_PADDING for c in FIXED_COLUMNS) + CELL_PADDING + SPARE
        return max(MIN_BAR, min(buckets, self.size.width - fixed))

    def _draw(self) -> None:
        first, last = axis_range(self.latency_rows)
        width = self.bar_width(last - first + 1)
        dist = Column("dist", axis_label(first, last, width), width)
        if dist != self.COLUMNS[-1]:
            self.COLUMNS = (*FIXED_COLUMNS, dist)
            self.clear(columns=True)
            self._cells.clear()
            self._add_columns()
        if not self.latency_rows:
            self.show({"": (self.mark("(none)", "muted"), *([""] * len(FIXED_COLUMNS)))})
            return
        self.show({row.key: self._cells_of(row, first, last, width) for row in self.latency_rows})

    def _cells_of(self, row: LatencyRow, first: int, last: int, width: int) -> Sequence[str | Text]:
        path = PATHS.get(row.path, row.path)
        if not row.count:
            empty = self.mark("no samples yet", "muted")
            return (row.venue, path, "—", "—", "—", "—", "0", empty)
        return (
            row.venue,
            path,
            fmt_latency_ns(row.p50),
            fmt_latency_ns(row.p90),
            fmt_latency_ns(row.p99),
            fmt_latency_ns(row.max),
            _short(row.count),
            self._bar(row, first, last, width),
        )

    def _bar(self, row: LatencyRow, first: int, last: int, width: int) -> Text:
        """The histogram in the muted colour, from the p99's column on in the warning one
        (empty columns unstyled, so each run of bars is a run of its own in an SVG export)."""
        text = bar(row.counts, first, last, width)
        tail = column_of(row.p99, first, last, width)
        tail = tail if tail >= 0 else width
        cells = Text()
        for part, level in ((text[:tail], "muted"), (text[tail:], "warning")):
            for run in re.findall(r" +|[^ ]+", part):
                cells.append_text(self.mark(run, "" if run.isspace() else level))
        return cells
