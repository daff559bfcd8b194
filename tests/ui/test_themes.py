"""Themes restyle everything: every colour is a variable, every desk theme sets them all."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from desk.themes import THEMES, VARIABLE_DEFAULTS
from desk.widgets.ladder import Ladder
from tests.ui.conftest import make_app, settled, wait_for

HARD_CODED_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(")


def test_the_stylesheet_ships_inside_the_package_and_names_no_colour() -> None:
    sheet = files("desk.themes").joinpath("desk.tcss")
    assert sheet.is_file()
    text = sheet.read_text(encoding="utf-8")
    assert not HARD_CODED_COLOUR.search(text)
    for variable in ("$bid", "$ask", "$stale", "$pnl-up", "$pnl-down", "$warning"):
        assert variable in text


@pytest.mark.parametrize("theme", THEMES, ids=lambda theme: theme.name)
def test_every_desk_theme_sets_every_desk_variable(theme) -> None:
    assert set(VARIABLE_DEFAULTS) <= set(theme.variables)


async def test_a_textual_builtin_theme_still_works_through_the_defaults() -> None:
    app = make_app(theme="nord")
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        ladder = app.screen.query_one(Ladder)
        await wait_for(pilot, lambda: ladder.book is not None)
        assert ladder.get_component_rich_style("ladder--bid").color is not None
