"""LSTM-attention inference at batch 1 on one thread, and training throughput.

Prints figures only (never asserts), each beside its reference measured in the same run:

* per bar, batch 1, one thread (``torch.set_num_threads(1)``), p50 / p99 in microseconds:
  - **stepwise**: the inference kernel folding one new bar into a series' carried state
    (``StepModel.step``: LSTM cell per layer, attention over the ring of hidden states, head);
  - **full window**: the same kernel re-run over the whole ``burn_in + window`` rows per bar
    (``StepModel.full_window``), what stepping avoids;
  - **eager torch**: the network's ``forward`` on the same full window under
    ``torch.inference_mode()`` (the reference; measured before at p50/p99 370/643 us);
  - **worker round trip**: ``InferenceWorker.submit`` -> ``future.result()`` from another
    thread (queue hand-off, normalisation, step, the future), with the worker's own inference
    and queue-wait percentiles;
  the goal is a stepwise p99 <= 100 us on CPU;
* training samples per second (``--device``; on a GPU with ``--device cuda`` when there is one)
  on a synthetic random walk, the default model, batch 256.

    .venv/bin/python bench/model_inference.py [--bars 5000] [--train-bars 20000] [--epochs 2]
        [--device auto|cpu|cuda] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from desk.signals.model import dataset as ds
from desk.signals.model.checkpoint import load_checkpoint
from desk.signals.model.config import ModelConfig, TrainConfig
from desk.signals.model.data import MarketSeries
from desk.signals.model.dataset import Normalizer
from desk.signals.model.features import feature_names
from desk.signals.model.inference import InferenceWorker
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import build_model
from desk.signals.model.stepper import StepModel
from desk.signals.model.train import PlainReporter, resolve_device, train


def percentiles(samples_ns: list[int]) -> str:
    a = np.asarray(samples_ns) / 1e3
    return f"p50 {np.percentile(a, 50):8.1f} us   p99 {np.percentile(a, 99):8.1f} us"


def timed(fn: Callable[[int], object], n: int, warmup: int = 50) -> list[int]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        fn(i)
        out.append(time.perf_counter_ns() - t0)
    return out


def random_walk(n: int, seed: int = 1) -> MarketSeries:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    ends = 1_704_067_200 * 10**9 + 60 * 10**9 * np.arange(1, n + 1, dtype=np.int64)
    opens = np.concatenate([[100.0], close[:-1]])
    return MarketSeries(
        "RW-USDT", "1m", "bench", ends, opens, np.maximum(opens, close) * 1.0005,
        np.minimum(opens, close) * 0.9995, close, rng.exponential(10.0, n),
    )  # fmt: skip


def inference(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    if args.checkpoint:
        loaded = load_checkpoint(args.checkpoint)
        net, norm, cfg = loaded.network, loaded.normalizer, loaded.card.model
    else:
        cfg = ModelConfig()
        n = len(feature_names())
        net = build_model(cfg, n).eval()
        norm = Normalizer(np.zeros(n), np.ones(n))
    n_features = net.n_features
    step = StepModel.from_network(net)
    rows = np.random.default_rng(2).normal(size=(args.bars + cfg.context, n_features))
    rows32 = rows.astype(np.float32)
    print(
        f"model: {cfg.layers} layers x {cfg.hidden} hidden, attention {cfg.attention} over "
        f"{cfg.window} states, window + burn-in {cfg.context} rows, {n_features} features; "
        f"batch 1, torch threads {torch.get_num_threads()}"
    )
    state = step.new_state()
    stepwise = timed(lambda i: step.step(state, rows32[i % len(rows32)]), args.bars)
    ctx = cfg.context
    windows = args.bars // 5
    full = timed(lambda i: step.full_window(rows32[i : i + ctx]), windows)
    x = torch.from_numpy(rows32)
    with torch.inference_mode():
        eager = timed(lambda i: net(x[None, i : i + ctx]), windows)
    print(f"  stepwise (numba kernel, one bar)     {percentiles(stepwise)}")
    print(f"  full window (numba kernel, {ctx} rows)  {percentiles(full)}")
    print(f"  eager torch full window (reference)  {percentiles(eager)}")
    p99 = np.percentile(np.asarray(stepwise) / 1e3, 99)
    verdict = "met" if p99 <= 100 else "NOT met"
    print(f"  goal stepwise p99 <= 100 us: {verdict} ({p99:.1f} us)")
    bar = iter(range(1, 1 << 62))  # each bar once, in order, warm-up included
    with InferenceWorker(step, norm) as worker:
        trips = timed(lambda i: worker.submit("A", next(bar), rows[i]).result(), args.bars)
        stats = worker.stats()
    print(f"  worker round trip (submit -> result) {percentiles(trips)}")
    print(
        f"    in the worker: inference p50 {stats.infer_p50_us:.1f} / p99 "
        f"{stats.infer_p99_us:.1f} us, queue wait p50 {stats.wait_p50_us:.1f} / p99 "
        f"{stats.wait_p99_us:.1f} us"
    )


def training(args: argparse.Namespace, threads: int) -> None:
    device = resolve_device(args.device)
    torch.set_num_threads(threads)
    cfg = ModelConfig()
    series = [random_walk(args.train_bars)]
    p = ds.prepare(series, labels=LabelConfig(horizon=5), context=cfg.context)
    data = ds.materialise(p, ds.split(p))
    tcfg = TrainConfig(epochs=args.epochs, patience=args.epochs + 1)
    result = train(data, cfg, tcfg, device=device, reporter=PlainReporter(io.StringIO()))
    print(
        f"training on {device} ({torch.get_num_threads()} threads): "
        f"{result.samples_per_s:,.0f} samples/s ({len(data.split.train)} samples x "
        f"{len(result.history)} epochs, {cfg.context} rows each, batch {tcfg.batch_size}, "
        f"{result.seconds:.1f} s)"
    )
    if device.type == "cpu" and torch.cuda.is_available():
        print("  (a GPU is present: run again with --device cuda for its figure)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--train-bars", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoint", default=None, help="bench a trained model instead")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    threads = torch.get_num_threads()
    inference(args)
    training(args, threads)


if __name__ == "__main__":
    main()
