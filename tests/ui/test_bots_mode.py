"""Bots mode on the fake client: the table, the bot keys and their acks, the forms, the detail."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from desk.app import DeskApp
from desk.core.commands import (
    AddBot,
    PauseBot,
    ResumeBot,
    SetBotMode,
    SetBotParams,
    StartBot,
    StopBot,
)
from desk.screens.bot_detail import BotDetailScreen
from desk.screens.bots import BotsScreen
from desk.screens.forms import NewBotForm, ParamsForm, parse_value
from desk.widgets.series_plot import SeriesPlot
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient


async def open_bots(pilot: Pilot[Any]) -> BotsScreen:
    app = pilot.app
    await settled(pilot)
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(app.screen, BotsScreen))
    screen = app.screen
    assert isinstance(screen, BotsScreen)
    await wait_for(pilot, lambda: screen.table.row_count == 3)
    return screen


def notes(app: DeskApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_the_table_shows_every_bot_with_state_mode_and_pnl() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_bots(pilot)
        table = screen.table
        assert table.cell_text("ma-fast", "state") == "running"
        assert table.cell_text("rsi-revert", "mode") == "paused"
        assert table.cell_text("ma-fast", "pnl") == "+12.34"
        assert table.cell_text("rsi-revert", "pnl") == "-3.21"
        assert table.cell_text("ma-fast", "last").split() == ["long", "4s"]
        assert table.cell_text("macd-trend", "last") == "—"
        assert "bots 3 · 2 running" in str(table.border_title)
        await wait_for(pilot, lambda: screen.signals is not None)
        assert screen.signals is not None
        assert {s.bot_id for s in screen.signals.signals} == {"ma-fast"}


async def test_bot_keys_send_the_right_command_for_the_selected_bot() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_bots(pilot)
        await pilot.press("down")  # rsi-revert
        await wait_for(pilot, lambda: screen.selected_bot() == "rsi-revert")
        for key in ("p", "r", "g", "x", "m"):
            await pilot.press(key)
        await wait_for(pilot, lambda: len(fake.executed) == 5)
        assert fake.executed == [
            PauseBot(bot_id="rsi-revert"),
            ResumeBot(bot_id="rsi-revert"),
            StartBot(bot_id="rsi-revert"),
            StopBot(bot_id="rsi-revert"),
            SetBotMode(bot_id="rsi-revert", mode="manual"),
        ]
        await wait_for(pilot, lambda: "SetBotMode rsi-revert: accepted" in notes(app))
        assert "PauseBot rsi-revert: accepted" in notes(app)
        await wait_for(pilot, lambda: screen.table.cell_text("rsi-revert", "mode") == "manual")
        assert screen.table.cell_text("rsi-revert", "state") == "stopped"


async def test_a_refused_command_shows_the_engines_reason() -> None:
    fake = FakeEngineClient()
    fake.refuse["StartBot"] = "risk: trading is halted"
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_bots(pilot)
        await pilot.press("g")
        await wait_for(pilot, lambda: any("risk: trading is halted" in n for n in notes(app)))
        refusal = next(n for n in app._notifications if "halted" in str(n.message))
        assert refusal.severity == "error"
        assert fake.executed == [StartBot(bot_id="ma-fast")]


async def test_param_edit_sends_the_typed_values() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_bots(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsForm))
        form = app.screen
        assert isinstance(form, ParamsForm)
        assert form.field("fast").value == "5"
        assert form.field("full_gap").value == "0.005"
        form.field("fast").value = "8"
        form.field("kind").value = "ema"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ParamsForm))
        assert fake.executed == [SetBotParams(bot_id="ma-fast", params={"fast": 8, "kind": "ema"})]
        assert fake.bot_list[0].params["fast"] == 8


async def test_a_refused_param_shows_the_reason_in_the_form_which_stays_open() -> None:
    fake = FakeEngineClient()
    fake.refuse["SetBotParams"] = "`fast` must be shorter than `slow`, got fast=50, slow=20"
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_bots(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsForm))
        form = app.screen
        assert isinstance(form, ParamsForm)
        form.field("fast").value = "50"
        form.field("fast").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: form.last_ack is not None)
        assert isinstance(app.screen, ParamsForm)
        assert "must be shorter than `slow`" in str(form.error.render())
        assert fake.executed == [SetBotParams(bot_id="ma-fast", params={"fast": 50})]
        fake.refuse.clear()
        form.field("fast").value = "6"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ParamsForm))
        assert fake.executed[-1] == SetBotParams(bot_id="ma-fast", params={"fast": 6})


async def test_escape_cancels_a_form_without_a_command() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_bots(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsForm))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BotsScreen))
        assert fake.executed == []


async def test_new_bot_form_adds_a_bot_with_the_strategys_defaults() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_bots(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBotForm))
        form = app.screen
        assert isinstance(form, NewBotForm)
        form.query_one("#new-id", Input).value = "rsi-2"
        form.query_one("#new-strategy", Select).value = "rsi_mean_reversion"
        await wait_for(
            pilot, lambda: '"oversold": 30.0' in form.query_one("#new-params", Input).value
        )
        form.query_one("#new-symbol", Select).value = "SOL-USDT"
        form.query_one("#new-size", Input).value = "2.5"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, BotsScreen))
        command = fake.executed[-1]
        assert isinstance(command, AddBot)
        assert command.start is True
        assert command.config == {
            "bot_id": "rsi-2",
            "strategy": "rsi_mean_reversion",
            "symbol": "SOL-USDT",
            "timeframe": "1s",
            "size": 2.5,
            "params": {"n": 14, "oversold": 30.0, "overbought": 70.0, "exit": 50.0},
        }
        await wait_for(pilot, lambda: screen.table.row_count == 4)


async def test_new_bot_form_refuses_a_bad_size_before_sending() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_bots(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBotForm))
        form = app.screen
        assert isinstance(form, NewBotForm)
        form.query_one("#new-id", Input).value = "ma-fast"  # exists: the engine refuses
        form.query_one("#new-size", Input).value = "lots"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not a number" in str(form.error.render()))
        assert fake.executed == []
        form.query_one("#new-size", Input).value = "1"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "already exists" in str(form.error.render()))
        assert isinstance(app.screen, NewBotForm)


async def test_detail_shows_chart_indicators_signals_and_the_change_log() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_bots(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, BotDetailScreen))
        detail = app.screen
        assert isinstance(detail, BotDetailScreen)
        await wait_for(pilot, lambda: detail.detail is not None)
        assert detail.signals.row_count == 6
        assert detail.events.row_count == 3
        newest = str(detail.events.ordered_rows[0].key.value)
        assert detail.events.cell_text(newest, "summary") == "params fast 8 -> 5"
        assert detail.events.cell_text(newest, "actor") == "operator"
        overlay = detail.query_one("#detail-overlay", SeriesPlot)
        assert overlay.spec is not None
        assert [s.name for s in overlay.spec.series] == ["close", "fast", "slow"]
        assert detail.chart.candles is not None and detail.chart.candles.candles
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BotsScreen))
        await pilot.press("enter")  # enter on a bot opens its detail too
        await wait_for(pilot, lambda: isinstance(app.screen, BotDetailScreen))


async def test_rsi_detail_plots_rsi_with_its_levels() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_bots(pilot)
        screen.select_bot("rsi-revert")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, BotDetailScreen))
        detail = app.screen
        assert isinstance(detail, BotDetailScreen)
        plot = detail.query_one("#detail-oscillator", SeriesPlot)
        await wait_for(pilot, lambda: plot.spec is not None)
        assert plot.spec is not None
        assert plot.spec.levels == (30.0, 70.0)
        assert plot.spec.fixed == (0.0, 100.0)
        assert not detail.query_one("#detail-overlay", SeriesPlot).display


async def test_the_palette_pauses_a_bot_by_name() -> None:
    from tests.ui.test_palette import run_command

    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        await run_command(pilot, "Bot: pause macd-trend")
        await wait_for(pilot, lambda: fake.executed == [PauseBot(bot_id="macd-trend")])


def test_typed_values_are_parsed_like_the_parameter_they_replace() -> None:
    assert parse_value("8", 5) == 8
    assert parse_value("3", 2.0) == 3.0 and isinstance(parse_value("3", 2.0), float)
    assert parse_value("true", False) is True
    assert parse_value("False", True) is False
    assert parse_value("ema", "sma") == "ema"
    assert parse_value('{"a": 1}', {}) == {"a": 1}
    assert parse_value("[1, 2]", None) == [1, 2]
    assert parse_value("fast", 5) == "fast"  # not a number: the engine will say why


async def test_bot_keys_are_remappable_by_id() -> None:
    fake = FakeEngineClient()
    app = make_app(fake, keys={"bot_pause": "P"})
    async with app.run_test(size=(120, 30)) as pilot:
        await open_bots(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert fake.executed == []
        await pilot.press("P")
        await wait_for(pilot, lambda: fake.executed == [PauseBot(bot_id="ma-fast")])
