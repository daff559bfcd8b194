"""The network's shapes, its seeding and its config struct."""

from __future__ import annotations

import msgspec
import pytest
import torch

from desk.signals.model.config import ModelConfig
from desk.signals.model.network import N_CLASSES, build_model

CFG = ModelConfig(hidden=12, layers=2, attention=6, head=5, window=4, burn_in=3)


@pytest.mark.parametrize("regression", [False, True])
def test_output_shapes(regression: bool) -> None:
    net = build_model(CFG, 7, regression).eval()
    x = torch.randn(5, CFG.context, 7)
    assert net(x).shape == (5, N_CLASSES + int(regression))
    probs = net.probabilities(x)
    assert probs.shape == (5, 3)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(5))
    assert net(torch.randn(2, 2, 7)).shape[0] == 2  # shorter than the window: attends over all


def test_the_default_sizes_are_the_issues() -> None:
    cfg = ModelConfig()
    assert (cfg.layers, cfg.hidden) == (2, 64)
    net = build_model(cfg, 15)
    assert net.lstm.num_layers == 2 and net.lstm.hidden_size == 64


def test_the_same_seed_gives_the_same_weights_and_another_seed_others() -> None:
    state = torch.random.get_rng_state()
    a = build_model(CFG, 7).state_dict()
    b = build_model(CFG, 7).state_dict()
    c = build_model(msgspec.structs.replace(CFG, seed=1), 7).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator untouched


def test_the_config_is_frozen_strict_and_keyword_only() -> None:
    with pytest.raises(AttributeError):
        CFG.hidden = 3  # type: ignore[misc]
    with pytest.raises(msgspec.ValidationError, match="unknown"):
        msgspec.convert({"hidden": 8, "units": 3}, ModelConfig)
    with pytest.raises(msgspec.ValidationError, match="hidden"):
        msgspec.convert({"hidden": 0}, ModelConfig)
    with pytest.raises(TypeError):
        ModelConfig(64)  # type: ignore[misc]
    assert CFG.context == 7
