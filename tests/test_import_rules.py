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


# -- torch stays out of the UI and of an engine without a model bot (DESIGN.md section 2) --------

ENGINE_RUN = """
import asyncio, json, sys
from desk.config import parse_config, with_simulator
from desk.engine.engine import Engine

config = with_simulator(parse_config(json.loads(sys.argv[1])))

async def main() -> None:
    engine = Engine(config)
    await engine.start()
    states = [s.state for s in engine.bots.statuses()]
    await engine.stop()
    print(json.dumps({"states": states, "torch": "torch" in sys.modules,
                      "numba": "numba" in sys.modules}))

asyncio.run(main())
"""


def _engine_run(tmp_path, bots: list[dict]) -> dict:
    import json

    config = {
        "trading": {"symbols": ["BTC-USDT"], "timeframes": ["1s"], "channels": ["trades"]},
        "storage": {"sqlite_path": str(tmp_path / "desk.sqlite")},
        "simulator": {"port": 0},
        "bots": bots,
    }
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_RUN, json.dumps(config)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_ui_does_not_import_torch() -> None:
    assert "torch" not in _loaded_after_import("desk.app")
    assert "torch" not in _loaded_after_import("desk.cli")  # desk train's parser included


def test_an_engine_without_a_model_bot_never_loads_torch(tmp_path) -> None:
    bot = {"bot_id": "ma", "strategy": "ma_crossover", "symbol": "BTC-USDT", "timeframe": "1s",
           "size": 0.01}  # fmt: skip
    run = _engine_run(tmp_path, [bot])
    assert run["states"] == ["running"] and run["torch"] is False and run["numba"] is False


def test_an_engine_with_a_model_bot_loads_torch_when_the_bot_starts(tmp_path) -> None:
    from tests.signals.lstm_models import constant_model

    model = constant_model(tmp_path / "up")
    bot = {"bot_id": "m", "strategy": "lstm", "symbol": "BTC-USDT", "timeframe": "1s",
           "size": 0.01, "params": {"model": str(model)}}  # fmt: skip
    run = _engine_run(tmp_path, [bot])
    assert run["states"] == ["running"] and run["torch"] is True
