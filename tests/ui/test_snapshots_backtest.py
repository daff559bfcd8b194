"""The backtest mode pinned as SVG snapshots on the frozen fake client, showing a finished
two-parameter sweep (computed here, seeded, so the picture never changes): the equity curve
with drawdown and metrics at 200x60, the ranking and heatmap at 80x24
(update: --snapshot-update)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from desk.backtest.job import JobRequest, JobResult, run_job
from desk.screens.backtest import BacktestScreen
from tests.ui.conftest import make_app, settled, wait_for


@pytest.fixture(scope="module")
def sweep_result(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    runs: Path = tmp_path_factory.mktemp("runs")
    return run_job(
        JobRequest(
            strategy="ma_crossover",
            symbol="BTC-USDT",
            timeframe="1m",
            hours=3.0,
            grid="fast=3:6 slow=10:25:5 fast<slow",
            runs=str(runs),
        )
    )


def _shown(result: JobResult, tab: str):
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, BacktestScreen))
        screen = pilot.app.screen
        assert isinstance(screen, BacktestScreen)
        await wait_for(pilot, lambda: screen.form.filled)
        screen.show_result(result)
        screen.query_one(TabbedContent).active = tab
        screen.action_results()
        await settled(pilot)

    return run_before


def test_backtest_sweep_equity_at_200x60(snap_compare, sweep_result: JobResult) -> None:
    assert snap_compare(
        make_app(), terminal_size=(200, 60), run_before=_shown(sweep_result, "bt-tab-equity")
    )


def test_backtest_sweep_heatmap_at_80x24(snap_compare, sweep_result: JobResult) -> None:
    assert snap_compare(
        make_app(), terminal_size=(80, 24), run_before=_shown(sweep_result, "bt-tab-sweep")
    )
