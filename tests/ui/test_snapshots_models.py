"""The model view pinned as SVG snapshots on the frozen fake client (update: --snapshot-update)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.ui.conftest import make_app, settled
from tests.ui.test_models_view import open_models


@pytest.mark.parametrize(
    ("size", "row"), [((80, 24), 0), ((200, 60), 1)], ids=["80x24", "200x60-drifting"]
)
def test_models_view(snap_compare, size: tuple[int, int], row: int) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await open_models(pilot)
        for _ in range(row):
            await pilot.press("down")
        await settled(pilot)
        assert screen.selected() is screen.models[row]

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
