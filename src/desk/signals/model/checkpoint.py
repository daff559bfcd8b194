"""A trained model on disk: a directory with the weights and a JSON card that describes them.

    models/btc-1m/
        model.pt    the network's state_dict (torch.save; read back with weights_only=True)
        card.json   what the weights mean: the feature list and order, the normalisation,
                    the label definition and horizon, the model sizes, the data range and
                    symbols, the metrics, the torch and desk versions, created-at, and the
                    sha256 of model.pt

Nothing is pickled: the weights file holds tensors only and is loaded with
``torch.load(..., weights_only=True)``, which refuses anything else. Each file is written to a
temporary name in the same directory, flushed to disk and renamed over the old one
(``os.replace``), weights first; the card carries the weights' digest, so a pair torn by a crash
between the two renames is detected on load instead of silently mixing two models.

:func:`load_checkpoint` refuses, with a :class:`CheckpointError` naming the problem: a missing,
truncated or foreign file; weights that do not match the card; and, when the caller says what it
expects, a feature list, model size or label definition that differs (naming the field, the
checkpoint's value and the expected one).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import torch

import desk
from desk.signals.model.card import (
    CARD,
    FORMAT,
    VERSION,
    WEIGHTS,
    CheckpointError,
    DataRange,
    ModelCard,
    Normalization,
    _sha256,
    check_matches,
    iso,
    read_card,
    verify_weights,
)
from desk.signals.model.config import ModelConfig
from desk.signals.model.dataset import Normalizer
from desk.signals.model.drift import FeatureBins
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import LstmAttention, build_model

__all__ = [  # the card's names are re-exported: this module was their home first
    "CARD",
    "FORMAT",
    "VERSION",
    "WEIGHTS",
    "CheckpointError",
    "DataRange",
    "LoadedModel",
    "ModelCard",
    "Normalization",
    "_sha256",
    "check_matches",
    "iso",
    "load_checkpoint",
    "read_card",
    "save_checkpoint",
]


@dataclass(frozen=True, eq=False)
class LoadedModel:
    path: Path
    card: ModelCard
    network: LstmAttention  # in eval mode, on the device asked for
    normalizer: Normalizer


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """write(handle) into a temporary file beside ``path``, fsync, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a model is not a secret
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    directory: str | Path,
    network: LstmAttention,
    *,
    normalizer: Normalizer,
    features: FeatureConfig,
    label: LabelConfig,
    data: DataRange,
    metrics: dict[str, Any],
    train: dict[str, Any],
    target_scale_bps: float = 1.0,
    feature_bins: list[FeatureBins] | None = None,
) -> ModelCard:
    """Write ``model.pt`` then ``card.json`` into ``directory`` (created if need be), atomically."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").clone() for k, v in network.state_dict().items()}
    weights = out / WEIGHTS
    _atomic_write(weights, lambda handle: torch.save(state, handle))
    names = list(feature_names(features))
    if len(names) != network.n_features:
        raise ValueError(f"{len(names)} features named, the network takes {network.n_features}")
    card = ModelCard(
        format=FORMAT,
        version=VERSION,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        desk_version=desk.__version__,
        torch_version=str(torch.__version__),
        features=names,
        feature_config=features,
        normalization=msgspec.convert(normalizer.to_dict(), Normalization),
        label=label,
        model=network.config,
        n_features=network.n_features,
        train=train,
        data=data,
        metrics=metrics,
        target_scale_bps=target_scale_bps,
        weights_file=WEIGHTS,
        weights_sha256=_sha256(weights),
        feature_bins=feature_bins,
    )
    text = msgspec.json.format(msgspec.json.encode(card), indent=2) + b"\n"
    _atomic_write(out / CARD, lambda handle: handle.write(text))
    return card


def load_checkpoint(
    path: str | Path,
    *,
    features: FeatureConfig | None = None,
    model: ModelConfig | None = None,
    label: LabelConfig | None = None,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """The network (eval mode) and its card; refused with CheckpointError (module docstring)."""
    card = read_card(path)
    where = Path(path)
    directory = where.parent if where.is_file() else where
    check_matches(card, features=features, model=model, label=label, where=str(directory))
    weights = verify_weights(card, directory)
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning: it fails anyway
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds here: pickle, zip, EOF, runtime errors
        raise CheckpointError(f"{weights}: truncated or not a torch state_dict: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{weights}: not a state_dict of tensors")
    network = build_model(card.model, card.n_features, card.label.regression)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: does not fit the card's model sizes: {exc}") from None
    network.to(device).eval()
    return LoadedModel(directory, card, network, card.normalizer())
