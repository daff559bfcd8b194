"""Keys are remappable from ``ui.keys``; a bad remap is refused with the id or key it names."""

from __future__ import annotations

import pytest

from desk.app import DeskApp, run_app
from desk.keymap import (
    BINDINGS,
    MODE_ORDER,
    KeymapError,
    UiConfigError,
    display_key,
    resolve_keys,
)
from desk.screens.health import HealthScreen
from desk.screens.help import HelpScreen
from desk.screens.market import MarketScreen
from tests.ui.conftest import make_app, make_config, settled, wait_for
from tests.ui.fakes import FakeEngineClient, frozen_clock


def test_defaults_give_every_binding_a_unique_id_and_the_documented_keys() -> None:
    keys = resolve_keys({})
    assert len(keys) == len(BINDINGS)
    assert keys["mode_market"] == "1"
    assert keys["mode_health"] == "5"
    assert keys["quit"] == "q"
    assert keys["command_palette"] == "ctrl+p"
    assert keys["mode_backtest"] == "6"
    for number, mode in enumerate(MODE_ORDER, start=1):
        assert keys[f"mode_{mode}"] == str(number)


def test_unknown_binding_id_is_refused_naming_it() -> None:
    with pytest.raises(KeymapError, match="'mode_healht'"):
        resolve_keys({"mode_healht": "h"})


def test_two_bindings_on_one_key_are_refused() -> None:
    with pytest.raises(KeymapError, match="'q' is bound to both 'mode_health' and 'quit'"):
        resolve_keys({"mode_health": "q"})


def test_a_key_free_on_one_screen_may_be_reused_on_another() -> None:
    keys = resolve_keys({"close_help": "x", "next_symbol": "n"})
    assert keys["close_help"] == "x"


def test_malformed_keys_are_refused() -> None:
    with pytest.raises(KeymapError, match="empty key"):
        resolve_keys({"quit": "q,"})
    with pytest.raises(KeymapError, match="not a key name"):
        resolve_keys({"quit": "ctrl+ q"})


def test_display_key_shows_characters_not_their_names() -> None:
    assert display_key("question_mark") == "?"
    assert display_key("f5,left_square_bracket") == "f5, ["


def test_the_app_refuses_an_unknown_id_before_it_starts() -> None:
    with pytest.raises(KeymapError, match="'no_such_binding'"):
        DeskApp(FakeEngineClient(), make_config(keys={"no_such_binding": "x"}), clock=frozen_clock)


def test_run_app_reports_a_bad_remap_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(make_config(keys={"no_such_binding": "x"})) == 2
    assert "no_such_binding" in capsys.readouterr().err


def test_an_unknown_theme_is_refused_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UiConfigError, match="'nope'"):
        make_app(theme="nope")
    assert run_app(make_config(theme="nope")) == 2
    assert "ui.theme" in capsys.readouterr().err


async def test_a_remapped_key_works_and_the_old_one_no_longer_does() -> None:
    app = make_app(keys={"mode_health": "h", "next_symbol": "n"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("5")
        await pilot.pause()
        assert isinstance(app.screen, MarketScreen)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.symbol == "ETH-USDT")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))


async def test_help_shows_the_remapped_keys() -> None:
    app = make_app(keys={"mode_health": "h", "help": "f1"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        assert dict(screen.rows())["mode_health"] == "h"
        await pilot.press("f1")  # the remapped key closes help too
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen))
