"""How good is the model, honestly: metrics on the test split beside three baselines.

Metrics (of a classifier's hard predictions and class probabilities, classes down/flat/up):

* ``accuracy``; ``macro_f1``: F1 averaged over the classes present in the truth or predictions;
* ``auc_ovr``: area under the ROC curve of each class against the rest, from the probabilities
  (ties share their rank), averaged over the classes that have both positives and negatives;
  None when none has;
* ``brier``: the multi-class Brier score, mean over samples of sum_k (p_k - [y = k])^2 (0 is
  perfect, 2/3 is a uniform guess on three classes);
* ``hit_rate``: of the directional calls (predicted up or down), the share whose move went
  beyond the dead band in the called direction: a flat outcome (a move that would not pay for
  its costs) counts as a miss. ``calls`` is how many there were; ``net_bps`` the mean move in
  the called direction less the dead band (the cost of the round trip), in bps.

Baselines, fitted on the training split and scored on the same test samples:

* ``majority``: always the most frequent training class (probabilities: training frequencies);
* ``persistence``: the last move continues: the class of the past ``horizon`` bars' move under
  the same dead band (probabilities: the training frequency of each outcome after that class);
* ``logistic``: multinomial logistic regression (L2, full-batch gradient descent in numpy) on
  the same normalised features of the sample's bar.

Verdict: the model beats a baseline when its accuracy is higher by more than two standard
errors of the paired difference (per-sample correct/incorrect, model minus baseline); the report
says plainly when it does not beat all three. No torch here (a test holds it).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from desk.signals.model.labels import CLASSES, FLAT, UP

N = len(CLASSES)
Z_BEAT = 2.0

__all__ = [
    "Comparison",
    "Evaluation",
    "Metrics",
    "compare",
    "evaluate",
    "format_report",
    "logistic_baseline",
    "majority_baseline",
    "metrics",
    "persistence_baseline",
]


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    accuracy: float
    macro_f1: float
    auc_ovr: float | None
    brier: float
    hit_rate: float | None
    calls: int
    net_bps: float | None


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    """Model minus baseline accuracy, paired over the same samples."""

    gain: float
    se: float
    beats: bool


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    n_test: int
    class_counts: dict[str, int]
    model: Metrics
    baselines: dict[str, Metrics]
    comparisons: dict[str, Comparison]
    beats_baselines: bool
    verdict: str


def _ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1-based ranks, ties sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    edge = np.concatenate([[True], xs[1:] != xs[:-1], [True]])
    starts = np.flatnonzero(edge)
    mean_rank = (starts[:-1] + starts[1:] - 1) / 2.0 + 1.0
    ranks = np.empty(len(x))
    ranks[order] = mean_rank[np.cumsum(edge[:-1]) - 1]
    return ranks


def auc_ovr(y: Any, probs: Any) -> float | None:
    """Mean one-vs-rest ROC AUC over the classes with positives and negatives."""
    y, p = np.asarray(y), np.asarray(probs, dtype=np.float64)
    aucs = []
    for k in range(p.shape[1]):
        pos = y == k
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        r = _ranks(p[:, k])
        aucs.append((r[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else None


def macro_f1(y: Any, pred: Any) -> float:
    y, pred = np.asarray(y), np.asarray(pred)
    scores = []
    for k in np.union1d(y, pred):
        tp = np.sum((pred == k) & (y == k))
        fp = np.sum((pred == k) & (y != k))
        fn = np.sum((pred != k) & (y == k))
        scores.append(2.0 * tp / (2.0 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def metrics(y: Any, probs: Any, pred: Any, forward_bps: Any, band_bps: Any) -> Metrics:
    """Every metric of the module docstring for one set of predictions."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(N)[y]
    calls = pred != FLAT
    n_calls = int(calls.sum())
    hit = net = None
    if n_calls:
        hit = float(np.mean(y[calls] == pred[calls]))
        sign = np.where(pred[calls] == UP, 1.0, -1.0)
        move = sign * np.asarray(forward_bps)[calls] - np.asarray(band_bps)[calls]
        net = float(np.mean(move))
    return Metrics(
        n=len(y),
        accuracy=float(np.mean(pred == y)) if len(y) else math.nan,
        macro_f1=macro_f1(y, pred),
        auc_ovr=auc_ovr(y, p),
        brier=float(np.mean(np.sum((p - onehot) ** 2, axis=1))) if len(y) else math.nan,
        hit_rate=hit,
        calls=n_calls,
        net_bps=net,
    )


def _frequencies(y: Any) -> npt.NDArray[np.float64]:
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=N).astype(np.float64)
    return counts / max(1.0, counts.sum())


def majority_baseline(y_train: Any, n_test: int) -> tuple[npt.NDArray[Any], ...]:
    """(predictions, probabilities): the most frequent training class, at its frequencies."""
    freq = _frequencies(y_train)
    return np.full(n_test, int(np.argmax(freq))), np.tile(freq, (n_test, 1))


