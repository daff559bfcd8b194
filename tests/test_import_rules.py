"""Layering rules of DESIGN.md section 2, checked in fresh interpreters."""

import subprocess
import sys

import pytest

ENGINE_MODULES = [
    "desk.core.bus",
    "desk.core.events",
    "desk.config",
    "desk.market.book",
    "desk.market.candles",
    "desk.feeds.okx.feed",
    "desk.feeds.manager",
    "desk.sim.okx.simulator",
    "desk.storage.sqlite",
    "desk.engine.engine",
]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {name.split(".")[0] for name in out.stdout.split()} | set(out.stdout.split())


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_runs_without_a_terminal_ui(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert "textual" not in loaded, f"{module} imported textual"
    assert "rich" not in loaded, f"{module} imported rich"


@pytest.mark.parametrize(
    "module",
    [
        "desk.core.bus",
        "desk.core.events",
        "desk.market.book",
        "desk.market.candles",
        "desk.feeds.okx.feed",
    ],
)
def test_hot_path_modules_do_not_import_torch(module: str) -> None:
    assert "torch" not in _loaded_after_import(module)


@pytest.mark.parametrize(
    "module",
    [
        "desk.core.events",
        "desk.core.bus",
        "desk.market.book",
        "desk.market.candles",
        "desk.market.instruments",
    ],
)
def test_core_and_market_import_nothing_else_from_desk(module: str) -> None:
    desk_modules = {m for m in _loaded_after_import(module) if m.startswith("desk.")}
    outside = {m for m in desk_modules if not m.startswith(("desk.core", "desk.market"))}
    assert outside == set(), f"{module} pulled in {sorted(outside)}"
