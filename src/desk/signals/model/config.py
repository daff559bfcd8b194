"""The model's config structs, importable without torch (``desk train``'s parser needs them).

Frozen msgspec structs like desk's other configs: unknown keys refused, fields by name.
:class:`TrainSpec` is the YAML file of ``desk train --config``; its sections are these structs
and :class:`~.features.FeatureConfig` and :class:`~.labels.LabelConfig`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from desk.signals.model.features import FeatureConfig
from desk.signals.model.labels import LabelConfig

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]

__all__ = ["ModelConfig", "TrainConfig", "TrainSpec"]


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The network's sizes (stored in the checkpoint card; a mismatch refuses the load)."""

    hidden: PositiveInt = 64
    layers: PositiveInt = 2
    attention: PositiveInt = 32
    head: PositiveInt = 32
    dropout: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.1
    window: PositiveInt = 32
    burn_in: Annotated[int, msgspec.Meta(ge=0)] = 32
    seed: int = 0

    @property
    def context(self) -> int:
        """Rows per training sequence: the burn-in, then the attention window."""
        return self.burn_in + self.window


class TrainConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The training loop's settings (see :mod:`.train`) and the split's fractions."""

    epochs: PositiveInt = 30
    batch_size: PositiveInt = 256
    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegative = 0.0
    patience: PositiveInt = 4
    min_delta: NonNegative = 0.0
    clip_norm: PositiveFloat = 1.0
    regression_weight: NonNegative = 0.5
    val_fraction: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.15
    test_fraction: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.15
    seed: int = 0
    threads: PositiveInt = 1
    """CPU threads torch trains with. One by default: desk's models are small, and torch's
    worker threads spin at every step, so on cores shared with a running engine (or anything
    else) more threads made training 100x slower, not faster (a test: 2.5 s on one thread,
    229 s on two beside a busy desk). Raise it on a machine of its own."""


class TrainSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``--config`` file: every section optional."""

    features: FeatureConfig = msgspec.field(default_factory=FeatureConfig)
    labels: LabelConfig = msgspec.field(default_factory=LabelConfig)
    model: ModelConfig = msgspec.field(default_factory=ModelConfig)
    train: TrainConfig = msgspec.field(default_factory=TrainConfig)