def persistence_baseline(
    past_train: Any, y_train: Any, past_test: Any
) -> tuple[npt.NDArray[Any], ...]:
    """(predictions, probabilities): the past move's class; P(outcome | that class) from train."""
    past_train, y_train = np.asarray(past_train), np.asarray(y_train)
    table = np.empty((N, N))
    for k in range(N):
        seen = y_train[past_train == k]
        table[k] = _frequencies(seen) if len(seen) else _frequencies(y_train)
    pred = np.asarray(past_test, dtype=np.int64)
    return pred, table[pred]


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logistic_baseline(
    x_train: Any, y_train: Any, x_test: Any, *, l2: float = 1e-3, iters: int = 500
) -> tuple[npt.NDArray[Any], ...]:
    """(predictions, probabilities) of multinomial logistic regression (module docstring).

    Full-batch gradient descent with Nesterov momentum from zero weights: deterministic.
    """
    x = np.asarray(x_train, dtype=np.float64)
    xt = np.asarray(x_test, dtype=np.float64)
    x = np.hstack([x, np.ones((len(x), 1))])
    xt = np.hstack([xt, np.ones((len(xt), 1))])
    onehot = np.eye(N)[np.asarray(y_train, dtype=np.int64)]
    w = np.zeros((x.shape[1], N))
    v = np.zeros_like(w)
    lr, mom = 0.5, 0.9
    reg = np.full((x.shape[1], 1), l2)
    reg[-1] = 0.0  # no penalty on the intercept
    for _ in range(iters):
        ahead = w + mom * v
        grad = x.T @ (_softmax(x @ ahead) - onehot) / len(x) + reg * ahead
        v = mom * v - lr * grad
        w = w + v
    probs = _softmax(xt @ w)
    return np.argmax(probs, axis=1), probs


def compare(y: Any, pred_model: Any, pred_base: Any) -> Comparison:
    """Paired accuracy difference and its standard error; beats when gain > 2 se."""
    y = np.asarray(y)
    d = (np.asarray(pred_model) == y).astype(np.float64) - (np.asarray(pred_base) == y)
    n = len(d)
    gain = float(d.mean()) if n else 0.0
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return Comparison(gain=gain, se=se, beats=gain > 0 and gain > Z_BEAT * se)


def evaluate(
    y: Any,
    model_probs: Any,
    forward_bps: Any,
    band_bps: Any,
    baselines: dict[str, tuple[Any, Any]],
) -> Evaluation:
    """The model (argmax of its probabilities) and each baseline's (pred, probs) on one split."""
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(model_probs, dtype=np.float64)
    pred = np.argmax(probs, axis=1)
    model = metrics(y, probs, pred, forward_bps, band_bps)
    base = {k: metrics(y, p, bp, forward_bps, band_bps) for k, (bp, p) in baselines.items()}
    comps = {k: compare(y, pred, bp) for k, (bp, _) in baselines.items()}
    beats = bool(comps) and all(c.beats for c in comps.values())
    if beats:
        worst = min(comps.values(), key=lambda c: c.gain)
        verdict = (
            f"The model beats every baseline on test accuracy, by at least "
            f"{100 * worst.gain:.1f} points (more than {Z_BEAT:g} standard errors)."
        )
    else:
        lost = ", ".join(
            f"{k} ({100 * c.gain:+.1f} points, se {100 * c.se:.1f})"
            for k, c in comps.items()
            if not c.beats
        )
        verdict = f"The model does NOT beat the baselines: no clear edge over {lost}."
    counts = np.bincount(y, minlength=N)
    return Evaluation(
        n_test=len(y),
        class_counts={name: int(counts[k]) for k, name in enumerate(CLASSES)},
        model=model,
        baselines=base,
        comparisons=comps,
        beats_baselines=beats,
        verdict=verdict,
    )


def _cell(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec`` ("8.3f"), or "-" right-aligned to its width."""
    if value is None or math.isnan(value):
        return "-".rjust(int(spec.split(".")[0]))
    return format(value, spec)


def format_report(ev: Evaluation, title: str = "test split") -> str:
    """A plain-text table of the evaluation, the class balance and the verdict."""
    counts = ", ".join(f"{k} {v}" for k, v in ev.class_counts.items())
    lines = [
        f"Evaluation on the {title}: {ev.n_test} samples ({counts})",
        f"{'':12} {'accuracy':>8} {'macro-F1':>8} {'AUC':>6} {'Brier':>6} "
        f"{'hit rate':>8} {'calls':>6} {'net bps':>8}",
    ]
    for name, m in [("model", ev.model), *ev.baselines.items()]:
        lines.append(
            f"{name:12} {_cell(m.accuracy, '8.3f')} {_cell(m.macro_f1, '8.3f')} "
            f"{_cell(m.auc_ovr, '6.3f')} {_cell(m.brier, '6.3f')} {_cell(m.hit_rate, '8.3f')} "
            f"{m.calls:6d} {_cell(m.net_bps, '8.2f')}"
        )
    lines.append(ev.verdict)
    return "\n".join(lines)
