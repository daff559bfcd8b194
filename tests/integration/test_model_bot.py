"""The model in the real engine on the simulator, and ``desk train`` as a user runs it.

Real parts: the in-process engine with its WebSocket feed against the built-in simulator,
SQLite files, checkpoints written by the model library, its inference worker thread; and the
real ``desk train`` command in a subprocess. The constant checkpoints predict one class on any
input (tests/signals/lstm_models.py), so the test knows which signal each bar must give.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from desk.app import DeskApp
from desk.clients.inprocess import InProcessClient
from desk.config import parse_config
from desk.core.commands import SetBotParams
from desk.engine.engine import Engine
from desk.screens.models import ModelsScreen
from desk.signals.model.features import feature_names
from tests.signals.lstm_models import FAST_FEATURES, constant_model
from tests.ui.conftest import wait_for
from tests.ui.test_signals_mode import open_signals
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

TIMEOUT_S = 90.0


def _config(db: Path, bots: list[dict[str, Any]]) -> Any:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 11, "steps_per_second": 400},
            "bots": bots,
        }
    )


def _bot(bot_id: str, symbol: str, model: Path, **params: Any) -> dict[str, Any]:
    return {
        "bot_id": bot_id, "strategy": "lstm", "symbol": symbol, "timeframe": "1s",
        "size": 0.01, "params": {"model": str(model), "min_confidence": 0.5, **params},
    }  # fmt: skip


async def test_model_bots_trade_go_late_swap_models_and_report_their_health(
    tmp_path: Path,
) -> None:
    up = constant_model(tmp_path / "up")
    down = constant_model(tmp_path / "down", "down")
    other = constant_model(tmp_path / "other", features=FAST_FEATURES.__class__(rsi=3))
    db = tmp_path / "desk.sqlite"
    bots = [_bot("lstm-a", "BTC-USDT", up), _bot("lstm-slow", "ETH-USDT", up, slow_down_s=2.5)]
    client = InProcessClient(Engine(_config(db, bots)))
    await client.start()
    try:
        # The fast bot: the model's LONG is traded (fate sent).
        await wait_until(
            lambda: client.signals(bot_id="lstm-a", fate="sent").total >= 1, TIMEOUT_S,
            "a sent signal from the model bot",
        )  # fmt: skip
        first = client.signals(bot_id="lstm-a").signals[-1]
        assert (first.direction, first.strategy, first.fate) == ("long", "lstm", "sent")
        assert "predicts up" in first.reason

        # A checkpoint with other features is refused; the bot keeps its model.
        refused = await client.execute(SetBotParams(bot_id="lstm-a", params={"model": str(other)}))
        assert not refused.accepted and "feature list differs" in refused.reason
        # Hot swap: the next bar is the new model's, and the change log shows it.
        swap = await client.execute(SetBotParams(bot_id="lstm-a", params={"model": str(down)}))
        assert swap.accepted, swap.reason
        await wait_until(
            lambda: any(s.direction == "short" for s in client.signals(bot_id="lstm-a").signals),
            TIMEOUT_S, "the swapped model's SHORT",
        )  # fmt: skip
        short = next(s for s in client.signals(bot_id="lstm-a").signals if s.direction == "short")
        assert short.fate == "sent" and "down@" in short.reason
        change = client.bot_detail("lstm-a").events[0]
        assert change.kind == "params" and f"{up} -> {down}" in change.summary
        assert change.actor == "operator"

        # The forced-slow model answers after the next bar closed: late, not traded.
        await wait_until(
            lambda: client.signals(bot_id="lstm-slow", fate="late").total >= 1, TIMEOUT_S,
            "a late signal from the slow model",
        )  # fmt: skip
        assert client.signals(bot_id="lstm-slow", fate="sent").total == 0

        # Health: latency, drift and the warnings of each live model.
        models = {m.bots[0]: m for m in client.models().models}
        assert set(models) == {"lstm-a", "lstm-slow"}
        fast, slow = models["lstm-a"], models["lstm-slow"]
        assert fast.model_id.startswith("down@") and fast.infer_p50_us is not None
        assert fast.infer_p99_us is not None and fast.wait_p99_us is not None
        assert [d.name for d in fast.drift][:2] == ["ret_1", "ret_2"]
        assert all(d.rows > 0 and d.psi is not None for d in fast.drift)
        assert fast.input_age_s is not None and fast.horizon == 2
        assert slow.late >= 1 and slow.infer_p50_us is not None and slow.infer_p50_us > 2e6
        assert any("late" in w for w in slow.warnings)
        assert any(w.startswith(slow.model_id) for w in client.health().model_warnings)
    finally:
        await client.stop()

    with sqlite3.connect(db) as conn:
        fates = {f for (f,) in conn.execute("SELECT fate FROM bot_signals")}
    assert {"sent", "late"} <= fates


async def test_the_model_view_on_the_real_engine(tmp_path: Path) -> None:
    up = constant_model(tmp_path / "up")
    config = _config(tmp_path / "desk.sqlite", [_bot("lstm-a", "BTC-USDT", up)])
    app = DeskApp(InProcessClient(Engine(config)), config, health_every_s=0.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_signals(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        screen = app.screen
        assert isinstance(screen, ModelsScreen)

        def measured() -> bool:
            rows = [str(row.key.value) for row in screen.table.ordered_rows]
            return bool(rows) and screen.table.cell_text(rows[0], "p50").endswith(("µs", "ms"))

        await wait_for(pilot, measured, timeout=TIMEOUT_S)
        model_id = str(screen.table.ordered_rows[0].key.value)
        assert model_id.startswith("up@") and screen.table.cell_text(model_id, "bots") == "lstm-a"
        features = len(feature_names(FAST_FEATURES))
        await wait_for(pilot, lambda: screen.drift.row_count == features, timeout=TIMEOUT_S)
        assert screen.drift.cell_text("ret_1", "psi") not in ("", "—")
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0


def test_desk_train_on_the_simulator_writes_a_checkpoint_and_prints_json(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "model: {hidden: 8, layers: 1, attention: 4, head: 4, window: 6, burn_in: 4}\n"
        "labels: {horizon: 2}\ntrain: {epochs: 2, batch_size: 64}\n"
    )
    out = tmp_path / "model"
    done = subprocess.run(
        [sys.executable, "-m", "desk.cli", "train", "--sim", "0.5", "--timeframe", "5s",
         "--sim-rate", "10", "--spec", str(spec), "--out", str(out), "--json", "--seed", "3"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one JSON object on stdout; progress went to stderr
    assert set(report["baselines"]) == {"majority", "persistence", "logistic"}
    assert report["checkpoint"] == str(out) and report["n_test"] > 0
    assert isinstance(report["beats_baselines"], bool) and "epoch 1/2" in done.stderr
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["symbols"] == ["BTC-USDT"] and card["data"]["timeframe"] == "5s"
    assert card["metrics"]["test"]["n_test"] == report["n_test"]
    assert len(card["feature_bins"]) == len(card["features"])  # drift is measured against them
    assert (out / "model.pt").is_file()

    bad = subprocess.run(
        [sys.executable, "-m", "desk.cli", "train", "--db", str(tmp_path / "none.sqlite"),
         "--symbol", "BTC-USDT"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "no such database" in bad.stderr and not bad.stdout
