"""The logs mode on a planted log and the fake's events, pinned as an SVG snapshot
(update: --snapshot-update): levels in their colours, a traceback under its record, the
find text highlighted."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from desk.screens.logs import LogsScreen
from tests.ui.conftest import settled, wait_for
from tests.ui.test_logs_mode import logs_app

LOG = """\
2023-11-14 22:13:10,120 INFO    desk.engine.engine: engine starting in sim mode
2023-11-14 22:13:10,480 DEBUG   desk.feeds.okx.feed: subscribed books BTC-USDT ETH-USDT SOL-USDT
2023-11-14 22:13:11,002 WARNING desk.feeds.okx.books: ETH-USDT sequence gap 1041 -> 1043, resync
2023-11-14 22:13:11,310 INFO    desk.feeds.okx.books: ETH-USDT book resynced from REST
2023-11-14 22:13:12,774 ERROR   desk.execution.oms: order b1-7f3a refused by the venue
Traceback (most recent call last):
  File "oms.py", line 212, in submit
desk.execution.venue.VenueError: 51008 insufficient balance
2023-11-14 22:13:19,050 INFO    desk.signals.bot_manager: bot ma-fast started
"""


@pytest.mark.parametrize("find", ["", "ETH"], ids=["all", "find"])
def test_logs_mode_at_80x24(snap_compare, tmp_path: Path, find: str) -> None:
    path = tmp_path / "desk.log"
    path.write_text(LOG, encoding="utf-8")

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, LogsScreen))
        screen = pilot.app.screen
        assert isinstance(screen, LogsScreen)
        await wait_for(pilot, lambda: len(screen.lines) == 9 + 4)
        if find:
            await pilot.press("slash")
            await pilot.pause()
            await pilot.press(*find, "enter")
            await wait_for(pilot, lambda: screen.filter.text == find)
        await settled(pilot)

    assert snap_compare(logs_app(path), terminal_size=(80, 24), run_before=run_before)
