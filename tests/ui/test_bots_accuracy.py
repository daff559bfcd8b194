"""The bots mode shows each bot's signal accuracy beside its PnL, even at 80 columns."""

from __future__ import annotations

import msgspec

from desk.screens.bots import BotsScreen
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient


async def test_accuracy_sits_beside_pnl_and_follows_the_engine() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, BotsScreen))
        screen = app.screen
        assert isinstance(screen, BotsScreen)
        table = screen.table
        await wait_for(pilot, lambda: table.row_count == 3)
        keys = [column.key for column in table.COLUMNS]
        assert keys.index("accuracy") == keys.index("pnl") + 1
        assert "position" in keys  # both fit at 80 columns
        assert table.cell_text("ma-fast", "accuracy") == "62% ·37"
        assert table.cell_text("rsi-revert", "accuracy") == "41% ·17"
        assert table.cell_text("macd-trend", "accuracy") == "—"  # nothing scored yet
        fake.bot_list = [
            msgspec.structs.replace(b, accuracy=0.5, accuracy_signals=1200)
            if b.bot_id == "macd-trend"
            else b
            for b in fake.bot_list
        ]
        fake.bots_version += 1
        await wait_for(pilot, lambda: table.cell_text("macd-trend", "accuracy") == "50% ·1k")
