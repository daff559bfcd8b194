"""Feed counters: totals, rates over whole seconds, latency percentiles, last-message age."""

from __future__ import annotations

import math
import random

import pytest

from desk.feeds.counters import FeedCounters, FeedCountersSnapshot

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S  # a whole second


def test_a_fresh_counter_reads_zero_and_nan() -> None:
    snap = FeedCounters("okx").snapshot(now_ns=T0)
    assert isinstance(snap, FeedCountersSnapshot)
    assert (snap.messages, snap.bytes, snap.msgs_per_s, snap.bytes_per_s) == (0, 0, 0.0, 0.0)
    assert math.isnan(snap.latency_p50_ms) and math.isnan(snap.last_message_age_s)


def test_totals_and_last_message_age() -> None:
    counters = FeedCounters("okx")
    counters.on_message(100, T0)
    counters.on_message(50, T0 + 200 * MS)
    snap = counters.snapshot(now_ns=T0 + 1_200 * MS)
    assert (snap.messages, snap.bytes) == (2, 150)
    assert snap.last_message_age_s == pytest.approx(1.0)
    assert snap.name == "okx" and snap.ts == T0 + 1_200 * MS


def test_rates_average_the_last_whole_seconds() -> None:
    counters = FeedCounters("okx", window_s=5)
    for second in range(10):
        for i in range(second + 1):  # second k carries k+1 messages of 10 bytes
            counters.on_message(10, T0 + second * S + i * MS)
    # at second 10 the window holds seconds 5..9: 6+7+8+9+10 = 40 messages
    msgs, nbytes = counters.rates(now_ns=T0 + 10 * S + 500 * MS)
    assert msgs == pytest.approx(40 / 5) and nbytes == pytest.approx(400 / 5)


def test_rates_right_after_start_use_the_seconds_seen_so_far() -> None:
    counters = FeedCounters("okx", window_s=5)
    for i in range(30):
        counters.on_message(1, T0 + i * 10 * MS)  # 30 messages in the first 0.3 s
    assert counters.rates(now_ns=T0 + 500 * MS) == (0.0, 0.0)  # no whole second yet
    assert counters.rates(now_ns=T0 + S + 1) == (30.0, 30.0)


def test_rates_drop_to_zero_after_silence() -> None:
    counters = FeedCounters("okx", window_s=5)
    for i in range(100):
        counters.on_message(1, T0 + i * MS)
    assert counters.rates(now_ns=T0 + 2 * S)[0] == pytest.approx(50.0)
    assert counters.rates(now_ns=T0 + 60 * S) == (0.0, 0.0)


def test_rates_skip_seconds_without_messages() -> None:
    counters = FeedCounters("okx", window_s=5)
    counters.on_message(1, T0)
    counters.on_message(1, T0 + 3 * S)
    counters.on_message(1, T0 + 3 * S + 1)
    assert counters.rates(now_ns=T0 + 4 * S)[0] == pytest.approx(3 / 4)
    assert counters.rates(now_ns=T0 + 8 * S)[0] == pytest.approx(2 / 5)  # seconds 3..7
    assert counters.rates(now_ns=T0 + 9 * S)[0] == 0.0  # seconds 4..8


def test_latency_last_p50_p99_over_a_bounded_window() -> None:
    counters = FeedCounters("okx", latency_window=100)
    for ms in range(1, 201):  # only the last 100 samples (101..200 ms) are kept
        counters.on_latency(T0, T0 + ms * MS)
    snap = counters.snapshot(now_ns=T0)
    assert snap.latency_samples == 100
    assert snap.latency_last_ms == 200.0
    assert snap.latency_p50_ms == 151.0
    assert snap.latency_p99_ms == 200.0


def test_event_counters_appear_in_the_snapshot() -> None:
    counters = FeedCounters("okx")
    counters.reconnects += 1
    counters.gaps += 2
    counters.resyncs += 3
    counters.checksum_failures += 4
    counters.decode_errors += 5
    counters.crossed_books += 6
    counters.duplicate_trades += 7
    snap = counters.snapshot(now_ns=T0)
    assert (
        snap.reconnects,
        snap.gaps,
        snap.resyncs,
        snap.checksum_failures,
        snap.decode_errors,
        snap.crossed_books,
        snap.duplicate_trades,
    ) == (1, 2, 3, 4, 5, 6, 7)


def test_the_clock_is_injectable() -> None:
    now = [T0]
    counters = FeedCounters("okx", clock=lambda: now[0])
    counters.on_message(10, T0)
    now[0] = T0 + 2 * S
    assert counters.snapshot().last_message_age_s == pytest.approx(2.0)


def test_latency_percentiles_are_the_ranks_of_the_window_on_random_samples() -> None:
    """p50 and p99 are the samples at ranks count*50//100 and count*99//100 of the sorted
    window (the oldest samples leave it), and last is the newest one."""
    rng = random.Random(17)
    counters = FeedCounters("okx", latency_window=512)
    received: list[int] = []
    for _ in range(1500):
        value = rng.randrange(0, 50_000_000)
        counters.latency.append(value)
        received.append(value)
        if rng.random() < 0.05:
            window = sorted(received[-512:])
            count = len(window)
            last, p50, p99 = counters.latencies_ms()
            assert last == received[-1] / 1_000_000
            assert p50 == window[min(count - 1, count * 50 // 100)] / 1_000_000
            assert p99 == window[min(count - 1, count * 99 // 100)] / 1_000_000
