"""Labels: up / flat / down over the horizon, with the cost dead band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desk.signals.model.labels import (
    DOWN,
    FLAT,
    UNKNOWN,
    UP,
    LabelConfig,
    dead_band,
    make_labels,
    past_classes,
)


def _closes(moves_bps: list[float]) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum([0.0, *moves_bps]) * 1e-4)


def test_the_default_dead_band_is_round_trip_fees_plus_half_the_spread() -> None:
    cfg = LabelConfig(fee_bps=10.0, spread_bps=4.0)
    assert dead_band(cfg, 3) == pytest.approx([22.0, 22.0, 22.0])
    bar_spreads = [2.0, np.nan, 0.0]  # missing or non-positive spreads use the config's
    assert dead_band(cfg, 3, bar_spreads) == pytest.approx([21.0, 22.0, 22.0])
    fixed = LabelConfig(dead_band_bps=3.0)
    assert dead_band(fixed, 2, [50.0, 50.0]) == pytest.approx([3.0, 3.0])


def test_moves_inside_the_band_are_flat_and_the_last_horizon_bars_unknown() -> None:
    cfg = LabelConfig(horizon=1, fee_bps=5.0, spread_bps=0.0)  # band 10 bps
    labels = make_labels(_closes([25.0, -25.0, 9.0, -9.0, 10.5]), cfg)
    assert labels.classes.tolist() == [UP, DOWN, FLAT, FLAT, UP, UNKNOWN]
    assert labels.forward_bps[:5] == pytest.approx([25.0, -25.0, 9.0, -9.0, 10.5])
    assert math.isnan(labels.forward_bps[5])


def test_the_horizon_sums_the_moves_ahead() -> None:
    cfg = LabelConfig(horizon=3, dead_band_bps=10.0)
    labels = make_labels(_closes([4.0, 4.0, 4.0, -20.0, 0.0, 0.0]), cfg)
    assert labels.forward_bps[:4] == pytest.approx([12.0, -12.0, -16.0, -20.0])
    assert labels.classes.tolist() == [UP, DOWN, DOWN, DOWN, *[UNKNOWN] * 3]


def test_past_classes_label_the_move_just_made() -> None:
    cfg = LabelConfig(horizon=2, dead_band_bps=5.0)
    past = past_classes(_closes([3.0, 3.0, -1.0, -8.0]), cfg)
    assert past.tolist() == [UNKNOWN, UNKNOWN, UP, FLAT, DOWN]


def test_a_bad_price_has_no_label() -> None:
    labels = make_labels([100.0, 0.0, 101.0], LabelConfig(horizon=1))
    assert labels.classes.tolist() == [UNKNOWN, UNKNOWN, UNKNOWN]
