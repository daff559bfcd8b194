"""The latency histograms and the signal accuracy on the real engine and the built-in simulator
(real WebSockets, a real SQLite file): what an operator sees without any other tool."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from desk.app import DeskApp
from desk.clients.inprocess import InProcessClient
from desk.config import parse_config
from desk.engine.engine import Engine
from desk.screens.bots import BotsScreen
from desk.screens.health import HealthScreen
from tests.ui.conftest import wait_for

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 90.0
PERCENT = re.compile(r"^\d{1,3}% ·\d+k?$")
FAST_BOT = {  # a signal on almost every 1s bar, so orders and scored signals come quickly
    "bot_id": "fast",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1s",
    "size": 0.01,
    "params": {"fast": 1, "slow": 2},
}


def _config(tmp_path: Path) -> object:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books"],
                "bots_accuracy_bars": 1,
            },
            "storage": {"sqlite_path": str(tmp_path / "desk.sqlite"), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 16, "steps_per_second": 400},
            "bots": [FAST_BOT],
        }
    )


async def test_health_shows_live_latencies_and_bots_show_accuracy(tmp_path: Path) -> None:
    config = _config(tmp_path)
    client = InProcessClient(Engine(config))  # type: ignore[arg-type]
    app = DeskApp(client, config)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:

        def wait(condition: Callable[[], object]) -> Awaitable[None]:
            return wait_for(pilot, condition, START_TIMEOUT_S, settle=False)

        def counted(path: str) -> int:
            return sum(v.count for v in client.health().latencies if v.path == path)

        await wait(lambda: app.engine_state == "running")
        await wait(lambda: counted("exchange") > 0 and counted("tick_to_order") > 0)
        views = {(v.name, v.path): v for v in client.health().latencies}
        assert set(views) == {("okx", "exchange"), ("bots", "tick_to_order")}
        orders = views["bots", "tick_to_order"]
        assert 0 < orders.min_ns <= orders.max_ns < 10**9  # a bar's receive to its order
        assert orders.count <= client.bots().bots[0].sent_count

        await pilot.press("5")
        await wait(lambda: isinstance(app.screen, HealthScreen))
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.latency

        def row_shows(key: str) -> bool:
            try:
                return table.cell_text(key, "p50") not in ("", "—")
            except (KeyError, ValueError):
                return False

        await wait(lambda: row_shows("exchange:okx") and row_shows("tick_to_order:bots"))
        assert table.cell_text("exchange:okx", "path") == "exch→recv"

        await wait(lambda: client.bots().bots[0].accuracy is not None)
        await pilot.press("3")
        await wait(lambda: isinstance(app.screen, BotsScreen))
        bots = app.screen
        assert isinstance(bots, BotsScreen)

        def accuracy_cell() -> str:
            try:
                return bots.table.cell_text("fast", "accuracy")
            except (KeyError, ValueError):
                return ""

        await wait(lambda: PERCENT.match(accuracy_cell()))
        await pilot.press("q")
    assert app.return_code == 0
