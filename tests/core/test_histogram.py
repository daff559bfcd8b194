"""The latency histogram: its bucket edges, percentiles held to numpy's, batches, merging and
the marked latency the bots' tick-to-order uses."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from desk.core.histogram import (
    BUCKET_RATIO,
    BUCKETS,
    EDGES_NS,
    OVERFLOW,
    LatencyHistogram,
    MarkedLatency,
    bucket_bounds,
    bucket_of,
    percentile,
)

QUANTILES = (0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0)


def _lognormal(seed: int, n: int, median_ns: float, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.rint(rng.lognormal(math.log(median_ns), sigma, n)).astype(np.int64)


def test_edges_are_ten_per_decade_from_one_microsecond_to_a_hundred_seconds() -> None:
    assert EDGES_NS[0] == 1_000
    assert EDGES_NS[-1] == 100 * 10**9
    assert all(EDGES_NS[10 * k] == 1_000 * 10**k for k in range(9))
    assert all(a < b for a, b in itertools.pairwise(EDGES_NS))
    ratios = [b / a for a, b in itertools.pairwise(EDGES_NS)]
    assert max(ratios) == pytest.approx(BUCKET_RATIO, rel=2e-3)
    assert len(EDGES_NS) + 1 == BUCKETS


def test_a_value_on_an_edge_belongs_to_the_bucket_below_it() -> None:
    """Prometheus' ``le``: bucket i holds EDGES[i-1] < v <= EDGES[i]."""
    for index, edge in enumerate(EDGES_NS):
        assert bucket_of(edge) == index
        assert bucket_of(edge + 1) == index + 1
        lower, upper = bucket_bounds(index)
        assert upper == edge and (index == 0 or lower == EDGES_NS[index - 1])
    assert bucket_of(-5_000_000) == 0  # an exchange clock ahead of ours
    assert bucket_of(0) == 0
    assert bucket_of(101 * 10**9) == OVERFLOW
    assert bucket_bounds(OVERFLOW) == (float(EDGES_NS[-1]), math.inf)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_are_within_one_bucket_of_numpy_on_seeded_data(seed: int) -> None:
    values = _lognormal(seed, 200_000, median_ns=1.5e6, sigma=1.1)
    histogram = LatencyHistogram()
    histogram.record_many(values.tolist())
    assert histogram.count == len(values)
    assert histogram.sum_ns == int(values.sum())
    assert (histogram.min_ns, histogram.max_ns) == (int(values.min()), int(values.max()))
    assert histogram.mean_ns == pytest.approx(float(values.mean()))
    for q in QUANTILES:
        exact = float(np.percentile(values, q * 100))
        estimate = histogram.percentile(q)
        assert exact / BUCKET_RATIO <= estimate <= exact * BUCKET_RATIO, (q, exact, estimate)
    assert histogram.percentile(0.0) == histogram.min_ns
    assert histogram.percentile(1.0) == histogram.max_ns


def test_percentiles_of_bare_counts_stay_within_one_bucket_too() -> None:
    """A window (counts now minus counts a minute ago) has no min or max of its own."""
    values = _lognormal(7, 50_000, median_ns=250e3, sigma=0.6)
    histogram = LatencyHistogram()
    histogram.record_many(values.tolist())
    for q in (0.5, 0.9, 0.99):
        exact = float(np.percentile(values, q * 100))
        estimate = percentile(histogram.counts, q)
        assert exact / BUCKET_RATIO <= estimate <= exact * BUCKET_RATIO


def test_a_batch_counts_exactly_what_one_by_one_counts() -> None:
    rng = np.random.default_rng(11)
    values = _lognormal(11, 5_000, median_ns=3e6, sigma=2.5).tolist()
    values += [-2_000_000, 0, 1_000, 1_001, 150 * 10**9]  # below, on and past the edges
    rng.shuffle(values)
    one_by_one, batch = LatencyHistogram(), LatencyHistogram()
    for value in values:
        one_by_one.record(value)
    batch.record_many(values[:3])  # a small batch takes the plain path
    batch.record_many(values[3:])
    assert batch.counts == one_by_one.counts
    assert (batch.count, batch.sum_ns) == (one_by_one.count, one_by_one.sum_ns)
    assert (batch.min_ns, batch.max_ns) == (-2_000_000, 150 * 10**9)
    assert batch.counts[0] >= 3 and batch.counts[OVERFLOW] >= 1


def test_merging_is_the_same_as_recording_both() -> None:
    a_values = _lognormal(21, 3_000, 1e6, 0.5).tolist()
    b_values = _lognormal(22, 2_000, 4e6, 0.9).tolist()
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    a.record_many(a_values)
    b.record_many(b_values)
    both.record_many(a_values + b_values)
    merged = a.copy()
    merged.merge(b)
    merged.merge(LatencyHistogram())  # an empty one changes nothing
    assert merged.counts == both.counts
    assert (merged.count, merged.sum_ns, merged.min_ns, merged.max_ns) == (
        both.count,
        both.sum_ns,
        both.min_ns,
        both.max_ns,
    )
    assert a.count == len(a_values)  # the copy was merged into, not the original


def test_an_empty_histogram_has_no_percentiles_and_a_bad_quantile_is_refused() -> None:
    histogram = LatencyHistogram()
    assert math.isnan(histogram.percentile(0.5))
    assert math.isnan(histogram.mean_ns)
    assert math.isnan(percentile([0] * BUCKETS, 0.5))
    with pytest.raises(ValueError, match="within"):
        percentile([1] * BUCKETS, 1.5)


def test_marked_latency_times_only_what_followed_the_latest_mark() -> None:
    timed = MarkedLatency()
    assert not timed.record(("BTC-USDT", 1_000), 5_000)  # nothing marked yet
    timed.mark(("BTC-USDT", 1_000), 10_000)
    assert timed.record(("BTC-USDT", 1_000), 10_000 + 250_000)
    timed.mark(("BTC-USDT", 2_000), 20_000)
    assert not timed.record(("BTC-USDT", 1_000), 30_000)  # decided on an older bar
    assert not timed.record(None, 30_000)
    assert timed.histogram.count == 1
    assert timed.histogram.min_ns == timed.histogram.max_ns == 250_000
