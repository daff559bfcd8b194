"""Feature drift: how far the live feature rows have moved from what the model was trained on.

The training distribution of each feature is kept as bins (:class:`FeatureBins`): the deciles of
that feature over the training rows as edges, and the share of training rows in each bin. A
bin is ``(edges[k-1], edges[k]]``, the first ``(-inf, edges[0]]``, the last ``(edges[-1], inf)``;
repeated deciles collapse, so a constant feature has one edge and two bins (everything in the
first). Training stores the bins in the checkpoint card (``feature_bins``); a card written
before that has only the normalisation's mean and standard deviation, and
:func:`normal_bins` stands in: the deciles of a normal distribution with those moments (an
approximation that is wrong for skewed or constant features, said in the health view).

Drift is the population stability index of the last ``window`` live rows against those bins:
PSI = sum_k (a_k - e_k) ln(a_k / e_k), with a_k the live share and e_k the training share of bin
k (each floored at ``EPS`` so an empty bin does not make it infinite). The usual reading: below
0.1 no shift, 0.1-0.25 a moderate one, above 0.25 (``PSI_WARN``) a shift worth a warning. With n
live rows and B bins an undrifted feature still reads about (B - 1) / n from sampling noise
alone, so a warning waits for ``MIN_ROWS`` rows.

No torch here (a test holds it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

PSI_WARN = 0.25
MIN_ROWS = 200
EPS = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
# The deciles of the standard normal distribution (for cards without bins).
NORMAL_DECILES = (-1.2816, -0.8416, -0.5244, -0.2533, 0.0, 0.2533, 0.5244, 0.8416, 1.2816)

__all__ = [
    "MIN_ROWS",
    "PSI_WARN",
    "DriftTracker",
    "FeatureBins",
    "fit_bins",
    "normal_bins",
    "psi",
]


class FeatureBins(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One feature's training distribution: bin edges and the training share of each bin."""

    edges: list[float]
    fractions: list[float]  # len(edges) + 1, summing to 1

    def __post_init__(self) -> None:
        if len(self.fractions) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.edges)} bin edges need {len(self.edges) + 1} fractions, "
                f"got {len(self.fractions)}"
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"bin edges must be ascending and distinct: {self.edges}")


def fit_bins(rows: Any) -> list[FeatureBins]:
    """The bins of each column of ``rows`` (training rows; non-finite values are left out)."""
    x = np.asarray(rows, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"rows must be 2-D (rows, features), got shape {x.shape}")
    out = []
    for column in x.T:
        values = column[np.isfinite(column)]
        if values.size == 0:
            out.append(FeatureBins(edges=[], fractions=[1.0]))
            continue
        edges = np.unique(np.quantile(values, DECILES))
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
        out.append(
            FeatureBins(
                edges=[float(e) for e in edges],
                fractions=[float(c) for c in counts / values.size],
            )
        )
    return out


def normal_bins(mean: Sequence[float], std: Sequence[float]) -> list[FeatureBins]:
    """Deciles of N(mean, std) per feature, 10 % each: the stand-in for cards without bins."""
    out = []
    for m, s in zip(mean, std, strict=True):
        edges = [float(m + s * z) for z in NORMAL_DECILES]
        out.append(FeatureBins(edges=edges, fractions=[0.1] * 10))
    return out


def psi(expected: Sequence[float], counts: Any) -> float | None:
    """The PSI of live bin ``counts`` against the ``expected`` training shares (None: no rows)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return None
    actual = np.maximum(c / total, EPS)
    want = np.maximum(np.asarray(expected, dtype=np.float64), EPS)
    return float(np.sum((actual - want) * np.log(actual / want)))


class DriftTracker:
    """Bin counts of the last ``window`` live rows per feature, kept up to date as rows come.

    O(features) per row: each value is binned once when it arrives and its count taken back
    when it leaves the window. Non-finite values (a feature still warming up) are not counted.
    """

    def __init__(
        self, names: Sequence[str], bins: Sequence[FeatureBins], window: int = 1000
    ) -> None:
        if len(names) != len(bins):
            raise ValueError(f"{len(names)} feature names but {len(bins)} bins")
        self.names = tuple(names)
        self.bins = list(bins)
        self._edges = [np.asarray(b.edges, dtype=np.float64) for b in bins]
        self._counts = [np.zeros(len(b.fractions), dtype=np.int64) for b in bins]
        self._rows: deque[npt.NDArray[np.int64]] = deque()
        self.window = window

    @property
    def rows(self) -> int:
        return len(self._rows)

    def add(self, row: Any) -> None:
        values = np.asarray(row, dtype=np.float64)
        if values.shape != (len(self.names),):
            raise ValueError(f"a row must have {len(self.names)} values, got {values.shape}")
        slots = np.full(len(self.names), -1, dtype=np.int64)
        for j, value in enumerate(values.tolist()):
            if math.isfinite(value):
                slot = int(np.searchsorted(self._edges[j], value, side="left"))
                slots[j] = slot
                self._counts[j][slot] += 1
        self._rows.append(slots)
        if len(self._rows) > self.window:
            old = self._rows.popleft()
            for j, slot in enumerate(old.tolist()):
                if slot >= 0:
                    self._counts[j][slot] -= 1

    def psi(self) -> list[float | None]:
        """The PSI of each feature over the rows in the window (None where none counted)."""
        return [psi(b.fractions, c) for b, c in zip(self.bins, self._counts, strict=True)]

    def counted(self) -> list[int]:
        """How many finite values of each feature are in the window."""
        return [int(c.sum()) for c in self._counts]
