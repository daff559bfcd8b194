"""The backtest mode beside the real in-process engine on the simulator: the run happens in a
worker process while the engine keeps trading, and its parameters go to a running bot through
the engine's command path, recorded as the operator's with the run id."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.widgets import Select

from desk.app import DeskApp
from desk.bridge.views import BotView
from desk.clients.inprocess import InProcessClient
from desk.engine.engine import Engine
from desk.screens.backtest import BacktestScreen
from desk.screens.confirm import ConfirmScreen
from tests.ui.conftest import wait_for
from tests.ui.test_real_engine import START_TIMEOUT_S, sim_config

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 180.0


async def test_a_backtest_beside_the_live_engine_applies_to_a_running_bot(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    client = InProcessClient(Engine(config))
    app = DeskApp(client, config)
    async with app.run_test(size=(120, 40)) as pilot:

        def wait(
            condition: Callable[[], object], timeout: float = START_TIMEOUT_S
        ) -> Awaitable[None]:
            return wait_for(pilot, condition, timeout, settle=False)

        def bot(bot_id: str) -> BotView:
            return next(b for b in client.bots().bots if b.bot_id == bot_id)

        await wait(lambda: app.engine_state == "running")
        await pilot.press("6")
        await wait(lambda: isinstance(app.screen, BacktestScreen))
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        await wait(lambda: screen.form.filled)
        screen.query_one("#bt-strategy", Select).value = "ma_crossover"
        await wait(lambda: screen.form.field("params").value.startswith("fast="))
        screen.form.field("period").value = "1h"
        screen.form.field("params").value = "fast=3,slow=8"
        assert bot("ma-fast").params["fast"] != 3

        engine = client.engine
        closed_before = engine.candles_closed
        await pilot.press("ctrl+r")
        await wait(lambda: screen.job is not None)
        job = screen.job
        assert job is not None
        await wait(lambda: not job.running, RUN_TIMEOUT_S)
        await wait(lambda: screen.result is not None)
        result = screen.result
        assert result is not None and not job.error and result.run_id == 1
        assert engine.candles_closed > closed_before  # the engine kept closing candles meanwhile

        await pilot.press("a")
        await wait(lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        choice = next(c for c in confirm.choices if c.value == "ma-fast")
        await pilot.press(choice.key)
        await wait(lambda: (bot("ma-fast").params["fast"], bot("ma-fast").params["slow"]) == (3, 8))
        await wait(
            lambda: any(e.kind == "params_source" for e in client.bot_detail("ma-fast").events)
        )
        events = {e.kind: e for e in client.bot_detail("ma-fast").events}
        assert events["params"].actor == "operator"
        assert events["params_source"].actor == "operator"
        assert events["params_source"].summary == "params from backtest run #1"
        await pilot.press("q")
    assert app.return_code == 0
    with sqlite3.connect(tmp_path / "desk.sqlite") as db:  # the durable record
        rows = db.execute(
            "SELECT actor, detail FROM bot_events WHERE bot_id = ? AND kind = ?",
            ("ma-fast", "params_source"),
        ).fetchall()
    assert [(actor, json.loads(detail)["backtest_id"]) for actor, detail in rows] == [
        ("operator", 1)
    ]
    assert (tmp_path / "backtests" / "1" / "equity.parquet").is_file()
