"""Checkpoints with known behaviour for the ``lstm`` bot's tests, written by the real library.

A *constant* model has every weight zero but the last layer's bias, so it predicts the same
class with the same probability on any input: the tests know which signal a bar must give. Its
features use short look-backs and its network a short window, so a bot on 1 s bars is warm
(features ready, burn-in and window stepped) after about eight bars.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from desk.signals.model.checkpoint import DataRange, save_checkpoint
from desk.signals.model.config import ModelConfig
from desk.signals.model.dataset import Normalizer
from desk.signals.model.drift import FeatureBins
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import build_model

FAST_FEATURES = FeatureConfig(
    return_lags=(1, 2), rsi=3, macd_fast=2, macd_slow=3, macd_signal=2,
    bollinger=3, atr=3, zscore=3, volume_zscore=3,
)  # fmt: skip
SMALL = ModelConfig(hidden=8, layers=1, attention=4, head=4, window=3, burn_in=1, dropout=0.0)
LABEL = LabelConfig(horizon=2, dead_band_bps=1.0)
LOGITS = {"down": (3.0, -4.0, 0.0), "flat": (0.0, 3.0, 0.0), "up": (0.0, -4.0, 3.0)}
# p(predicted class) of each constant model: softmax of its logits
CONFIDENCE = float(np.exp(3.0) / (np.exp(3.0) + np.exp(0.0) + np.exp(-4.0)))


def constant_model(
    directory: Path,
    predicts: str = "up",
    *,
    features: FeatureConfig = FAST_FEATURES,
    model: ModelConfig = SMALL,
    label: LabelConfig = LABEL,
    bins: list[FeatureBins] | None = None,
) -> Path:
    """A checkpoint at ``directory`` that always predicts ``predicts`` (down / flat / up)."""
    n = len(feature_names(features))
    net = build_model(model, n, regression=False).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.head[2].bias.copy_(torch.tensor(LOGITS[predicts]))
    save_checkpoint(
        directory, net, normalizer=Normalizer(np.zeros(n), np.ones(n)), features=features,
        label=label,
        data=DataRange(
            symbols=["BTC-USDT"], timeframe="1s", sources=["test"],
            start_ns=1_700_000_000 * 10**9, end_ns=1_700_003_600 * 10**9,
            start="2023-11-14T22:13:20+00:00", end="2023-11-14T23:13:20+00:00", bars=3600,
        ),
        metrics={"test": {"model": {"accuracy": 0.41, "hit_rate": 0.52}}},
        train={"epochs_run": 1}, feature_bins=bins,
    )  # fmt: skip
    return directory
