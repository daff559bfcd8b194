"""From series to samples: purged, time-ordered splits and train-only normalisation.

A sample is a bar t of one series: its input is the window of the last ``context`` feature rows
(t - context + 1 .. t, all NaN-free), its target the label of bar t. Samples never mix series.

Splits are in time order, per series, never shuffled across time: the first part of a series'
samples trains, the next validates (early stopping), the last tests. Between two parts a purge
gap of ``horizon`` bars holds no sample, so no training label (which looks ``horizon`` bars
ahead) reaches into the bars a later part is scored on. Shuffling happens only inside the
training part, between epochs. Walk-forward (:func:`walk_forward`) makes K successive folds:
the samples are cut into K + 1 blocks in time, and fold k trains (and validates, on the tail
of its training span) on blocks 0 .. k-1 and tests on block k, with the same purge gaps.

Normalisation (:class:`Normalizer`): per feature, (x - mean) / std with the mean and standard
deviation of the rows the training windows cover only (no statistic of the validation or test
rows leaks in), clipped to +-``clip``. A constant feature (std 0, e.g. a book input the data does
not have) gets std 1, so it reads 0.

No torch here (a test holds it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from desk.signals.model.data import MarketSeries
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import UNKNOWN, LabelConfig, make_labels, past_classes

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
DEFAULT_CLIP = 8.0


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Per-feature (x - mean) / std, clipped to +-clip; fitted on training rows only."""

    mean: FloatArray
    std: FloatArray
    clip: float = DEFAULT_CLIP

    @classmethod
    def fit(cls, rows: Any, clip: float = DEFAULT_CLIP) -> Normalizer:
        x = np.asarray(rows, dtype=np.float64)
        x = x[np.all(np.isfinite(x), axis=1)]
        if x.shape[0] == 0:
            raise ValueError("no NaN-free rows to fit the normalisation on")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[~(std > 1e-12)] = 1.0
        return cls(mean, std, clip)

    def apply(self, rows: Any) -> npt.NDArray[np.float32]:
        """Normalised float32 rows (any leading shape; the last axis is the features)."""
        z = (np.asarray(rows, dtype=np.float64) - self.mean) / self.std
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "clip": self.clip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
        if mean.shape != std.shape or mean.ndim != 1 or not np.all(std > 0):
            raise ValueError("normalisation: mean and std must be equal-length, std > 0")
        return cls(mean, std, float(data["clip"]))


@dataclass(frozen=True)
class SeriesInfo:
    symbol: str
    timeframe: str
    source: str
    start_ns: int  # first bar's end
    end_ns: int  # last bar's end
    bars: int
    offset: int  # its first row in the concatenated arrays


@dataclass(frozen=True, eq=False)
class Prepared:
    """Features and labels of every series, concatenated; the valid sample ends per series."""

    raw: FloatArray  # (rows, features), NaN in the warm-up
    classes: IntArray
    forward_bps: FloatArray
    band_bps: FloatArray
    past: IntArray  # persistence: the class of the last horizon bars' move
    end_ns: npt.NDArray[np.int64]
    valid: list[IntArray]  # per series: rows whose window is NaN-free and label known
    series: list[SeriesInfo]
    names: tuple[str, ...]
    features: FeatureConfig
    labels: LabelConfig
    context: int


@dataclass(frozen=True, eq=False)
class Split:
    """Sample ends (rows of the concatenated arrays), each part in time order per series."""

    train: IntArray
    val: IntArray
    test: IntArray


@dataclass(frozen=True, eq=False)
class Dataset:
    """A split with its inputs normalised by statistics of its training rows."""

    prepared: Prepared
    split: Split
    normalizer: Normalizer
    x: npt.NDArray[np.float32] = field(repr=False)  # (rows, features), non-finite -> 0

    @property
    def context(self) -> int:
        return self.prepared.context

    def windows(self, ends: Any) -> IntArray:
        """Row indices (samples, context) of the input windows ending at ``ends``."""
        e = np.asarray(ends, dtype=np.int64)
        return e[:, None] + np.arange(1 - self.context, 1, dtype=np.int64)[None, :]

    def data_range(self) -> tuple[int, int]:
        """First and last bar end (ns) any sample of the split reads or is labelled by."""
        ends = np.concatenate([self.split.train, self.split.val, self.split.test])
        lo = self.prepared.end_ns[int(ends.min()) - self.context + 1]
        hi_row = min(int(ends.max()) + self.prepared.labels.horizon, len(self.prepared.end_ns) - 1)
        return int(lo), int(self.prepared.end_ns[hi_row])


