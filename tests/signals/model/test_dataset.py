"""Splits in time order with purge gaps, windows inside one series, train-only statistics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from desk.signals.model import dataset as ds
from desk.signals.model.labels import LabelConfig
from tests.signals.model.synthetic import random_walk

H = 3
LABELS = LabelConfig(horizon=H, dead_band_bps=5.0)


def _prepared(*sizes: int, context: int = 10) -> ds.Prepared:
    series = [random_walk(n, seed=k, symbol=f"S{k}-USDT") for k, n in enumerate(sizes)]
    return ds.prepare(series, labels=LABELS, context=context)


def _check_ordered(*parts: np.ndarray, offsets: list[int]) -> None:
    for lo, hi in zip(offsets, [*offsets[1:], 1 << 62], strict=True):
        mine = [p[(p >= lo) & (p < hi)] for p in parts]
        for a, b in itertools.pairwise(mine):
            if len(a) and len(b):
                assert b.min() > a.max() + H  # after it, and a purge gap of horizon bars


def test_split_is_time_ordered_per_series_with_purge_gaps() -> None:
    p = _prepared(400, 300)
    parts = ds.split(p, 0.2, 0.2)
    offsets = [s.offset for s in p.series]
    _check_ordered(parts.train, parts.val, parts.test, offsets=offsets)
    every = np.concatenate([parts.train, parts.val, parts.test])
    assert len(np.unique(every)) == len(every)
    for part in (parts.train, parts.val, parts.test):  # both series in each part
        assert (part < offsets[1]).any() and (part >= offsets[1]).any()
    n = sum(len(v) for v in p.valid)
    assert n - 4 * H <= len(every) <= n
    assert abs(len(parts.test) - 0.2 * n) <= 2 * H + 2


def test_windows_never_cross_series_nor_warmup_nor_unknown_labels() -> None:
    p = _prepared(120, 120, context=10)
    data = ds.materialise(p, ds.split(p))
    for part in (data.split.train, data.split.val, data.split.test):
        rows = data.windows(part)
        assert rows.shape == (len(part), 10)
        assert np.all(np.isfinite(p.raw[rows]))
        series_of = np.searchsorted([s.offset for s in p.series], rows, side="right")
        assert np.all(series_of == series_of[:, :1])
        assert np.all(p.classes[part] >= 0)


def test_normalisation_is_fitted_on_the_training_rows_only() -> None:
    p = _prepared(500)
    parts = ds.split(p)
    data = ds.materialise(p, parts)
    first_val = int(parts.val.min())
    raw = p.raw.copy()
    raw[first_val:] = raw[first_val:] * 1000.0 + 5.0  # wreck everything after training
    wrecked = ds.Prepared(**{**p.__dict__, "raw": raw})
    again = ds.materialise(wrecked, parts)
    np.testing.assert_array_equal(again.normalizer.mean, data.normalizer.mean)
    np.testing.assert_array_equal(again.normalizer.std, data.normalizer.std)
    train_rows = data.x[data.windows(parts.train)]
    assert abs(float(train_rows.mean())) < 0.5
    assert np.all(np.abs(data.x) <= data.normalizer.clip)


def test_a_constant_feature_normalises_to_zero() -> None:
    norm = ds.Normalizer.fit(np.column_stack([np.arange(10.0), np.full(10, 3.0)]))
    assert norm.std[1] == 1.0
    assert np.all(norm.apply([[4.0, 3.0]])[:, 1] == 0.0)
    assert ds.Normalizer.from_dict(norm.to_dict()).mean.tolist() == norm.mean.tolist()


def test_walk_forward_folds_move_forward_in_time() -> None:
    p = _prepared(600)
    folds = ds.walk_forward(p, 3, 0.2)
    assert len(folds) == 3
    for f in folds:
        _check_ordered(f.train, f.val, f.test, offsets=[0])
        assert len(f.test) > 0 and len(f.train) > 0
    for a, b in itertools.pairwise(folds):
        assert b.test.min() > a.test.max()
        assert len(b.train) > len(a.train)  # expanding window


def test_too_little_data_is_refused_clearly() -> None:
    p = _prepared(60, context=10)
    with pytest.raises(ValueError, match="not enough samples"):
        ds.materialise(p, ds.split(p, 0.01, 0.01))
