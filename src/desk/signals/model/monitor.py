"""A live model's health: how good its predictions turn out, how far its inputs drift, how fresh.

:class:`ModelMonitor` is fed, on the event loop, every bar a model's bots see
(:meth:`~ModelMonitor.on_bar`: the close, the raw feature row) and every prediction the model
makes (:meth:`~ModelMonitor.on_prediction`). It keeps, per series (one bot's bars):

* **the outcome of each prediction**, once its ``horizon`` bars have passed: the class of the
  move from the bar's close to the close ``horizon`` bars later under the card's dead band
  (:mod:`.labels`: round-trip fees + half the bar's spread, or the fixed band), exactly as the
  training labels were made;
* **the live baselines** on the same bars, each knowing only what was known at the bar:
  persistence (the class of the last ``horizon`` bars' move continues) and majority (the most
  frequent outcome among the predictions resolved so far; flat before any);
* **scores** over the last ``window`` resolved bars: accuracy and hit rate (of the directional
  calls, the share whose move went beyond the dead band that way, as :mod:`.evaluate` defines
  it) for the model and both baselines, and the model's multi-class Brier score. Only warm
  predictions count (the worker marks the ones made before the series saw ``burn_in + window``
  bars); late ones count too: lateness is the engine's problem, not the model's;
* **drift** of the raw feature rows against the training distribution (:mod:`.drift`);
* **staleness**: when the last input arrived, against the bar length.

:meth:`~ModelMonitor.snapshot` folds that and the inference worker's latency figures into a
:class:`ModelHealth` with its warnings (drift above 0.25, stale inputs, late predictions,
a backed-up queue, inference errors). No torch here (a test holds it).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from desk.signals.model.card import ModelCard
from desk.signals.model.drift import MIN_ROWS, PSI_WARN, DriftTracker
from desk.signals.model.labels import DOWN, FLAT, UNKNOWN, UP

NS_PER_S = 1_000_000_000
LATE_WARN = 0.1  # share of recent predictions
QUEUE_WARN = 10  # bars waiting for the worker
STALE_BARS = 3.0  # no input for this many bar lengths
STALE_SLACK_S = 5.0

__all__ = ["FeatureDrift", "LiveScore", "ModelHealth", "ModelMonitor"]


class LiveScore(msgspec.Struct, frozen=True, kw_only=True):
    """One predictor's record over the resolved bars: ``hit_rate`` None without a call."""

    n: int = 0
    accuracy: float | None = None
    hit_rate: float | None = None
    calls: int = 0


