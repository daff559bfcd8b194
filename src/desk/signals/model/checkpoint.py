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

import hashlib
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
from desk.signals.model.config import ModelConfig
from desk.signals.model.dataset import Normalizer
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import LstmAttention, build_model

FORMAT = "desk-lstm-attention"
VERSION = 1
WEIGHTS = "model.pt"
CARD = "card.json"
IGNORED_MODEL_FIELDS = ("seed", "dropout")  # they shape training, not the weights' meaning

__all__ = [
    "CheckpointError",
    "DataRange",
    "LoadedModel",
    "ModelCard",
    "load_checkpoint",
    "save_checkpoint",
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

    @property
    def horizon(self) -> int:
        return self.label.horizon

    def normalizer(self) -> Normalizer:
        return Normalizer.from_dict(msgspec.to_builtins(self.normalization))


@dataclass(frozen=True, eq=False)
class LoadedModel:
    path: Path
    card: ModelCard
    network: LstmAttention  # in eval mode, on the device asked for
    normalizer: Normalizer


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    )
    text = msgspec.json.format(msgspec.json.encode(card), indent=2) + b"\n"
    _atomic_write(out / CARD, lambda handle: handle.write(text))
    return card


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
    weights = directory / card.weights_file
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing (the card names it)")
    if _sha256(weights) != card.weights_sha256:
        raise CheckpointError(
            f"{weights}: does not match its card (sha256 differs): the file was replaced, "
            "truncated, or a save was interrupted between the weights and the card"
        )
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
