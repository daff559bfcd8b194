"""A model checkpoint's card: what its weights mean, read and checked without torch.

``card.json`` (beside ``model.pt`` in a checkpoint directory, see :mod:`.checkpoint`) holds the
feature list and order, the normalisation, the training distribution of each feature (for
drift), the label definition and horizon, the model sizes, the data range and symbols, the
metrics, the torch and desk versions, created-at and the sha256 of the weights.

This module imports no torch (a test holds it), so a process can read and check a card - a
config naming a model, a bot refusing a mismatched one, a health view showing its training
range - before, or without, loading the network. :mod:`.checkpoint` writes cards and loads the
weights.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from desk.signals.model.config import ModelConfig
from desk.signals.model.dataset import Normalizer
from desk.signals.model.drift import FeatureBins, normal_bins
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import LabelConfig

FORMAT = "desk-lstm-attention"
VERSION = 1
WEIGHTS = "model.pt"
CARD = "card.json"
IGNORED_MODEL_FIELDS = ("seed", "dropout")  # they shape training, not the weights' meaning

__all__ = [
    "CheckpointError",
    "DataRange",
    "ModelCard",
    "check_matches",
    "read_card",
    "verify_weights",
]


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message names the file and the reason."""


class DataRange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    symbols: list[str]
    timeframe: str
    sources: list[str]
    start_ns: int
    end_ns: int
    start: str
    end: str
    bars: int


class Normalization(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mean: list[float]
    std: list[float]
    clip: float


class ModelCard(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format: str
    version: int
    created_at: str
    desk_version: str
    torch_version: str
    features: list[str]
    feature_config: FeatureConfig
    normalization: Normalization
    label: LabelConfig
    model: ModelConfig
    n_features: int
    train: dict[str, Any]
    data: DataRange
    metrics: dict[str, Any]
    target_scale_bps: float  # bps per unit of the regression output (training std of the target)
    weights_file: str
    weights_sha256: str
    # The training distribution of each feature (drift.FeatureBins); None in cards written
    # before it was stored: training_bins() then falls back to the normalisation's moments.
    feature_bins: list[FeatureBins] | None = None

    @property
    def horizon(self) -> int:
        return self.label.horizon

    def normalizer(self) -> Normalizer:
        return Normalizer.from_dict(msgspec.to_builtins(self.normalization))

    def training_bins(self) -> tuple[list[FeatureBins], bool]:
        """The bins of each feature's training distribution, and whether they are exact."""
        if self.feature_bins is not None:
            return list(self.feature_bins), True
        return normal_bins(self.normalization.mean, self.normalization.std), False

    def created_ns(self) -> int:
        """``created_at`` as ns since the epoch (0 when unreadable)."""
        try:
            stamp = datetime.fromisoformat(self.created_at)
        except ValueError:
            return 0
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return round(stamp.timestamp() * 1e9)


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(path: str | Path) -> ModelCard:
    """The card of the checkpoint at ``path`` (its directory, or a file in it), checked."""
    where = Path(path)
    directory = where.parent if where.is_file() else where
    card_path = directory / CARD
    if not card_path.is_file():
        raise CheckpointError(f"no model checkpoint at {where}: {card_path} does not exist")
    try:
        raw = msgspec.json.decode(card_path.read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        raise CheckpointError(f"{card_path}: unreadable or truncated: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{card_path}: not a desk model card (format {got!r})")
    if not isinstance(raw.get("version"), int) or raw["version"] > VERSION:
        raise CheckpointError(
            f"{card_path}: card version {raw.get('version')!r}; this desk reads up to {VERSION}"
        )
    try:
        card = msgspec.convert(raw, ModelCard)
        card.normalizer()
    except (msgspec.ValidationError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{card_path}: not a valid desk model card: {exc}") from None
    if len(card.features) != card.n_features or len(card.normalization.mean) != card.n_features:
        raise CheckpointError(f"{card_path}: feature list, n_features and normalisation disagree")
    return card


def check_matches(
    card: ModelCard,
    *,
    features: FeatureConfig | None = None,
    model: ModelConfig | None = None,
    label: LabelConfig | None = None,
    where: str = "checkpoint",
) -> None:
    """Raise CheckpointError naming the first thing that differs from what the config asks."""
    problems: list[str] = []
    if features is not None:
        want = list(feature_names(features))
        if want != card.features:
            extra = [f for f in card.features if f not in want]
            missing = [f for f in want if f not in card.features]
            problems.append(
                f"feature list differs: the checkpoint has {card.features}, the config asks for "
                f"{want} (only in the checkpoint: {extra}, only in the config: {missing})"
            )
        problems += _diff("features", card.feature_config, features)
    if model is not None:
        problems += _diff("model", card.model, model, IGNORED_MODEL_FIELDS)
    if label is not None:
        problems += _diff("label", card.label, label)
    if problems:
        raise CheckpointError(f"{where} does not match the config: " + "; ".join(problems))


def _diff(
    section: str, have: msgspec.Struct, want: msgspec.Struct, ignore: tuple[str, ...] = ()
) -> list[str]:
    out = []
    for name in have.__struct_fields__:
        a, b = getattr(have, name), getattr(want, name)
        if name not in ignore and a != b:
            out.append(f"{section}.{name}: checkpoint {a!r}, config {b!r}")
    return out


def verify_weights(card: ModelCard, directory: Path) -> Path:
    """The weights file the card names, checked against its sha256 (CheckpointError if not)."""
    weights = directory / card.weights_file
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing (the card names it)")
    if _sha256(weights) != card.weights_sha256:
        raise CheckpointError(
            f"{weights}: does not match its card (sha256 differs): the file was replaced, "
            "truncated, or a save was interrupted between the weights and the card"
        )
    return weights
