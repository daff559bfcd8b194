"""The training run behind ``desk train``: train each fold, evaluate it, save the checkpoint.

:func:`evaluate_model` scores a trained network on a dataset's test split beside the baselines
(:mod:`.evaluate`); :func:`train_and_save` trains one dataset (or each walk-forward fold), then
writes the last model with its card, whose ``metrics`` hold the test evaluation (and each
fold's with walk-forward) and whose ``feature_bins`` hold each feature's training distribution
(the live model's drift is measured against it). The :class:`TrainReport` it returns prints
as text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec
import numpy as np
import torch

from desk.signals.model import evaluate as ev
from desk.signals.model.checkpoint import DataRange, ModelCard, iso, save_checkpoint
from desk.signals.model.config import TrainSpec
from desk.signals.model.dataset import Dataset
from desk.signals.model.drift import fit_bins
from desk.signals.model.train import TrainResult, make_reporter, predict_proba, train

__all__ = ["FoldOutcome", "TrainReport", "evaluate_model", "train_and_save"]


def evaluate_model(network: Any, data: Dataset) -> ev.Evaluation:
    """The network and the three baselines on ``data``'s test split."""
    p, parts = data.prepared, data.split
    y_train, y_test = p.classes[parts.train], p.classes[parts.test]
    baselines = {
        "majority": ev.majority_baseline(y_train, len(y_test)),
        "persistence": ev.persistence_baseline(p.past[parts.train], y_train, p.past[parts.test]),
        "logistic": ev.logistic_baseline(data.x[parts.train], y_train, data.x[parts.test]),
    }
    probs = predict_proba(network, data, parts.test)
    return ev.evaluate(y_test, probs, p.forward_bps[parts.test], p.band_bps[parts.test], baselines)


@dataclass(frozen=True, eq=False)
class FoldOutcome:
    data: Dataset
    result: TrainResult
    evaluation: ev.Evaluation

    def training(self) -> dict[str, Any]:
        r = self.result
        return {
            "stopped": r.stopped,
            "epochs_run": len(r.history),
            "best_epoch": r.best_epoch,
            "best_val_loss": r.best_val_loss,
            "samples_per_s": r.samples_per_s,
            "seconds": r.seconds,
            "train_samples": len(self.data.split.train),
            "val_samples": len(self.data.split.val),
            "test_samples": len(self.data.split.test),
        }


@dataclass(frozen=True, eq=False)
class TrainReport:
    folds: list[FoldOutcome]
    checkpoint: Path
    card: ModelCard
    interrupted: bool

    def summary(self) -> dict[str, Any]:
        """The JSON object of ``--json``: the (last fold's) test evaluation, and the run."""
        last = self.folds[-1]
        out: dict[str, Any] = msgspec.to_builtins(last.evaluation)
        out["training"] = last.training()
        out["checkpoint"] = str(self.checkpoint)
        out["interrupted"] = self.interrupted
        if len(self.folds) > 1:
            out["walk_forward"] = [
                {**msgspec.to_builtins(f.evaluation), "training": f.training()} for f in self.folds
            ]
        return out

    def text(self) -> str:
        lines = []
        for k, fold in enumerate(self.folds, 1):
            title = f"test split of fold {k}/{len(self.folds)}" if len(self.folds) > 1 else None
            lines.append(ev.format_report(fold.evaluation, title or "test split"))
            lines.append("")
        if len(self.folds) > 1:
            lines.append(_walk_forward_table(self.folds))
            lines.append("")
        note = " (interrupted: best weights so far)" if self.interrupted else ""
        lines.append(f"checkpoint written to {self.checkpoint}{note}")
        return "\n".join(lines)


def _walk_forward_table(folds: list[FoldOutcome]) -> str:
    names = ["model", *folds[0].evaluation.baselines]
    acc = {n: [] for n in names}  # type: dict[str, list[float]]
    for f in folds:
        acc["model"].append(f.evaluation.model.accuracy)
        for n, m in f.evaluation.baselines.items():
            acc[n].append(m.accuracy)
    beaten = sum(f.evaluation.beats_baselines for f in folds)
    row = ", ".join(f"{n} {np.mean(v):.3f}" for n, v in acc.items())
    return (
        f"walk-forward over {len(folds)} folds, mean test accuracy: {row}; the model beat every "
        f"baseline in {beaten} of {len(folds)} folds"
    )


def _data_range(data: Dataset) -> DataRange:
    lo, hi = data.data_range()
    p = data.prepared
    return DataRange(
        symbols=[s.symbol for s in p.series],
        timeframe=p.series[0].timeframe,
        sources=sorted({s.source for s in p.series}),
        start_ns=lo,
        end_ns=hi,
        start=iso(lo),
        end=iso(hi),
        bars=int(np.sum((p.end_ns >= lo) & (p.end_ns <= hi))),
    )


def train_and_save(
    datasets: list[Dataset],
    spec: TrainSpec,
    device: torch.device,
    out_dir: Path,
    progress: TextIO,
) -> TrainReport:
    """Train and evaluate each dataset in turn; save the last model. KeyboardInterrupt before
    the first epoch of the first dataset propagates (nothing to save)."""
    folds: list[FoldOutcome] = []
    interrupted = False
    for data in datasets:
        try:
            reporter = make_reporter(progress)
            result = train(data, spec.model, spec.train, device=device, reporter=reporter)
        except KeyboardInterrupt:
            if not folds:
                raise
            interrupted = True
            break
        folds.append(FoldOutcome(data, result, evaluate_model(result.network, data)))
        if result.stopped == "interrupted":
            interrupted = True
            break
    last = folds[-1]
    metrics: dict[str, Any] = {"test": msgspec.to_builtins(last.evaluation)}
    if len(folds) > 1:
        metrics["walk_forward"] = [msgspec.to_builtins(f.evaluation) for f in folds]
    card = save_checkpoint(
        out_dir,
        last.result.network,
        normalizer=last.data.normalizer,
        features=spec.features,
        label=spec.labels,
        data=_data_range(last.data),
        metrics=metrics,
        train={
            "config": msgspec.to_builtins(spec.train),
            "device": str(device),
            **last.training(),
            "history": last.result.history,
        },
        target_scale_bps=last.result.target_scale,
        # the raw rows of the training samples' bars: the distribution drift is measured from
        feature_bins=fit_bins(last.data.prepared.raw[last.data.split.train]),
    )
    return TrainReport(folds, out_dir, card, interrupted)