def prepare(
    series: Sequence[MarketSeries],
    features: FeatureConfig | None = None,
    labels: LabelConfig | None = None,
    context: int = 64,
) -> Prepared:
    """Features, labels and valid sample ends of each series (``context`` rows per window)."""
    fcfg, lcfg = features or FeatureConfig(), labels or LabelConfig()
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    parts: list[tuple[Any, ...]] = []
    infos, valid = [], []
    offset = 0
    for s in series:
        raw = s.features(fcfg)
        spread = s.spread_bps()
        lab = make_labels(s.close, lcfg, spread)
        past = past_classes(s.close, lcfg, spread)
        bad = np.concatenate([[0], np.cumsum(~np.all(np.isfinite(raw), axis=1))])
        rows = np.arange(context - 1, len(s), dtype=np.int64)
        clean = (bad[rows + 1] - bad[rows + 1 - context]) == 0
        ok = rows[clean & (lab.classes[rows] != UNKNOWN)]
        valid.append(ok + offset)
        parts.append((raw, lab.classes, lab.forward_bps, lab.band_bps, past, s.end_ns))
        start, end = (int(s.end_ns[0]), int(s.end_ns[-1])) if len(s) else (0, 0)
        infos.append(SeriesInfo(s.symbol, s.timeframe, s.source, start, end, len(s), offset))
        offset += len(s)
    if not parts:
        raise ValueError("no series given")
    cols = [np.concatenate([p[k] for p in parts]) for k in range(6)]
    return Prepared(
        *cols, valid=valid, series=infos, names=feature_names(fcfg),
        features=fcfg, labels=lcfg, context=context,
    )  # fmt: skip


def _cut(ends: IntArray, start: int, stop: int, purge: int, prev_end: int | None) -> IntArray:
    """ends[start:stop], less the samples within ``purge`` bars after ``prev_end``."""
    part = ends[start:stop]
    if prev_end is not None:
        part = part[part > prev_end + purge]
    return part


def _three_way(ends: IntArray, val_fraction: float, test_fraction: float, purge: int) -> Split:
    n = len(ends)
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    a, b = n - n_test - n_val, n - n_test
    train = ends[:a]
    val = _cut(ends, a, b, purge, int(train[-1]) if len(train) else None)
    test = _cut(ends, b, n, purge, _last(Split(train, val, train[:0])))
    return Split(train, val, test)


def _last(parts: Split) -> int | None:
    """The last sample end of train and val (None when both are empty)."""
    both = np.concatenate([parts.train, parts.val])
    return int(both.max()) if len(both) else None


def _join(parts: list[Split]) -> Split:
    def cat(name: str) -> IntArray:
        return np.concatenate([getattr(p, name) for p in parts]).astype(np.int64)

    return Split(cat("train"), cat("val"), cat("test"))


def split(prepared: Prepared, val_fraction: float = 0.15, test_fraction: float = 0.15) -> Split:
    """The time-ordered train / val / test split with purge gaps (module docstring)."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in (0, 1) and sum below 1")
    h = prepared.labels.horizon
    return _join([_three_way(v, val_fraction, test_fraction, h) for v in prepared.valid])


def walk_forward(prepared: Prepared, folds: int, val_fraction: float = 0.15) -> list[Split]:
    """K expanding-window folds: fold k trains on blocks 0..k-1 and tests on block k."""
    if folds < 1:
        raise ValueError(f"walk-forward needs at least one fold, got {folds}")
    h = prepared.labels.horizon
    out = []
    for k in range(1, folds + 1):
        parts = []
        for ends in prepared.valid:
            edges = np.linspace(0, len(ends), folds + 2).round().astype(int)
            inner = _three_way(ends[: edges[k]], val_fraction, 0.0, h)
            test = _cut(ends, edges[k], edges[k + 1], h, _last(inner))
            parts.append(Split(inner.train, inner.val, test))
        out.append(_join(parts))
    return out


def materialise(prepared: Prepared, parts: Split, clip: float = DEFAULT_CLIP) -> Dataset:
    """Fit the normalisation on the rows the training windows cover; normalise every row."""
    if len(parts.train) == 0 or len(parts.val) == 0 or len(parts.test) == 0:
        sizes = f"train {len(parts.train)}, val {len(parts.val)}, test {len(parts.test)}"
        raise ValueError(f"not enough samples for a split ({sizes}): more data or less context")
    covered = np.zeros(len(prepared.raw), dtype=bool)
    for info in prepared.series:
        mine = parts.train[(parts.train >= info.offset) & (parts.train < info.offset + info.bars)]
        if len(mine):
            covered[int(mine.min()) - prepared.context + 1 : int(mine.max()) + 1] = True
    normalizer = Normalizer.fit(prepared.raw[covered], clip)
    x = normalizer.apply(prepared.raw)
    x[~np.isfinite(x)] = 0.0
    return Dataset(prepared, parts, normalizer, x)
