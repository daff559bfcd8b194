"""The latency figures and bars the health mode draws, and the last-minute window they cover."""

from __future__ import annotations

import msgspec
import pytest

from desk.bridge.views import HealthView, LatencyView
from desk.core.enums import Mode
from desk.core.histogram import BUCKETS, BUCKETS_PER_DECADE, EDGES_NS, bucket_of
from desk.widgets.health_history import HealthHistory
from desk.widgets.latency_bars import (
    axis_label,
    axis_range,
    bar,
    column_of,
    fmt_latency_ns,
    latency_row,
)
from tests.ui.fakes import NS, T0, FakeEngineClient, latency

MS = 1_000_000


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (850, "850ns"),
        (1_234, "1.2µs"),
        (42_000, "42µs"),
        (1_250_000, "1.2ms"),
        (35_000_000, "35ms"),
        (1_250_000_000, "1.25s"),
        (float("nan"), "—"),
    ],
)
def test_latencies_read_in_the_unit_a_person_reads_them_in(ns: float, text: str) -> None:
    assert fmt_latency_ns(ns) == text


def test_a_row_since_the_start_reads_exact_ends_and_bucket_close_percentiles() -> None:
    values = [1 * MS] * 90 + [5 * MS] * 9 + [80 * MS]
    row = latency_row(latency("okx", "exchange", values))
    assert row.label == "okx exch→recv"
    assert row.count == 100
    assert row.max == 80 * MS  # the recorded maximum, not a bucket edge
    assert row.p50 == pytest.approx(1 * MS, rel=0.26)
    assert row.p99 == pytest.approx(5 * MS, rel=0.26)


def test_bars_share_an_axis_so_a_slower_row_sits_further_right() -> None:
    fast = latency_row(latency("okx", "exchange", [200_000] * 50))
    slow = latency_row(latency("bots", "tick_to_order", [20 * MS] * 50))
    first, last = axis_range([fast, slow])
    assert (first - 1) % BUCKETS_PER_DECADE == 0 and last % BUCKETS_PER_DECADE == 0
    assert EDGES_NS[first - 1] <= 200_000 and EDGES_NS[last] >= 20 * MS
    width = last - first + 1
    fast_bar, slow_bar = bar(fast.counts, first, last, width), bar(slow.counts, first, last, width)
    assert len(fast_bar) == len(slow_bar) == width
    assert fast_bar.strip() == slow_bar.strip() == "█"
    assert fast_bar.index("█") < slow_bar.index("█")
    assert column_of(20 * MS, first, last, width) == slow_bar.index("█")
    assert bar([0] * BUCKETS, first, last, width) == " " * width


def test_a_rare_sample_stays_visible_and_the_axis_names_its_decades() -> None:
    values = [1 * MS] * 10_000 + [300 * MS]
    row = latency_row(latency("okx", "exchange", values))
    first, last = axis_range([row])
    text = bar(row.counts, first, last, 40)
    assert text[column_of(300 * MS, first, last, 40)] == "▁"  # one in ten thousand, still there
    label = axis_label(first, last, 40)
    assert label.startswith("100µs") and "1ms" in label and "10ms" in label
    assert bucket_of(EDGES_NS[first - 1]) == first - 1


def _health(second: int, view: LatencyView) -> HealthView:
    base = FakeEngineClient().health()
    return msgspec.structs.replace(base, ts=T0 + second * NS, mode=Mode.SIM, latencies=[view])


def test_the_window_is_now_minus_a_minute_ago_and_since_the_start_before_that() -> None:
    history = HealthHistory()
    early = [1 * MS] * 100
    for second in range(61):
        view = latency("okx", "exchange", early)
        history.record(_health(second, view))
        if second < 60:
            assert history.latency_window(view) == (None, 0)  # less than a minute: since start
    late = latency("okx", "exchange", early + [40 * MS] * 7)
    history.record(_health(61, late))
    window, seconds = history.latency_window(late)
    assert seconds == 60
    assert window is not None and sum(window) == 7
    row = latency_row(late, window)
    assert row.count == 7
    assert row.p50 == pytest.approx(40 * MS, rel=0.26)  # only the last minute's samples
    assert row.max == 40 * MS  # clamped to the all-time maximum


def test_counts_that_went_down_mean_a_new_engine_and_fall_back_to_since_the_start() -> None:
    history = HealthHistory()
    for second in range(62):
        history.record(_health(second, latency("okx", "exchange", [1 * MS] * 100)))
    fresh = latency("okx", "exchange", [2 * MS] * 3)
    history.record(_health(62, fresh))
    assert history.latency_window(fresh) == (None, 0)
