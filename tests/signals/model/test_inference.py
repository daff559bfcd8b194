"""The inference worker: stepwise == full window, off the event loop, latency, ``late``."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest
import torch

from desk.signals.model.checkpoint import DataRange, load_checkpoint, save_checkpoint
from desk.signals.model.config import ModelConfig
from desk.signals.model.dataset import Normalizer
from desk.signals.model.features import FeatureConfig, FeatureStream, feature_names
from desk.signals.model.inference import InferenceWorker, Prediction
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import build_model
from desk.signals.model.stepper import StepModel
from tests.signals.model.synthetic import random_walk

CFG = ModelConfig(hidden=16, layers=2, attention=8, head=8, window=6, burn_in=4)
F = len(feature_names())


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("regression", [False, True])
def test_stepping_bar_by_bar_equals_running_the_whole_window(regression: bool) -> None:
    net = build_model(CFG, 7, regression).eval()
    step = StepModel.from_network(net)
    x = np.random.default_rng(1).normal(size=(40, 7)).astype(np.float32)
    state = step.new_state()
    with torch.no_grad():
        full = [net(torch.from_numpy(x[None, : t + 1]))[0].numpy() for t in range(40)]
    for t in range(40):
        np.testing.assert_allclose(step.step(state, x[t]), full[t], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(step.full_window(x), full[-1], rtol=1e-4, atol=1e-5)


def _worker(slow: float = 0.0, **options: object) -> InferenceWorker:
    net = build_model(CFG, F).eval()
    norm = Normalizer(np.zeros(F), np.ones(F))
    return InferenceWorker(StepModel.from_network(net), norm, slow_down_s=slow, **options)


def test_the_worker_on_live_feature_rows_equals_the_network_on_batch_features() -> None:
    series = random_walk(90, seed=3)
    batch = series.features()
    first = int(np.argmax(np.all(np.isfinite(batch), axis=1)))
    norm = Normalizer(np.nanmean(batch, axis=0), np.nanstd(batch, axis=0) + 1e-9)
    net = build_model(CFG, F).eval()
    stream = FeatureStream()
    with InferenceWorker(StepModel.from_network(net), norm, burn_in=CFG.burn_in) as worker:
        got: list[Prediction] = []
        for t in range(len(series)):
            row = stream.update(
                series.high[t], series.low[t], series.close[t], series.volume[t],
                bid_sizes=series.bid_sizes[t], ask_sizes=series.ask_sizes[t],
                bid=series.bid[t], ask=series.ask[t],
                buy_volume=series.buy_volume[t], sell_volume=series.sell_volume[t],
            )  # fmt: skip
            if stream.ready:
                got.append(worker.submit("RW", int(series.end_ns[t]), row).result(5))
    x = torch.from_numpy(norm.apply(batch[first:]))
    assert len(got) == len(series) - first
    with torch.no_grad():
        for k in (0, 5, 9, 10, 30, len(got) - 1):
            want = _softmax(net(x[None, : k + 1])[0].numpy())
            np.testing.assert_allclose(got[k].probs, want, atol=1e-5)
            assert got[k].warm == (k + 1 >= CFG.burn_in + CFG.window)
            assert got[k].bars == k + 1


def test_series_are_independent_and_reset_forgets() -> None:
    rows = np.random.default_rng(2).normal(size=(12, F))
    with _worker() as w:
        alone = [w.submit("A", t + 1, rows[t]).result(5).probs for t in range(6)]
        w.reset("A")
        mixed = []
        for t in range(6):
            mixed.append(w.submit("A", t + 1, rows[t]).result(5).probs)
            w.submit("B", t + 1, rows[6 + t]).result(5)
        assert mixed == alone
        assert w.stats().series == 2


def test_submitting_does_not_block_the_event_loop() -> None:
    async def main() -> tuple[Prediction, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        with _worker(slow=0.15) as w:
            prediction = await w.predict("A", 1, np.zeros(F))
        task.cancel()
        return prediction, ticks

    prediction, ticks = asyncio.run(main())
    assert ticks >= 5  # the loop kept running while the model worked
    assert prediction.infer_ns >= 0.15e9


def test_a_prediction_after_its_deadline_is_late() -> None:
    with _worker(slow=0.05) as w:
        now = time.time_ns()
        late = w.submit("A", 1, np.zeros(F), deadline_ns=now + 1_000_000).result(5)
        on_time = w.submit("A", 2, np.zeros(F), deadline_ns=now + 60 * 10**9).result(5)
        no_deadline = w.submit("A", 3, np.zeros(F)).result(5)
        stats = w.stats()
    assert late.late and not on_time.late and not no_deadline.late
    assert stats.late == 1


def test_latency_statistics_and_the_callback() -> None:
    seen: list[Prediction] = []
    called = threading.Event()

    def callback(p: Prediction) -> None:
        seen.append(p)
        if len(seen) == 50:
            called.set()

    with _worker() as w:
        futures = [w.submit("A", t + 1, np.zeros(F), callback=callback) for t in range(50)]
        results = [f.result(5) for f in futures]
        assert called.wait(5)
        stats = w.stats()
    assert seen == results
    assert stats.predictions == 50 and stats.late == 0 and stats.errors == 0
    assert stats.infer_p50_us is not None and stats.infer_p99_us is not None
    assert 0 < stats.infer_p50_us <= stats.infer_p99_us
    assert stats.wait_p50_us is not None and stats.wait_p99_us is not None
    assert stats.per_second > 0 and stats.queued == 0
    assert all(r.queue_wait_ns >= 0 and r.infer_ns > 0 for r in results)


def test_bad_rows_and_repeated_bars_fail_their_future_only() -> None:
    with _worker() as w:
        good = w.submit("A", 10, np.zeros(F)).result(5)
        with pytest.raises(ValueError, match="not after the last one"):
            w.submit("A", 10, np.zeros(F)).result(5)
        with pytest.raises(ValueError, match="finite values"):
            w.submit("A", 11, np.zeros(F - 1)).result(5)
        with pytest.raises(ValueError, match="finite values"):
            w.submit("A", 11, np.full(F, np.nan)).result(5)
        after = w.submit("A", 11, np.zeros(F)).result(5)
        assert w.stats().errors == 3
    assert after.bars == good.bars + 1


def test_a_full_queue_drops_instead_of_waiting() -> None:
    with _worker(slow=0.2, queue_size=1) as w:
        t0 = time.perf_counter()
        futures = [w.submit("A", t + 1, np.zeros(F)) for t in range(4)]
        assert time.perf_counter() - t0 < 0.1  # none of the four waited for the 0.2 s model
        failed = [f for f in futures if f.exception(5) is not None]
        assert failed and "full" in str(failed[0].exception())
        assert w.stats().dropped == len(failed)


def test_from_a_checkpoint(tmp_path: Path) -> None:
    cfg = msgspec.structs.replace(CFG, burn_in=2, window=3)
    net = build_model(cfg, F, regression=True)
    label = LabelConfig(regression=True)
    save_checkpoint(
        tmp_path, net, normalizer=Normalizer(np.zeros(F), np.ones(F)),
        features=FeatureConfig(),
        label=label, metrics={}, train={}, target_scale_bps=10.0,
        data=DataRange(symbols=["X"], timeframe="1m", sources=["t"], start_ns=0, end_ns=0,
                       start="", end="", bars=0),
    )  # fmt: skip
    with InferenceWorker.from_checkpoint(load_checkpoint(tmp_path)) as w:
        out = [w.submit("A", t + 1, np.zeros(F)).result(5) for t in range(6)]
    assert [p.warm for p in out] == [False, False, False, False, True, True]
    assert all(p.forward_bps is not None for p in out)
    assert out[0].direction == int(np.argmax(out[0].probs))


def test_a_stopped_worker_refuses_work_at_once() -> None:
    w = _worker()
    w.start()
    w.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        w.submit("A", 1, np.zeros(F)).result(1)
