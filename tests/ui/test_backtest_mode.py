"""The backtest mode on the fake client: the form, a run in a real worker process, its result,
refusals, cancelling, and applying parameters to a bot (with confirmation).

Runs use the simulator's market generated offline (seeded), saved under the test's own folder
(beside the configured database).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from textual.widgets import Select

from desk.app import DeskApp
from desk.config import DeskConfig
from desk.core.commands import SetBotParams
from desk.screens.backtest import BacktestScreen
from desk.screens.confirm import ConfirmScreen
from desk.screens.help import HelpScreen
from desk.widgets.backtest_tables import MetricsTable, RankedTable, TradesTable
from tests.ui.conftest import settled, wait_for
from tests.ui.fakes import FakeEngineClient, frozen_clock
from tests.ui.test_palette import run_command

RUN_TIMEOUT_S = 120.0  # a spawned interpreter, imports, the numba cache, the simulation


def app_in(tmp_path: Path, client: FakeEngineClient | None = None) -> DeskApp:
    config = DeskConfig()
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "desk.sqlite"))
    config = msgspec.structs.replace(config, storage=storage)
    return DeskApp(client or FakeEngineClient(), config, clock=frozen_clock, health_every_s=0.0)


async def open_mode(pilot) -> BacktestScreen:
    await settled(pilot)
    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BacktestScreen))
    screen = pilot.app.screen
    assert isinstance(screen, BacktestScreen)
    await wait_for(pilot, lambda: screen.form.filled)
    return screen


def fill(screen: BacktestScreen, **fields: str) -> None:
    for name, value in fields.items():
        if name in ("strategy", "symbol", "timeframe", "source", "metric"):
            screen.query_one(f"#bt-{name}", Select).value = value
        else:
            screen.form.field(name).value = value


async def run_to_the_end(pilot, screen: BacktestScreen) -> None:
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: screen.job is not None)
    assert screen.job is not None
    await wait_for(pilot, lambda: not screen.job.running, timeout=RUN_TIMEOUT_S, settle=False)
    await wait_for(pilot, lambda: screen.result is not None or bool(screen.job.error))


async def test_the_form_offers_the_engines_strategies_and_markets_with_defaults(
    tmp_path: Path,
) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mode(pilot)
        assert app.current_mode == "backtest"
        form = screen.form
        assert form.choice("strategy") == "ma_crossover"
        assert form.choice("symbol") == "BTC-USDT" and form.choice("timeframe") == "1m"
        assert form.field("params").value == "fast=10,slow=30,kind=sma,full_gap=0.005"
        fill(screen, strategy="rsi_mean_reversion")
        await wait_for(pilot, lambda: form.field("params").value.startswith("n=14"))
        assert form.field("params").value == "n=14,oversold=30.0,overbought=70.0,exit=50.0"


async def test_a_bad_field_is_refused_on_screen_and_nothing_runs(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mode(pilot)
        fill(screen, period="soon")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "period" in str(screen.status.render()))
        assert "not a duration like 4h" in str(screen.status.render())
        assert screen.job is None
        fill(screen, period="1h", filters="confirm=2")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "filters: 'confirm=2'" in str(screen.status.render()))
        assert screen.job is None
        fill(screen, filters="confirm_bars=3 cooldown_s=60")
        request = screen.form.request(runs=str(tmp_path), database="", workers=1)
        assert not isinstance(request, str)
        assert request.filters == {"confirm_bars": 3, "cooldown_s": 60.0}
        fill(screen, source="csv")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "the CSV to test on" in str(screen.status.render()))
        assert screen.job is None


async def test_a_backtest_runs_in_a_worker_and_shows_curve_metrics_and_trades(
    tmp_path: Path,
) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(pilot)
        fill(screen, period="2h", params="fast=3,slow=8", grid="")
        await run_to_the_end(pilot, screen)
        result = screen.result
        assert result is not None and screen.job is not None and not screen.job.error
        assert (result.run_id, result.kind, result.bars) == (1, "backtest", 120)
        assert result.params == {"fast": 3, "slow": 8}
        assert result.metrics["trades"] > 0
        assert (tmp_path / "backtests" / "1" / "trades.parquet").is_file()
        status = str(screen.status.render())
        assert status.startswith("run #1 · backtest fast=3 slow=8")
        metrics = screen.query_one("#bt-metrics", MetricsTable)
        assert metrics.cell_text("trades", "value") == f"{int(result.metrics['trades'])}"
        trades = screen.query_one(TradesTable)
        assert trades.row_count == min(len(result.trades), 200) > 0
        assert screen.equity.query_one("#equity-line").spec is not None
        assert screen.query_one(RankedTable).row_count == 0  # a single backtest ranks nothing


async def test_a_refusal_from_the_worker_is_shown_and_a_long_run_can_be_canceled(
    tmp_path: Path,
) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mode(pilot)
        fill(screen, params="fast=3,speed=8")
        await run_to_the_end(pilot, screen)
        assert screen.result is None
        assert "ma_crossover has no parameter 'speed'" in str(screen.status.render())
        fill(screen, params="fast=3,slow=8", period="500h")  # minutes of simulation
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.job is not None and screen.job.running)
        job = screen.job
        assert job is not None
        await pilot.press("c")
        await wait_for(pilot, lambda: not job._process.is_alive(), settle=False)
        assert job.canceled and str(screen.status.render()) == "canceled"


async def test_a_two_parameter_sweep_ranks_maps_and_applies_to_a_bot_after_asking(
    tmp_path: Path,
) -> None:
    fake = FakeEngineClient()
    app = app_in(tmp_path, fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_mode(pilot)
        fill(screen, period="3h", params="", grid="fast=3:5 slow=10:20:5 fast<slow",
             metric="total_return")  # fmt: skip
        await run_to_the_end(pilot, screen)
        result = screen.result
        assert result is not None and result.kind == "sweep" and result.combinations == 9
        heatmap = result.heatmap
        assert heatmap is not None and (heatmap.y_name, heatmap.x_name) == ("fast", "slow")
        assert heatmap.y == [3, 4, 5] and heatmap.x == [10, 15, 20]
        assert screen.heatmap.display and "Total return by fast" in str(screen.heatmap.render())
        ranked = screen.query_one(RankedTable)
        assert ranked.row_count == 9 and ranked.cell_text("1", "p:fast") == str(
            result.params["fast"]
        )
        returns = [r["metrics"]["total_return"] for r in result.ranked]
        assert returns == sorted(returns, reverse=True)

        # apply the second-ranked combination to the only ma_crossover bot, after asking
        ranked.focus()
        ranked.move_cursor(row=1)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert [c.value for c in confirm.choices] == ["ma-fast"]  # same strategy only
        assert f"run #{result.run_id}" in confirm.body
        await pilot.press("n")  # no: nothing is sent
        await wait_for(pilot, lambda: isinstance(app.screen, BacktestScreen))
        assert not any(isinstance(c, SetBotParams) for c in fake.executed)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("1")
        second = result.ranked[1]["params"]
        want = SetBotParams(bot_id="ma-fast", params=second, backtest_id=result.run_id)
        await wait_for(pilot, lambda: want in fake.executed)
        bot = next(b for b in fake.bots().bots if b.bot_id == "ma-fast")
        assert (bot.params["fast"], bot.params["slow"]) == (second["fast"], second["slow"])


@pytest.mark.parametrize("strategy", ["rsi_mean_reversion"])
async def test_apply_without_a_bot_of_that_strategy_says_so(tmp_path: Path, strategy: str) -> None:
    fake = FakeEngineClient()
    fake.bot_list = [b for b in fake.bot_list if b.strategy != strategy]
    app = app_in(tmp_path, fake)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_mode(pilot)
        await pilot.press("a")  # nothing run yet
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        fill(screen, strategy=strategy)
        await wait_for(pilot, lambda: screen.form.field("params").value.startswith("n="))
        fill(screen, period="1h")
        await run_to_the_end(pilot, screen)
        assert screen.result is not None
        screen.action_results()
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert not any(isinstance(c, SetBotParams) for c in fake.executed)


async def test_the_palette_and_the_help_list_the_mode_and_its_keys(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await run_command(pilot, "Mode: backtest")
        await wait_for(pilot, lambda: isinstance(app.screen, BacktestScreen))
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        await wait_for(pilot, lambda: screen.form.filled)
        screen.action_results()  # leave the form: "?" is a key again, not a character
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = dict(help_screen.rows())
        assert rows["mode_backtest"] == "6" and rows["backtest_run"] == "ctrl+r"
        assert rows["backtest_apply"] == "a" and rows["backtest_cancel"] == "c"
