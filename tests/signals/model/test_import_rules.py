"""torch stays out of what does not need it (DESIGN.md section 2), checked in fresh interpreters.

The feature, label, data, dataset, evaluation and config modules, and ``desk train``'s argument
parser, load without torch, so a process that computes features or builds desk's command line
never pays for it; the network, training, checkpoint and inference modules are the ones that
import it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

TORCH_FREE = [
    "desk.signals.model",
    "desk.signals.model.features",
    "desk.signals.model.featuremath",
    "desk.signals.model.labels",
    "desk.signals.model.data",
    "desk.signals.model.dataset",
    "desk.signals.model.evaluate",
    "desk.signals.model.config",
    "desk.signals.model.command",
    "desk.signals.model.card",
    "desk.signals.model.drift",
    "desk.signals.model.monitor",
    "desk.signals.model.live",
    "desk.signals.strategies",
    "desk.signals.strategies.lstm",
    "desk.signals.bot_manager",
]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return set(out.stdout.split())


@pytest.mark.parametrize("module", TORCH_FREE)
def test_imports_without_torch(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert "torch" not in loaded, f"{module} imported torch"
    assert "numba" not in loaded, f"{module} imported numba at import time"


def test_building_the_train_parser_needs_no_torch() -> None:
    loaded = _loaded_after(
        "import argparse\n"
        "from desk.signals.model.command import add_train_arguments\n"
        "parser = argparse.ArgumentParser()\n"
        "add_train_arguments(parser)\n"
        "parser.parse_args(['--sim', '1', '--json'])"
    )
    assert "torch" not in loaded


def test_features_in_batch_load_numba_but_not_torch() -> None:
    loaded = _loaded_after(
        "import numpy as np\n"
        "from desk.signals.model.features import compute_features\n"
        "x = np.linspace(1.0, 2.0, 50)\n"
        "compute_features(x, x, x, x)"
    )
    assert "numba" in loaded and "torch" not in loaded


@pytest.mark.parametrize("module", ["network", "train", "checkpoint", "inference"])
def test_the_model_modules_are_the_ones_with_torch(module: str) -> None:
    assert "torch" in _loaded_after(f"import desk.signals.model.{module}")
