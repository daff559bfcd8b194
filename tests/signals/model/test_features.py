"""Feature rows: batch (numba) == streaming (O(1) updaters), no look-ahead, neutral defaults."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from desk.signals.model.features import (
    FeatureConfig,
    FeatureStream,
    compute_features,
    feature_names,
    warmup,
)
from tests.signals.model.synthetic import random_walk

SMALL = FeatureConfig(
    return_lags=(1, 3), rsi=5, macd_fast=3, macd_slow=7, macd_signal=4, bollinger=6, atr=5,
    zscore=4, volume_zscore=8, book_levels=3,
)  # fmt: skip


def _inputs(series, book: bool = True) -> dict:
    out = {"high": series.high, "low": series.low, "close": series.close, "volume": series.volume}
    if book:
        out.update(
            bid_sizes=series.bid_sizes, ask_sizes=series.ask_sizes, bid=series.bid,
            ask=series.ask, buy_volume=series.buy_volume, sell_volume=series.sell_volume,
        )  # fmt: skip
    return out


def _stream(inputs: dict, config: FeatureConfig) -> np.ndarray:
    live = FeatureStream(config)
    rows = []
    for t in range(len(inputs["close"])):
        bar = {k: (v[t] if v is not None else None) for k, v in inputs.items()}
        rows.append(live.update(**bar))
    return np.array(rows)


@pytest.mark.parametrize("config", [FeatureConfig(), SMALL])
@pytest.mark.parametrize("book", [True, False])
def test_batch_and_streaming_give_the_same_rows(config: FeatureConfig, book: bool) -> None:
    inputs = _inputs(random_walk(300, seed=3), book)
    batch = compute_features(**inputs, config=config)
    live = _stream(inputs, config)
    assert batch.shape == (300, len(feature_names(config)))
    np.testing.assert_array_equal(np.isnan(batch), np.isnan(live))
    np.testing.assert_allclose(live, batch, rtol=1e-12, atol=1e-15, equal_nan=True)


def test_batch_and_streaming_agree_through_flat_runs_and_gaps_in_the_data() -> None:
    s = random_walk(200, seed=4)
    inputs = _inputs(s)
    close = inputs["close"].copy()
    close[50:80] = close[50]  # flat: zero-width bands, zero true range, no losses
    inputs.update(close=close, high=np.maximum(inputs["high"], close))
    inputs["low"] = np.minimum(inputs["low"], close)
    volume = inputs["volume"].copy()
    volume[100:110] = 0.0
    volume[120] = np.nan  # a hole: the volume z-score is NaN while it is in its window
    inputs["volume"] = volume
    bid_sizes = inputs["bid_sizes"].copy()
    bid_sizes[130] = 0.0
    inputs["bid_sizes"] = bid_sizes
    batch = compute_features(**inputs, config=SMALL)
    np.testing.assert_allclose(_stream(inputs, SMALL), batch, rtol=1e-12, equal_nan=True)
    assert np.isnan(batch[120, feature_names(SMALL).index("volume_z")])


@pytest.mark.parametrize("config", [FeatureConfig(), SMALL])
def test_rows_are_nan_free_from_the_warmup_on(config: FeatureConfig) -> None:
    x = compute_features(**_inputs(random_walk(200, seed=5)), config=config)
    finite = np.all(np.isfinite(x), axis=1)
    assert not finite[: warmup(config)].any()
    assert finite[warmup(config) :].all()
    stream = FeatureStream(config)
    s = random_walk(warmup(config) + 1, seed=5)
    for t in range(len(s)):
        stream.update(s.high[t], s.low[t], s.close[t], s.volume[t])
        assert stream.ready == (t >= warmup(config))


@pytest.mark.parametrize("t", [0, 10, 40, 41, 150, 298])
def test_no_look_ahead_changing_the_future_leaves_row_t_alone(t: int) -> None:
    inputs = _inputs(random_walk(300, seed=6))
    before = compute_features(**inputs)
    rng = np.random.default_rng(t)
    changed = {k: v.copy() for k, v in inputs.items()}
    for v in changed.values():
        v[t + 1 :] = v[t + 1 :] * rng.uniform(0.5, 2.0, v[t + 1 :].shape)
    after = compute_features(**changed)
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    if t < 298:
        assert not np.array_equal(after[t + 1 :], before[t + 1 :], equal_nan=True)


def test_book_and_flow_inputs_are_optional_and_default_to_neutral_zeros() -> None:
    s = random_walk(100, seed=7)
    x = compute_features(**_inputs(s, book=False))
    names = feature_names()
    for name in ("book_imbalance", "spread_bps", "flow_imbalance"):
        col = x[:, names.index(name)]
        assert np.all(col == 0.0), name
    inputs = _inputs(s)
    inputs["bid_sizes"] = np.zeros_like(s.bid_sizes)
    inputs["ask_sizes"] = np.zeros_like(s.ask_sizes)
    inputs["bid"] = np.full(100, np.nan)
    inputs["buy_volume"] = np.zeros(100)
    inputs["sell_volume"] = np.zeros(100)
    x = compute_features(**inputs)
    tail = x[:, names.index("book_imbalance") :]
    assert np.all(tail == 0.0)


def test_book_imbalance_counts_the_top_levels_only_and_spread_is_in_bps() -> None:
    bid_sizes = np.array([[1.0, 1.0, 100.0]])
    ask_sizes = np.array([[3.0, 0.0, 0.0]])
    one = {"high": [101.0], "low": [99.0], "close": [100.0], "volume": [1.0]}
    cfg = FeatureConfig(book_levels=2)
    x = compute_features(
        **one, bid_sizes=bid_sizes, ask_sizes=ask_sizes, bid=[99.99], ask=[100.01],
        buy_volume=[3.0], sell_volume=[1.0], config=cfg,
    )  # fmt: skip
    names = feature_names(cfg)
    assert x[0, names.index("book_imbalance")] == pytest.approx((2.0 - 3.0) / 5.0)
    assert x[0, names.index("spread_bps")] == pytest.approx(0.02 / 100.0 * 1e4)
    assert x[0, names.index("flow_imbalance")] == pytest.approx(0.5)
    live = FeatureStream(cfg).update(
        101.0, 99.0, 100.0, 1.0, bid_sizes=[1.0, 1.0, 100.0], ask_sizes=[3.0, 0.0, 0.0],
        bid=99.99, ask=100.01, buy_volume=3.0, sell_volume=1.0,
    )  # fmt: skip
    np.testing.assert_allclose(live, x[0], equal_nan=True)


def test_names_follow_the_config_and_bad_configs_are_refused() -> None:
    assert feature_names(SMALL)[:2] == ("ret_1", "ret_3")
    assert len(feature_names()) == 15
    with pytest.raises(ValueError, match="return_lags"):
        FeatureConfig(return_lags=(4, 2))
    with pytest.raises(ValueError, match="macd_fast"):
        FeatureConfig(macd_fast=26, macd_slow=12)
    with pytest.raises(msgspec.ValidationError, match="unknown"):
        msgspec.convert({"rsi": 14, "colour": "red"}, FeatureConfig)
    with pytest.raises(ValueError, match="rows"):
        compute_features([1.0, 2.0], [1.0], [1.0, 2.0], [1.0, 1.0])


def test_stream_reset_starts_again() -> None:
    s = random_walk(60, seed=8)
    live = FeatureStream(SMALL)
    first = [live.update(s.high[t], s.low[t], s.close[t], s.volume[t]) for t in range(60)]
    live.reset()
    again = [live.update(s.high[t], s.low[t], s.close[t], s.volume[t]) for t in range(60)]
    np.testing.assert_array_equal(np.array(first), np.array(again))
