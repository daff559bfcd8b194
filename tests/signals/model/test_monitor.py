"""Live model health: outcomes and baselines scored as the labels define them, drift, staleness."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from desk.signals.model.card import read_card
from desk.signals.model.drift import MIN_ROWS, DriftTracker, fit_bins, normal_bins, psi
from desk.signals.model.labels import DOWN, UP
from desk.signals.model.monitor import ModelMonitor
from tests.signals.lstm_models import constant_model

S = 1_000_000_000
UP_P, DOWN_P = (0.1, 0.2, 0.7), (0.7, 0.2, 0.1)
STATS = SimpleNamespace(
    dropped=0, errors=0, queued=0, per_second=1.0, infer_p50_us=30.0, infer_p99_us=80.0,
    wait_p50_us=5.0, wait_p99_us=9.0,
)  # fmt: skip


def _prediction(end: int, probs: tuple[float, float, float], warm: bool = True) -> object:
    return SimpleNamespace(bar_end_ns=end, probs=probs, direction=int(np.argmax(probs)), warm=warm)


@pytest.fixture
def monitor(tmp_path: Path) -> ModelMonitor:
    return ModelMonitor(read_card(constant_model(tmp_path / "m")))  # horizon 2, band 1 bps


def _snapshot(m: ModelMonitor, now_ns: int = 100 * S) -> object:
    return m.snapshot(model_id="m@1", path="m", bots=["b"], stats=STATS, now_ns=now_ns)


def test_each_prediction_is_scored_once_its_horizon_has_passed_beside_live_baselines(
    monitor: ModelMonitor,
) -> None:
    row = np.zeros(len(monitor.card.features))
    closes = [100.0, 101.0, 102.0, 101.0, 100.0, 100.0]
    calls = [UP_P, UP_P, DOWN_P, UP_P, UP_P, UP_P]
    for t, (close, probs) in enumerate(zip(closes, calls, strict=True)):
        monitor.on_bar("s", (t + 1) * S, close, row, (t + 1) * S, S)
        monitor.on_prediction("s", _prediction((t + 1) * S, probs), late=t == 5)
    h = _snapshot(monitor)
    # outcomes over 2 bars: up, flat, down, down (the last two bars are not resolved yet)
    assert (h.model.n, h.model.accuracy, h.model.calls, h.model.hit_rate) == (4, 0.5, 4, 0.5)
    # persistence: the last 2 bars' move (up at bar 2, flat at bar 3), both wrong
    assert (h.persistence.n, h.persistence.accuracy) == (2, 0.0)
    assert (h.persistence.calls, h.persistence.hit_rate) == (1, 0.0)
    # majority of the outcomes known at each bar: flat, flat, up, flat (a tie reads flat)
    assert (h.majority.n, h.majority.accuracy, h.majority.calls) == (4, 0.25, 1)
    assert h.brier == pytest.approx((0.14 + 1.14 + 0.14 + 1.34) / 4)
    assert (h.predictions, h.late, h.horizon) == (6, 1, 2)
    assert h.infer_p99_us == 80.0 and h.test_accuracy == 0.41 and h.bots == ["b"]


def test_warm_up_predictions_are_not_scored(monitor: ModelMonitor) -> None:
    row = np.zeros(len(monitor.card.features))
    for t, close in enumerate([100.0, 101.0, 102.0, 103.0]):
        monitor.on_bar("s", (t + 1) * S, close, row, (t + 1) * S, S)
        monitor.on_prediction("s", _prediction((t + 1) * S, UP_P, warm=t >= 1), late=False)
    h = _snapshot(monitor)
    assert h.model.n == 1 and h.model.hit_rate == 1.0  # bar 1 (warm) resolved at bar 3


def test_drift_and_stale_inputs_warn(monitor: ModelMonitor) -> None:
    names = monitor.card.features
    rng = np.random.default_rng(4)
    train = rng.normal(0.0, 1.0, (5000, len(names)))
    monitor.drift = DriftTracker(names, fit_bins(train), window=1000)
    live = rng.normal(0.0, 1.0, (MIN_ROWS, len(names)))
    live[:, names.index("spread_bps")] += 2.0  # one feature moved two standard deviations
    for t, row in enumerate(live):
        monitor.on_bar("s", (t + 1) * S, 100.0, row, (t + 1) * S, S)
    h = _snapshot(monitor, now_ns=MIN_ROWS * S + S)
    by_name = {d.name: d for d in h.drift}
    assert by_name["spread_bps"].warn and by_name["spread_bps"].psi > 1.0
    assert not by_name["ret_1"].warn and by_name["ret_1"].psi < 0.1
    assert h.drift_exact is False  # the card itself had no bins; the tracker was swapped in
    assert [w for w in h.warnings if w.startswith("drift")] == [
        f"drift PSI > 0.25: spread_bps {by_name['spread_bps'].psi:.2f}"
    ]
    assert not any("stale" in w for w in h.warnings)
    later = _snapshot(monitor, now_ns=MIN_ROWS * S + 60 * S)  # a minute without a 1 s bar
    assert "inputs stale 60s" in later.warnings and later.input_age_s == 60.0


def test_a_few_rows_never_warn_however_far_they_are() -> None:
    names = ["a"]
    tracker = DriftTracker(names, fit_bins(np.random.default_rng(1).normal(size=(999, 1))))
    for _ in range(MIN_ROWS - 1):
        tracker.add([50.0])
    assert tracker.psi()[0] > 5.0 and tracker.counted() == [MIN_ROWS - 1]


def test_bins_psi_and_the_window() -> None:
    x = np.arange(1000.0)[:, None]
    (bins,) = fit_bins(x)
    assert len(bins.edges) == 9 and bins.fractions == pytest.approx([0.1] * 10, abs=0.002)
    (flat,) = fit_bins(np.zeros((50, 1)))
    assert flat.edges == [0.0] and flat.fractions == [1.0, 0.0]
    assert psi([0.5, 0.5], [50, 50]) == pytest.approx(0.0)
    assert psi([0.5, 0.5], [0, 0]) is None
    tracker = DriftTracker(["x"], [bins], window=10)
    for value in range(30):
        tracker.add([float(value)] if value % 7 else [float("nan")])
    assert tracker.rows == 10 and tracker.counted() == [8]  # rows 20..29: 21 and 28 are NaN
    (normal,) = normal_bins([1.0], [2.0])
    assert normal.edges[4] == 1.0 and normal.edges[8] == pytest.approx(1.0 + 2.0 * 1.2816)


def test_classes_in_order() -> None:
    assert (DOWN, UP) == (0, 2)  # the probability order the monitor reads
