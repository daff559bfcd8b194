"""Latency histograms cheap enough for the hot path: counts over fixed, log-spaced buckets.

A :class:`LatencyHistogram` is a list of counts, one per bucket, plus the count, sum, minimum
and maximum of what it recorded. Every histogram in desk has the same buckets
(:data:`EDGES_NS`, ten per decade from 1 µs to 100 s), so histograms merge by adding counts, a
view ships only the counts, and rows drawn one above the other share an axis. Recording one
value is a C-level bisection and an increment (:meth:`LatencyHistogram.record`); a batch goes
through numpy in one pass (:meth:`LatencyHistogram.record_many`).

Bucket ``i`` holds the values ``v`` with ``EDGES_NS[i - 1] < v <= EDGES_NS[i]`` (Prometheus'
``le`` convention): bucket 0 everything up to 1 µs, negative values too (an exchange clock a
little ahead of ours), and the last bucket, ``OVERFLOW``, everything above 100 s.

Percentiles are estimated from the counts alone (:func:`percentile`): the bucket holding the
rank is found, the estimate is interpolated inside it (geometrically: the buckets are
log-spaced) and clamped to the recorded minimum and maximum. The true percentile lies in the
same bucket, so an estimate is never off by more than one bucket's width, a factor of
``10 ** 0.1`` (about 26 %). No I/O here, and nothing else of desk.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Hashable, Sequence

import numpy as np

BUCKETS_PER_DECADE = 10
LOWEST_EDGE_NS = 1_000
DECADES = 8
EDGES_NS: tuple[int, ...] = tuple(
    round(LOWEST_EDGE_NS * 10 ** (i / BUCKETS_PER_DECADE))
    for i in range(DECADES * BUCKETS_PER_DECADE + 1)
)
"""The upper edges of the buckets (ns): 1 µs, 1.26 µs, 1.58 µs … 100 s."""
BUCKETS = len(EDGES_NS) + 1
OVERFLOW = BUCKETS - 1
BUCKET_RATIO = 10 ** (1 / BUCKETS_PER_DECADE)
"""How much wider a bucket's upper edge is than its lower one: the percentiles' worst error."""

_EDGES = np.array(EDGES_NS, dtype=np.int64)


def bucket_of(value_ns: int) -> int:
    """The bucket that holds ``value_ns``."""
    return bisect_left(EDGES_NS, value_ns)


def bucket_bounds(index: int) -> tuple[float, float]:
    """(lower, upper) edge of bucket ``index`` in ns; -inf below bucket 0, +inf above the last."""
    lower = EDGES_NS[index - 1] if index > 0 else -math.inf
    upper = EDGES_NS[index] if index < OVERFLOW else math.inf
    return float(lower), float(upper)


def percentile(
    counts: Sequence[int],
    q: float,
    lowest: float | None = None,
    highest: float | None = None,
) -> float:
    """The ``q``-quantile (0 <= q <= 1) of the values behind ``counts``, in ns; NaN if empty.

    ``lowest`` / ``highest`` are the recorded minimum and maximum when known: the estimate is
    clamped to them, and they stand in for the open ends of the first and last buckets.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within [0, 1], got {q}")
    total = sum(counts)
    if total <= 0:
        return math.nan
    rank = max(q * total, 1e-9)  # q = 0: the first value, not "before" it
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            estimate = _inside(index, (rank - seen) / count, lowest, highest)
            break
        seen += count
    else:  # rounding left the rank past the last count: the top of the last non-empty bucket
        estimate = _inside(_last_nonzero(counts), 1.0, lowest, highest)
    if lowest is not None:
        estimate = max(estimate, lowest)
    if highest is not None:
        estimate = min(estimate, highest)
    return estimate


def _inside(index: int, fraction: float, lowest: float | None, highest: float | None) -> float:
    """The point ``fraction`` of the way through bucket ``index``."""
    lower, upper = bucket_bounds(index)
    if index == 0:
        lower = min(lowest, 0.0) if lowest is not None else 0.0
    if index == OVERFLOW:
        upper = highest if highest is not None else lower
    if lower > 0 and upper > lower:
        return lower * (upper / lower) ** fraction
    return lower + (upper - lower) * fraction