class FeatureDrift(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    psi: float | None
    rows: int
    warn: bool


class ModelHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the model view shows of one live model (times in ns, latencies in µs)."""

    model_id: str
    path: str
    created_ns: int
    age_s: float
    train_start: str
    train_end: str
    symbols: list[str]
    timeframe: str
    horizon: int
    bots: list[str]
    device: str
    predictions: int
    late: int
    dropped: int
    errors: int
    queued: int
    per_second: float
    infer_p50_us: float | None
    infer_p99_us: float | None
    wait_p50_us: float | None
    wait_p99_us: float | None
    model: LiveScore
    persistence: LiveScore
    majority: LiveScore
    brier: float | None
    test_accuracy: float | None
    test_hit_rate: float | None
    drift: list[FeatureDrift]
    drift_exact: bool
    input_age_s: float | None
    warnings: list[str]


@dataclass(eq=False)
class _Bar:
    """One bar of one series waiting for its outcome."""

    end_ns: int
    close: float
    band_bps: float
    persistence: int
    majority: int
    probs: tuple[float, float, float] | None = None
    direction: int = UNKNOWN


@dataclass(eq=False)
class _Series:
    bars: deque[_Bar]
    bar_ns: int = 0


@dataclass(eq=False)
class _Resolved:
    """Resolved bars, newest last, bounded: (outcome, prediction) pairs per predictor."""

    model: deque[tuple[int, int]] = field(default_factory=deque)
    persistence: deque[tuple[int, int]] = field(default_factory=deque)
    majority: deque[tuple[int, int]] = field(default_factory=deque)
    brier: deque[float] = field(default_factory=deque)


def _score(pairs: deque[tuple[int, int]]) -> LiveScore:
    if not pairs:
        return LiveScore()
    outcome = np.fromiter((o for o, _ in pairs), dtype=np.int64, count=len(pairs))
    called = np.fromiter((p for _, p in pairs), dtype=np.int64, count=len(pairs))
    calls = (called == UP) | (called == DOWN)
    n_calls = int(calls.sum())
    return LiveScore(
        n=len(pairs),
        accuracy=float(np.mean(outcome == called)),
        hit_rate=float(np.mean(outcome[calls] == called[calls])) if n_calls else None,
        calls=n_calls,
    )


class ModelMonitor:
    """The live record of one model over every series it serves (module docstring)."""

    def __init__(self, card: ModelCard, *, window: int = 500, drift_window: int = 1000) -> None:
        self.card = card
        self.horizon = card.label.horizon
        self.window = window
        bins, self.drift_exact = card.training_bins()
        self.drift = DriftTracker(card.features, bins, drift_window)
        names = card.features
        self._spread_col = names.index("spread_bps") if "spread_bps" in names else -1
        self._series: dict[str, _Series] = {}
        self._resolved = _Resolved()
        self._outcomes: Counter[int] = Counter()
        self._recent_late: deque[bool] = deque(maxlen=200)
        self.last_input_ns = 0
        self.predictions = 0
        self.late = 0

    # -- feeding ------------------------------------------------------------------------------

    def on_bar(
        self, series: str, end_ns: int, close: float, row: Any, received_ns: int, bar_ns: int = 0
    ) -> None:
        """One closed bar of ``series`` with its raw feature row (NaN while warming up)."""
        self.last_input_ns = max(self.last_input_ns, received_ns)
        values = np.asarray(row, dtype=np.float64)
        self.drift.add(values)
        s = self._series.get(series)
        if s is None:
            s = self._series[series] = _Series(deque(maxlen=self.horizon), bar_ns)
        s.bar_ns = bar_ns or s.bar_ns
        band = self._band(values)
        persistence = UNKNOWN
        if len(s.bars) == self.horizon:
            old = s.bars[0]  # the bar `horizon` bars back: resolved now
            move = _move_bps(old.close, close)
            self._resolve(old, _classify(move, old.band_bps))
            persistence = _classify(move, band)
        majority = max((FLAT, DOWN, UP), key=lambda k: self._outcomes[k])
        s.bars.append(_Bar(end_ns, float(close), band, persistence, majority))

    def on_prediction(self, series: str, prediction: Any, late: bool) -> None:
        """A prediction of the worker (:class:`~.inference.Prediction`) and whether it was late."""
        self.predictions += 1
        self.late += int(late)
        self._recent_late.append(late)
        s = self._series.get(series)
        if s is None or not prediction.warm:
            return
        for bar in reversed(s.bars):
            if bar.end_ns == prediction.bar_end_ns:
                bar.probs = tuple(prediction.probs)
                bar.direction = int(prediction.direction)
                return

    def forget(self, series: str) -> None:
        """Drop a series that no longer feeds this model (its scores so far stay)."""
        self._series.pop(series, None)

    def _band(self, row: np.ndarray) -> float:
        label = self.card.label
        if label.dead_band_bps is not None:
            return float(label.dead_band_bps)
        spread = label.spread_bps
        if self._spread_col >= 0:
            value = float(row[self._spread_col])
            if math.isfinite(value) and value > 0.0:
                spread = value
        return 2.0 * label.fee_bps + 0.5 * spread

    def _resolve(self, bar: _Bar, outcome: int) -> None:
        if outcome == UNKNOWN:
            return
        r = self._resolved
        self._outcomes[outcome] += 1
        _push(r.majority, (outcome, bar.majority), self.window)
        if bar.persistence != UNKNOWN:
            _push(r.persistence, (outcome, bar.persistence), self.window)
        if bar.probs is not None:
            _push(r.model, (outcome, bar.direction), self.window)
            truth = np.zeros(3)
            truth[outcome] = 1.0
            _push(r.brier, float(np.sum((np.asarray(bar.probs) - truth) ** 2)), self.window)

    # -- reading ------------------------------------------------------------------------------

    def snapshot(
        self,
        *,
        model_id: str,
        path: str,
        bots: list[str],
        stats: Any,
        now_ns: int,
    ) -> ModelHealth:
        """This model's health now; ``stats``: the worker's :class:`~.inference.WorkerStats`."""
        card = self.card
        rows = self.drift.counted()
        drift = [
            FeatureDrift(
                name=name,
                psi=value,
                rows=n,
                warn=value is not None and n >= MIN_ROWS and value > PSI_WARN,
            )
            for name, value, n in zip(card.features, self.drift.psi(), rows, strict=True)
        ]
        created = card.created_ns()
        input_age = (now_ns - self.last_input_ns) / NS_PER_S if self.last_input_ns else None
        test = card.metrics.get("test", {}).get("model", {}) if card.metrics else {}
        health = ModelHealth(
            model_id=model_id,
            path=path,
            created_ns=created,
            age_s=(now_ns - created) / NS_PER_S if created else 0.0,
            train_start=card.data.start,
            train_end=card.data.end,
            symbols=list(card.data.symbols),
            timeframe=card.data.timeframe,
            horizon=self.horizon,
            bots=bots,
            device="cpu",
            predictions=self.predictions,
            late=self.late,
            dropped=stats.dropped,
            errors=stats.errors,
            queued=stats.queued,
            per_second=stats.per_second,
            infer_p50_us=stats.infer_p50_us,
            infer_p99_us=stats.infer_p99_us,
            wait_p50_us=stats.wait_p50_us,
            wait_p99_us=stats.wait_p99_us,
            model=_score(self._resolved.model),
            persistence=_score(self._resolved.persistence),
            majority=_score(self._resolved.majority),
            brier=float(np.mean(self._resolved.brier)) if self._resolved.brier else None,
            test_accuracy=test.get("accuracy"),
            test_hit_rate=test.get("hit_rate"),
            drift=drift,
            drift_exact=self.drift_exact,
            input_age_s=input_age,
            warnings=[],
        )
        return msgspec.structs.replace(health, warnings=self._warnings(health))

    def _warnings(self, h: ModelHealth) -> list[str]:
        out = []
        drifted = sorted((d for d in h.drift if d.warn), key=lambda d: -(d.psi or 0.0))
        if drifted:
            worst = ", ".join(f"{d.name} {d.psi:.2f}" for d in drifted[:3])
            out.append(f"drift PSI > {PSI_WARN}: {worst}")
        bar_s = max((s.bar_ns for s in self._series.values()), default=0) / NS_PER_S
        age = h.input_age_s
        if age is not None and bar_s and age > STALE_BARS * bar_s + STALE_SLACK_S:
            out.append(f"inputs stale {h.input_age_s:.0f}s")
        late = sum(self._recent_late)
        if self._recent_late and late / len(self._recent_late) > LATE_WARN:
            out.append(f"late {late}/{len(self._recent_late)} predictions")
        if h.queued > QUEUE_WARN:
            out.append(f"inference queue {h.queued}")
        if h.errors or h.dropped:
            out.append(f"inference errors {h.errors}, dropped {h.dropped}")
        return out


def _push(items: deque[Any], item: Any, limit: int) -> None:
    items.append(item)
    if len(items) > limit:
        items.popleft()


def _move_bps(old: float, new: float) -> float:
    if not (old > 0.0 and new > 0.0):
        return math.nan
    return math.log(new / old) * 1e4


def _classify(move_bps: float, band_bps: float) -> int:
    """As :func:`~.labels.classify`, for one move."""
    if math.isnan(move_bps):
        return UNKNOWN
    if move_bps > band_bps:
        return UP
    if move_bps < -band_bps:
        return DOWN
    return FLAT
