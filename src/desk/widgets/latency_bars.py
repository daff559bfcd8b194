"""Latency distributions as text: percentiles, a compact bar histogram and its axis (no Textual).

The counts are over the fixed log-spaced buckets of :mod:`desk.core.histogram`, so every row
drawn with the same ``(first, last)`` bucket range shares one axis: a bar further right is a
slower latency whatever the row. A column of the bar adds up the buckets that fall in it and is
drawn in eight heights (``▁`` … ``█``) relative to the fullest column of that row; a column
with any sample at all is at least ``▁``, so a rare slow tail stays visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from desk.bridge.views import LatencyView
from desk.core.histogram import (
    BUCKETS,
    BUCKETS_PER_DECADE,
    EDGES_NS,
    OVERFLOW,
    bucket_of,
    percentile,
)

BARS = "▁▂▃▄▅▆▇█"
MIN_DECADES = 2
PERCENTILES = (0.5, 0.9, 0.99)
PATH_LABELS = {"exchange": "exch→recv", "tick_to_order": "tick→order"}


def fmt_latency_ns(ns: float) -> str:
    """A latency in the unit a person reads it in: 850ns, 42µs, 1.2ms, 35ms, 1.25s, '—'."""
    if not math.isfinite(ns):
        return "—"
    if ns < 0:
        return "<0"
    for unit, scale in (("ns", 1.0), ("µs", 1e3), ("ms", 1e6)):
        value = ns / scale
        if value < 999.5:
            return f"{value:.1f}{unit}" if value < 9.95 and unit != "ns" else f"{value:.0f}{unit}"
    return f"{ns / 1e9:.2f}s"


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """One distribution ready to draw: the counts of the window shown and its percentiles."""

    key: str
    venue: str
    path: str
    counts: tuple[int, ...]
    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @property
    def label(self) -> str:
        return f"{self.venue} {PATH_LABELS.get(self.path, self.path)}"


def latency_key(view: LatencyView) -> str:
    return f"{view.path}:{view.name}"


def latency_row(view: LatencyView, window: Sequence[int] | None = None) -> LatencyRow:
    """The row of ``view``: over ``window`` (counts of a recent span) or, without one, since
    the start. A window's percentiles are clamped to the all-time minimum and maximum, which
    bound every value in it; its max is the top of its highest bucket (so clamped)."""
    counts = tuple(window) if window is not None else tuple(view.counts)
    if len(counts) != BUCKETS:  # a view from another desk with other buckets: show nothing
        counts = (0,) * BUCKETS
    total = sum(counts)
    low, high = (float(view.min_ns), float(view.max_ns)) if view.count else (None, None)
    p50, p90, p99 = (percentile(counts, q, low, high) if total else math.nan for q in PERCENTILES)
    top = percentile(counts, 1.0, low, high) if total else math.nan
    return LatencyRow(latency_key(view), view.name, view.path, counts, total, p50, p90, p99, top)


def axis_range(rows: Sequence[LatencyRow]) -> tuple[int, int]:
    """(first, last) bucket of a shared axis: every sample of every row, whole decades, at
    least ``MIN_DECADES`` of them (1 µs … 100 µs when there is nothing yet)."""
    used = [i for row in rows for i, count in enumerate(row.counts) if count]
    if not used:
        return 1, MIN_DECADES * BUCKETS_PER_DECADE
    first = max(1, min(used))
    last = min(OVERFLOW - 1, max(used))
    first = (first - 1) // BUCKETS_PER_DECADE * BUCKETS_PER_DECADE + 1
    last = -(-last // BUCKETS_PER_DECADE) * BUCKETS_PER_DECADE
    while last - first + 1 < MIN_DECADES * BUCKETS_PER_DECADE:
        if last + BUCKETS_PER_DECADE <= OVERFLOW - 1:
            last += BUCKETS_PER_DECADE
        else:
            first -= BUCKETS_PER_DECADE
    return first, last


def column_buckets(first: int, last: int, width: int) -> list[tuple[int, int]]:
    """For each of ``width`` columns, the buckets [start, stop) it adds up (none are skipped;
    the first and last columns also take everything below and above the range)."""
    span = last - first + 1
    cuts = [first + (span * c) // width for c in range(width + 1)]
    columns = [(cuts[c], max(cuts[c + 1], cuts[c] + 1)) for c in range(width)]
    columns[0] = (0, columns[0][1])
    columns[-1] = (columns[-1][0], BUCKETS)
    return columns


def bar(counts: Sequence[int], first: int, last: int, width: int) -> str:
    """The histogram of ``counts`` over buckets ``first``..``last`` in ``width`` characters."""
    if width <= 0:
        return ""
    sums = [sum(counts[start:stop]) for start, stop in column_buckets(first, last, width)]
    peak = max(sums)
    if peak <= 0:
        return " " * width
    top = len(BARS) - 1
    return "".join(BARS[round(s * top / peak)] if s else " " for s in sums)


def column_of(value_ns: float, first: int, last: int, width: int) -> int:
    """The column of ``bar`` that holds ``value_ns`` (-1 for NaN)."""
    if not math.isfinite(value_ns):
        return -1
    bucket = bucket_of(int(value_ns))
    for column, (start, stop) in enumerate(column_buckets(first, last, width)):
        if start <= bucket < stop:
            return column
    return width - 1


def axis_label(first: int, last: int, width: int) -> str:
    """A header for ``bar``: the lower edge of each decade, at its column, where it fits."""
    if width <= 0:
        return ""
    chars = [" "] * width
    span = last - first + 1
    for bucket in range(first, last + 1, BUCKETS_PER_DECADE):
        column = (bucket - first) * width // span
        text = _edge_text(EDGES_NS[bucket - 1])
        taken = chars[max(0, column - 1) : column + len(text)]
        if column + len(text) > width or any(c != " " for c in taken):
            continue
        chars[column : column + len(text)] = text
    return "".join(chars).rstrip()


def _edge_text(ns: int) -> str:
    """A decade edge as a short label: 1µs, 10µs, 100µs, 1ms … 10s."""
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if ns >= scale:
            return f"{round(ns / scale)}{unit}"
    return f"{ns}ns"
