"""The training loop: early stopping, seeding, Ctrl-C, progress output, devices."""

from __future__ import annotations

import io

import pytest
import torch

from desk.signals.model import dataset as ds
from desk.signals.model.train import (
    PlainReporter,
    RichReporter,
    make_reporter,
    resolve_device,
    train,
)
from tests.signals.model.synthetic import random_walk, tiny_spec


@pytest.fixture(scope="module")
def walk() -> ds.Dataset:
    spec = tiny_spec()
    p = ds.prepare([random_walk(1200, seed=11)], spec.features, spec.labels, spec.model.context)
    return ds.materialise(p, ds.split(p))


def _quiet() -> PlainReporter:
    return PlainReporter(io.StringIO())


def test_training_on_a_random_walk_stops_early_on_validation_loss(walk: ds.Dataset) -> None:
    spec = tiny_spec(epochs=40, patience=2)
    result = train(walk, spec.model, spec.train, device="cpu", reporter=_quiet())
    assert result.stopped == "early"
    assert len(result.history) < 40
    assert len(result.history) == result.best_epoch + 2
    best = min(h["val_loss"] for h in result.history)
    assert result.best_val_loss == best
    assert not result.network.training
    assert result.samples_per_s > 0


def test_the_same_seed_trains_the_same_weights(walk: ds.Dataset) -> None:
    spec = tiny_spec(epochs=2)
    a = train(walk, spec.model, spec.train, device="cpu", reporter=_quiet()).network
    b = train(walk, spec.model, spec.train, device="cpu", reporter=_quiet()).network
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_uses_the_configured_cpu_threads(walk: ds.Dataset) -> None:
    """One by default: on cores shared with an engine more threads spin instead of working."""
    torch.set_num_threads(2)
    try:
        spec = tiny_spec(epochs=1)
        train(walk, spec.model, spec.train, device="cpu", reporter=_quiet())
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)


class _InterruptAt(PlainReporter):
    def __init__(self, epoch: int) -> None:
        super().__init__(io.StringIO())
        self.at = epoch

    def batch(self, epoch: int, index: int, loss: float) -> None:
        if epoch == self.at and index == 2:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_best_weights_so_far(walk: ds.Dataset) -> None:
    spec = tiny_spec(epochs=10, patience=10)
    reference = train(walk, spec.model, spec.train, device="cpu", reporter=_quiet())
    result = train(walk, spec.model, spec.train, device="cpu", reporter=_InterruptAt(4))
    assert result.stopped == "interrupted"
    assert len(result.history) == 3
    assert result.history == reference.history[:3]
    # the weights kept are those of the best of the three finished epochs
    best = min(range(3), key=lambda k: reference.history[k]["val_loss"]) + 1
    assert result.best_epoch == best
    replay = tiny_spec(epochs=best, patience=10)
    again = train(walk, replay.model, replay.train, device="cpu", reporter=_quiet()).network
    kept, want = result.network.state_dict(), again.state_dict()
    assert all(torch.equal(kept[k], want[k]) for k in kept)


def test_ctrl_c_before_the_first_epoch_ends_propagates(walk: ds.Dataset) -> None:
    spec = tiny_spec()
    with pytest.raises(KeyboardInterrupt):
        train(walk, spec.model, spec.train, device="cpu", reporter=_InterruptAt(1))


def test_plain_lines_when_not_a_terminal(walk: ds.Dataset) -> None:
    out = io.StringIO()
    reporter = make_reporter(out)
    assert isinstance(reporter, PlainReporter)
    spec = tiny_spec(epochs=2)
    train(walk, spec.model, spec.train, device="cpu", reporter=reporter)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("training:")
    assert lines[1].startswith("epoch 1/2: train loss") and "val loss" in lines[1]
    assert lines[-1].startswith("training stopped (epochs) after 2 epochs")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal(walk: ds.Dataset) -> None:
    out = _Tty()
    reporter = make_reporter(out)
    assert isinstance(reporter, RichReporter)
    spec = tiny_spec(epochs=1)
    train(walk, spec.model, spec.train, device="cpu", reporter=reporter)
    assert "training stopped" in out.getvalue()


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
