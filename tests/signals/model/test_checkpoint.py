"""Checkpoints: round trip, refusals on mismatch, clear errors on broken or foreign files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import msgspec
import numpy as np
import pytest
import torch

from desk.signals.model.checkpoint import (
    CARD,
    WEIGHTS,
    CheckpointError,
    DataRange,
    _sha256,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from desk.signals.model.dataset import Normalizer
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import build_model
from tests.signals.model.synthetic import TINY

FEATURES = FeatureConfig()
LABEL = LabelConfig(horizon=4, regression=True)
F = len(feature_names(FEATURES))


def _save(directory: Path, seed: int = 0) -> tuple[torch.nn.Module, Normalizer]:
    net = build_model(msgspec.structs.replace(TINY, seed=seed), F, regression=True).eval()
    norm = Normalizer(np.linspace(-1.0, 1.0, F), np.linspace(0.5, 2.0, F))
    save_checkpoint(
        directory, net, normalizer=norm, features=FEATURES, label=LABEL,
        data=DataRange(
            symbols=["BTC-USDT"], timeframe="1m", sources=["sim:seed=7"], start_ns=1, end_ns=2,
            start="1970-01-01T00:00:00+00:00", end="1970-01-01T00:00:00+00:00", bars=2,
        ),
        metrics={"test": {"accuracy": 0.5}}, train={"epochs_run": 3}, target_scale_bps=12.5,
    )  # fmt: skip
    return net, norm


def test_round_trip_gives_the_same_network_and_card(tmp_path: Path) -> None:
    net, norm = _save(tmp_path / "m")
    loaded = load_checkpoint(tmp_path / "m", features=FEATURES, model=TINY, label=LABEL)
    x = torch.randn(3, TINY.context, F)
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(x), net(x), rtol=0, atol=0)
    card = loaded.card
    assert card.features == list(feature_names(FEATURES))
    assert card.label == LABEL and card.horizon == 4 and card.model == TINY
    assert card.torch_version == str(torch.__version__) and card.desk_version
    assert card.data.symbols == ["BTC-USDT"] and card.metrics["test"]["accuracy"] == 0.5
    assert card.target_scale_bps == 12.5 and card.created_at.endswith("+00:00")
    np.testing.assert_array_equal(loaded.normalizer.mean, norm.mean)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CARD, WEIGHTS]  # no temp files
    assert load_checkpoint(tmp_path / "m" / CARD).card == card  # a file in it names it too
    json.loads((tmp_path / "m" / CARD).read_text())  # plain JSON for other tools


def test_the_weights_file_holds_tensors_only(tmp_path: Path) -> None:
    _save(tmp_path)
    state = torch.load(tmp_path / WEIGHTS, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


@pytest.mark.parametrize(
    ("expect", "named"),
    [
        ({"features": FeatureConfig(return_lags=(1, 2))}, "feature list differs"),
        ({"features": FeatureConfig(rsi=21)}, "features.rsi: checkpoint 14, config 21"),
        ({"model": msgspec.structs.replace(TINY, hidden=32)}, "model.hidden: checkpoint 16"),
        ({"label": LabelConfig(horizon=9, regression=True)}, "label.horizon: checkpoint 4"),
        ({"label": LabelConfig(horizon=4)}, "label.regression"),
    ],
)
def test_a_mismatch_with_the_config_is_refused_by_name(
    tmp_path: Path, expect: dict, named: str
) -> None:
    _save(tmp_path)
    with pytest.raises(CheckpointError, match=named.replace("(", r"\(")):
        load_checkpoint(tmp_path, **expect)


def test_seed_and_dropout_do_not_count_as_a_mismatch(tmp_path: Path) -> None:
    _save(tmp_path)
    load_checkpoint(tmp_path, model=msgspec.structs.replace(TINY, seed=5, dropout=0.3))


def test_a_truncated_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    _save(tmp_path)
    weights = tmp_path / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="does not match its card"):
        load_checkpoint(tmp_path)


def _rewrite_card(directory: Path, **changes: object) -> None:
    card = json.loads((directory / CARD).read_text())
    card.update(changes)
    (directory / CARD).write_text(json.dumps(card))


class Foreign:
    pass


def test_a_foreign_pickle_is_refused_not_executed(tmp_path: Path) -> None:
    _save(tmp_path)
    (tmp_path / WEIGHTS).write_bytes(pickle.dumps({"x": Foreign()}))
    _rewrite_card(tmp_path, weights_sha256=_sha256(tmp_path / WEIGHTS))
    with pytest.raises(CheckpointError, match="not a torch state_dict"):
        load_checkpoint(tmp_path)


def test_weights_of_another_shape_are_refused(tmp_path: Path) -> None:
    _save(tmp_path)
    other = build_model(msgspec.structs.replace(TINY, hidden=8), F, regression=True)
    torch.save(other.state_dict(), tmp_path / WEIGHTS)
    _rewrite_card(tmp_path, weights_sha256=_sha256(tmp_path / WEIGHTS))
    with pytest.raises(CheckpointError, match="does not fit the card's model sizes"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("card_text", "named"),
    [
        ('{"format": "desk-lstm-attention", "vers', "unreadable or truncated"),
        ('{"format": "something-else", "version": 1}', "not a desk model card"),
        ("[1, 2, 3]", "not a desk model card"),
        ('{"format": "desk-lstm-attention", "version": 99}', "this desk reads up to 1"),
        ('{"format": "desk-lstm-attention", "version": 1}', "not a valid desk model card"),
    ],
)
def test_a_broken_or_foreign_card_is_a_clear_error(
    tmp_path: Path, card_text: str, named: str
) -> None:
    _save(tmp_path)
    (tmp_path / CARD).write_text(card_text)
    with pytest.raises(CheckpointError, match=named):
        read_card(tmp_path)


def test_nothing_there(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no model checkpoint"):
        load_checkpoint(tmp_path / "missing")


def test_saving_again_replaces_both_files(tmp_path: Path) -> None:
    _save(tmp_path, seed=0)
    first = read_card(tmp_path).weights_sha256
    _save(tmp_path, seed=1)
    assert read_card(tmp_path).weights_sha256 != first
    load_checkpoint(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CARD, WEIGHTS]
