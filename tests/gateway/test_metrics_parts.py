"""Pieces of /metrics on planted data: histogram buckets exact at every exported edge, and the
model series present only while a model runs."""

from __future__ import annotations

import random
from types import SimpleNamespace

from desk.core.histogram import EDGES_NS, LatencyHistogram
from desk.gateway.metrics import EXPORTED_EDGES, exported_buckets
from desk.gateway.metrics_trading import _models


def test_exported_buckets_are_exact_cumulative_counts() -> None:
    rng = random.Random(16)
    values = [int(rng.lognormvariate(13.0, 2.0)) for _ in range(20_000)]  # ~0.4 ms, wide
    values += [-5_000, 0, 10**12]  # a clock ahead of ours, and past the last edge
    histogram = LatencyHistogram()
    histogram.record_many(values)
    buckets, total = exported_buckets(histogram)
    assert len(buckets) == len(EXPORTED_EDGES) + 1
    for (le, count), index in zip(buckets, EXPORTED_EDGES, strict=False):
        assert float(le) == EDGES_NS[index] / 1e9
        assert count == sum(1 for v in values if v <= EDGES_NS[index])
    assert buckets[-1] == ("+Inf", float(len(values)))
    assert total == sum(values) / 1e9


def _model(model_id: str, p50: float | None) -> SimpleNamespace:
    return SimpleNamespace(
        model_id=model_id, infer_p50_us=p50, infer_p99_us=None if p50 is None else p50 * 3,
        predictions=40, late=1, dropped=0, errors=2, queued=3,
    )  # fmt: skip


def test_model_series_only_while_a_model_runs() -> None:
    assert list(_models(SimpleNamespace(models=SimpleNamespace(health=lambda: [])))) == []
    assert list(_models(SimpleNamespace())) == []  # a bot manager without a model pool
    pool = SimpleNamespace(health=lambda: [_model("lstm-btc", 38.0), _model("cold", None)])
    families = {f.name: f for f in _models(SimpleNamespace(models=pool))}
    latency = {
        (s.labels["model"], s.labels["quantile"]): s.value
        for s in families["desk_model_inference_latency_seconds"].samples
    }
    assert latency == {("lstm-btc", "0.5"): 38e-6, ("lstm-btc", "0.99"): 114e-6}
    predictions = families["desk_model_predictions"].samples
    assert {(s.name, s.labels["model"], s.value) for s in predictions} == {
        ("desk_model_predictions_total", "lstm-btc", 40.0),
        ("desk_model_predictions_total", "cold", 40.0),
    }
    assert [s.value for s in families["desk_model_queue_depth"].samples] == [3.0, 3.0]
