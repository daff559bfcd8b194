"""Training: mini-batches of windows from the training split, early stopping on validation loss.

:func:`train` fits a fresh network (:func:`~.network.build_model`) on a :class:`~.dataset.Dataset`:

* each epoch shuffles the *training* samples (a generator seeded from ``seed`` and the epoch:
  the same seed gives the same run), runs Adam on the cross-entropy of the class (plus, with
  ``regression``, ``regression_weight`` times the squared error of the forward return in units
  of its training standard deviation), with gradients clipped to ``clip_norm``;
* after each epoch the validation loss decides: a loss lower than the best by more than
  ``min_delta`` keeps a copy of the weights; ``patience`` epochs without one stop the run;
* Ctrl-C (KeyboardInterrupt) stops it cleanly between two batches: the best weights so far are
  kept and the result says ``stopped="interrupted"``; an interrupt before the first validation
  re-raises, as there is nothing worth keeping.

Progress goes to a :class:`Reporter`: :func:`make_reporter` gives a rich progress bar (epoch,
batch, train / validation loss, ETA) on a terminal and plain log lines otherwise.

``device``: ``"auto"`` (CUDA when torch sees a GPU, else the CPU), ``"cpu"`` or ``"cuda"``
(refused with a clear message when there is none); see :func:`resolve_device`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TextIO

import numpy as np
import torch
from torch import nn

from desk.signals.model.config import ModelConfig, TrainConfig
from desk.signals.model.dataset import Dataset
from desk.signals.model.network import N_CLASSES, LstmAttention, build_model

log = logging.getLogger("desk.model")

__all__ = [
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "TrainResult",
    "make_reporter",
    "predict_proba",
    "resolve_device",
    "train",
]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` (or ``cuda:N``) as a torch device; ValueError if unusable."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {name}: torch {torch.__version__} sees no CUDA device "
                "(a CPU-only build, or no GPU here); use --device cpu or auto"
            )
        return torch.device(name)
    raise ValueError(f"unknown device {name!r}: auto, cpu or cuda")


class Reporter(Protocol):
    def start(self, epochs: int, batches: int, samples: int, device: str) -> None: ...
    def batch(self, epoch: int, index: int, loss: float) -> None: ...
    def epoch(self, epoch: int, train_loss: float, val_loss: float, best: float) -> None: ...
    def finish(self, message: str) -> None: ...


class PlainReporter:
    """One log line per epoch (and the start and the end) on ``stream``: for pipes and logs."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.epochs = 0
        self._t0 = 0.0

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, epochs: int, batches: int, samples: int, device: str) -> None:
        self.epochs = epochs
        self._t0 = time.perf_counter()
        self._line(
            f"training: {samples} samples, {batches} batches/epoch, up to {epochs} epochs"
            f" on {device}"
        )

    def batch(self, epoch: int, index: int, loss: float) -> None:
        pass

    def epoch(self, epoch: int, train_loss: float, val_loss: float, best: float) -> None:
        took = time.perf_counter() - self._t0
        eta = took / epoch * (self.epochs - epoch)
        mark = " *" if val_loss == best else ""
        self._line(
            f"epoch {epoch}/{self.epochs}: train loss {train_loss:.4f}, val loss {val_loss:.4f}"
            f"{mark} (best {best:.4f}; {took:.1f} s, at most {eta:.0f} s left)"
        )

    def finish(self, message: str) -> None:
        self._line(message)