def _last_nonzero(counts: Sequence[int]) -> int:
    return max(i for i, count in enumerate(counts) if count)


class LatencyHistogram:
    """Counts of latencies (ns) over :data:`EDGES_NS`, with their count, sum, min and max.

    Not thread-safe: one event loop records into it. ``min_ns`` / ``max_ns`` are 0 until the
    first value.
    """

    __slots__ = ("count", "counts", "max_ns", "min_ns", "sum_ns")

    def __init__(self) -> None:
        self.counts: list[int] = [0] * BUCKETS
        self.count = 0
        self.sum_ns = 0
        self.min_ns = 0
        self.max_ns = 0

    def record(self, value_ns: int) -> None:
        """Count one value (the hot-path entry: a bisection, an increment, two comparisons)."""
        self.counts[bisect_left(EDGES_NS, value_ns)] += 1
        if self.count:
            if value_ns > self.max_ns:
                self.max_ns = value_ns
            elif value_ns < self.min_ns:
                self.min_ns = value_ns
        else:
            self.min_ns = self.max_ns = value_ns
        self.count += 1
        self.sum_ns += value_ns

    def record_many(self, values: Sequence[int]) -> None:
        """Count a batch of values in one numpy pass."""
        n = len(values)
        if n == 0:
            return
        if n < 16:  # numpy's fixed cost is larger than a few bisections
            for value in values:
                self.record(value)
            return
        array = np.array(values, dtype=np.int64)
        added = np.bincount(np.searchsorted(_EDGES, array, side="left"), minlength=BUCKETS)
        counts = self.counts
        for index in np.flatnonzero(added).tolist():
            counts[index] += int(added[index])
        low, high = int(array.min()), int(array.max())
        if self.count:
            self.min_ns, self.max_ns = min(self.min_ns, low), max(self.max_ns, high)
        else:
            self.min_ns, self.max_ns = low, high
        self.count += n
        self.sum_ns += int(array.sum())

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s values to this histogram (the buckets are the same everywhere)."""
        if not other.count:
            return
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        if self.count:
            self.min_ns = min(self.min_ns, other.min_ns)
            self.max_ns = max(self.max_ns, other.max_ns)
        else:
            self.min_ns, self.max_ns = other.min_ns, other.max_ns
        self.count += other.count
        self.sum_ns += other.sum_ns

    def copy(self) -> LatencyHistogram:
        twin = LatencyHistogram()
        twin.merge(self)
        return twin

    def percentile(self, q: float) -> float:
        """The ``q``-quantile in ns (see :func:`percentile`); NaN while empty."""
        if not self.count:
            return math.nan
        return percentile(self.counts, q, self.min_ns, self.max_ns)

    @property
    def mean_ns(self) -> float:
        return self.sum_ns / self.count if self.count else math.nan


class MarkedLatency:
    """A latency histogram timed from a mark: the time from a cause to its consequence.

    ``mark(key, start_ns)`` when something happens that may lead to an event (a closed bar
    arrives); ``record(key, now_ns)`` when the event happens (its order is handed over). Only an
    event whose key is that of the latest mark is timed: anything else did not follow from the
    mark (a decision delivered after a newer bar), and timing it from there would be a lie.
    """

    __slots__ = ("_key", "_start_ns", "histogram")

    def __init__(self) -> None:
        self.histogram = LatencyHistogram()
        self._key: Hashable = None
        self._start_ns = 0

    def mark(self, key: Hashable, start_ns: int) -> None:
        self._key, self._start_ns = key, start_ns

    def record(self, key: Hashable, now_ns: int) -> bool:
        """Time ``now_ns`` from the latest mark if it carries ``key``; whether it was timed."""
        if key is None or key != self._key:
            return False
        self.histogram.record(now_ns - self._start_ns)
        return True
