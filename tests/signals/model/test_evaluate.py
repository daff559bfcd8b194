"""Metrics, baselines, and the honest verdict: no edge on a random walk, an edge when planted."""

from __future__ import annotations

import io

import numpy as np
import pytest

from desk.signals.model import dataset as ds
from desk.signals.model import evaluate as ev
from desk.signals.model.data import MarketSeries
from desk.signals.model.labels import DOWN, FLAT, UP
from desk.signals.model.runner import evaluate_model
from desk.signals.model.train import PlainReporter, train
from tests.signals.model.synthetic import planted, random_walk, tiny_spec


def test_metrics_by_hand() -> None:
    y = np.array([UP, UP, DOWN, FLAT, DOWN, UP])
    pred = np.array([UP, FLAT, DOWN, FLAT, UP, UP])
    probs = np.eye(3)[pred]
    fwd = np.array([30.0, 25.0, -40.0, 1.0, -20.0, 12.0])
    band = np.full(6, 10.0)
    m = ev.metrics(y, probs, pred, fwd, band)
    assert m.accuracy == pytest.approx(4 / 6)
    # F1: up 2*2/(4+1+1) = 2/3, flat 2*1/(2+1+0) = 2/3, down 2*1/(2+0+1) = 2/3
    assert m.macro_f1 == pytest.approx(2 / 3)
    assert m.brier == pytest.approx(2 * 2 / 6)  # two wrong one-hot rows cost 2 each
    assert m.calls == 4 and m.hit_rate == pytest.approx(3 / 4)  # flat calls are not trades
    assert m.net_bps == pytest.approx(((30 - 10) + (40 - 10) + (-20 - 10) + (12 - 10)) / 4)


def test_auc_and_brier_reference_points() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[y]
    assert ev.auc_ovr(y, perfect) == pytest.approx(1.0)
    assert ev.auc_ovr(y, 1.0 - perfect) == pytest.approx(0.0)
    uniform = np.full((6, 3), 1 / 3)
    assert ev.auc_ovr(y, uniform) == pytest.approx(0.5)  # ties share their rank
    assert ev.metrics(y, uniform, y, np.zeros(6), np.ones(6)).brier == pytest.approx(2 / 3)
    assert ev.auc_ovr(np.zeros(4, dtype=int), np.eye(3)[[0, 0, 1, 2]][:, :3]) is None


def test_baselines() -> None:
    pred, probs = ev.majority_baseline([UP, UP, DOWN, FLAT], 3)
    assert pred.tolist() == [UP] * 3 and probs[0] == pytest.approx([0.25, 0.25, 0.5])
    past_train = np.array([UP, UP, DOWN, DOWN])
    y_train = np.array([UP, DOWN, DOWN, DOWN])
    pred, probs = ev.persistence_baseline(past_train, y_train, np.array([UP, DOWN, FLAT]))
    assert pred.tolist() == [UP, DOWN, FLAT]
    assert probs[0] == pytest.approx([0.5, 0.0, 0.5])  # what followed an up move in training
    assert probs[1] == pytest.approx([1.0, 0.0, 0.0])
    assert probs[2] == pytest.approx([0.75, 0.0, 0.25])  # never seen: overall frequencies
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    y = np.where(x[:, 0] > 0.5, UP, np.where(x[:, 0] < -0.5, DOWN, FLAT))
    pred, probs = ev.logistic_baseline(x[:400], y[:400], x[400:])
    assert np.mean(pred == y[400:]) > 0.85
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_the_paired_comparison() -> None:
    y = np.zeros(100, dtype=int)
    better = ev.compare(y, np.zeros(100), np.r_[np.zeros(50), np.ones(50)])
    assert better.beats and better.gain == pytest.approx(0.5)
    same = ev.compare(y, np.zeros(100), np.zeros(100))
    assert not same.beats


def _fit_and_evaluate(series: MarketSeries) -> ev.Evaluation:
    spec = tiny_spec(epochs=15, patience=3)
    p = ds.prepare([series], spec.features, spec.labels, spec.model.context)
    data = ds.materialise(p, ds.split(p))
    quiet = PlainReporter(io.StringIO())
    result = train(data, spec.model, spec.train, device="cpu", reporter=quiet)
    return evaluate_model(result.network, data)


def test_on_a_random_walk_the_model_shows_no_edge() -> None:
    e = _fit_and_evaluate(random_walk(3000, seed=21))
    assert not e.beats_baselines
    assert "does NOT beat the baselines" in e.verdict
    best = max(m.accuracy for m in e.baselines.values())
    noise = 3.0 * np.sqrt(best * (1 - best) / e.n_test)
    assert e.model.accuracy <= best + noise
    assert e.model.auc_ovr is not None and abs(e.model.auc_ovr - 0.5) < 0.1
    assert "does NOT beat" in ev.format_report(e)


def test_with_planted_structure_the_model_beats_every_baseline() -> None:
    e = _fit_and_evaluate(planted(3000, seed=22))
    assert e.beats_baselines, ev.format_report(e)
    assert e.verdict.startswith("The model beats every baseline")
    for name, m in e.baselines.items():
        assert e.model.accuracy > m.accuracy + 0.15, name
        assert e.model.brier < m.brier, name
    assert e.model.hit_rate is not None and e.model.hit_rate > 0.65