class RichReporter:
    """A rich progress bar: epochs and batches, train / validation loss, ETA (on a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream or sys.stderr)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._epochs: Any = None
        self._batches: Any = None
        self._losses = ""

    def start(self, epochs: int, batches: int, samples: int, device: str) -> None:
        self.console.print(f"training: {samples} samples on {device}")
        self.progress.start()
        self._epochs = self.progress.add_task("epoch", total=epochs, losses="")
        self._batches = self.progress.add_task("batch", total=batches, losses="")

    def batch(self, epoch: int, index: int, loss: float) -> None:
        if index == 1:
            self.progress.reset(self._batches, losses="")
        self.progress.update(self._batches, completed=index, losses=f"train {loss:.4f}")

    def epoch(self, epoch: int, train_loss: float, val_loss: float, best: float) -> None:
        losses = f"train {train_loss:.4f}  val {val_loss:.4f}  best {best:.4f}"
        self.progress.update(self._epochs, completed=epoch, losses=losses)

    def finish(self, message: str) -> None:
        self.progress.stop()
        self.console.print(message)


def make_reporter(stream: TextIO | None = None) -> Reporter:
    """A RichReporter when ``stream`` (default stderr) is a terminal, else a PlainReporter."""
    out = stream or sys.stderr
    return RichReporter(out) if out.isatty() else PlainReporter(out)


@dataclass
class TrainResult:
    network: LstmAttention  # with the best weights, in eval mode
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    stopped: Literal["early", "epochs", "interrupted"] = "epochs"
    samples_per_s: float = 0.0
    target_scale: float = 1.0  # the regression target's training std (bps)
    seconds: float = 0.0


class _Tensors:
    """The dataset's arrays on the device, and batches of windows gathered from them."""

    def __init__(self, data: Dataset, device: torch.device) -> None:
        self.x = torch.from_numpy(data.x).to(device)
        self.y = torch.from_numpy(data.prepared.classes).to(device)
        fwd = data.prepared.forward_bps[data.split.train]
        self.scale = float(np.std(fwd)) or 1.0
        target = np.nan_to_num(data.prepared.forward_bps / self.scale).astype(np.float32)
        self.target = torch.from_numpy(target).to(device)
        self.offsets = torch.arange(1 - data.context, 1, device=device)
        self.device = device

    def batch(self, ends: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rows = ends[:, None] + self.offsets[None, :]
        return self.x[rows], self.y[ends], self.target[ends]


def _loss(out: torch.Tensor, y: torch.Tensor, target: torch.Tensor, weight: float) -> torch.Tensor:
    loss = nn.functional.cross_entropy(out[:, :N_CLASSES], y)
    if out.shape[1] > N_CLASSES:
        loss = loss + weight * nn.functional.mse_loss(out[:, N_CLASSES], target)
    return loss


@torch.no_grad()
def _evaluate_loss(net: LstmAttention, t: _Tensors, ends: torch.Tensor, cfg: TrainConfig) -> float:
    net.eval()
    total = 0.0
    for i in range(0, len(ends), cfg.batch_size):
        x, y, target = t.batch(ends[i : i + cfg.batch_size])
        total += float(_loss(net(x), y, target, cfg.regression_weight)) * len(y)
    return total / max(1, len(ends))


def train(
    data: Dataset,
    model: ModelConfig | None = None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "auto",
    reporter: Reporter | None = None,
    regression: bool | None = None,
) -> TrainResult:
    """Fit a fresh network on ``data`` (module docstring); returns it with the best weights."""
    mcfg, cfg = model or ModelConfig(), config or TrainConfig()
    if mcfg.context != data.context:
        raise ValueError(f"dataset windows hold {data.context} rows, the model {mcfg.context}")
    dev = resolve_device(device) if isinstance(device, str) else device
    if dev.type == "cpu":
        torch.set_num_threads(cfg.threads)  # see TrainConfig.threads
    reg = data.prepared.labels.regression if regression is None else regression
    rep = reporter or PlainReporter()
    net = build_model(mcfg, data.x.shape[1], reg).to(dev)
    t = _Tensors(data, dev)
    result = TrainResult(net, target_scale=t.scale)
    train_ends = torch.from_numpy(data.split.train).to(dev)
    val_ends = torch.from_numpy(data.split.val).to(dev)
    batches = math.ceil(len(train_ends) / cfg.batch_size)
    rep.start(cfg.epochs, batches, len(train_ends), str(dev))
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global generator
        torch.manual_seed(cfg.seed)
        seen = _epochs(net, t, train_ends, val_ends, cfg, rep, result)
    result.seconds = time.perf_counter() - t0
    result.samples_per_s = seen / result.seconds if result.seconds > 0 else 0.0
    net.eval()
    rep.finish(
        f"training stopped ({result.stopped}) after {len(result.history)} epochs: best val loss "
        f"{result.best_val_loss:.4f} at epoch {result.best_epoch}, "
        f"{result.samples_per_s:,.0f} samples/s"
    )
    return result


def _epochs(
    net: LstmAttention,
    t: _Tensors,
    train_ends: torch.Tensor,
    val_ends: torch.Tensor,
    cfg: TrainConfig,
    rep: Reporter,
    result: TrainResult,
) -> int:
    """The epoch loop; leaves the best weights in ``net``; returns the samples trained on."""
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    batches = math.ceil(len(train_ends) / cfg.batch_size)
    best_state: dict[str, torch.Tensor] | None = None
    stale = seen = 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            net.train()
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = train_ends[torch.randperm(len(train_ends), generator=gen).to(t.device)]
            total = 0.0
            for b in range(batches):
                x, y, target = t.batch(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
                opt.zero_grad(set_to_none=True)
                loss = _loss(net(x), y, target, cfg.regression_weight)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_norm)
                opt.step()
                value = loss.item()
                total += value * len(y)
                seen += len(y)
                rep.batch(epoch, b + 1, value)
            train_loss = total / len(train_ends)
            val_loss = _evaluate_loss(net, t, val_ends, cfg)
            result.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            if val_loss < result.best_val_loss - cfg.min_delta:
                result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
            rep.epoch(epoch, train_loss, val_loss, result.best_val_loss)
            if stale >= cfg.patience:
                result.stopped = "early"
                break
    except KeyboardInterrupt:
        if best_state is None:
            rep.finish("interrupted before the first epoch finished: nothing kept")
            raise
        result.stopped = "interrupted"
    if best_state is not None:
        net.load_state_dict(best_state)
    return seen


@torch.no_grad()
def predict_proba(
    net: LstmAttention, data: Dataset, ends: Any, batch_size: int = 1024
) -> np.ndarray:
    """Class probabilities (samples, 3) of the windows ending at ``ends``."""
    net.eval()
    dev = next(net.parameters()).device
    x = torch.from_numpy(data.x).to(dev)
    idx = torch.from_numpy(data.windows(ends)).to(dev)
    out = [net.probabilities(x[idx[i : i + batch_size]]) for i in range(0, len(idx), batch_size)]
    if not out:
        return np.empty((0, N_CLASSES))
    return torch.cat(out).cpu().numpy().astype(np.float64)
