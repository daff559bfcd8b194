"""The line widgets' ``ReusingLineCache`` finishes lines exactly as Textual's own renderer does.

It takes a short path for plain content lines and reuses finished lines it has seen; either
would be a silent drawing bug if it disagreed with Textual (a Textual upgrade could make it
so), so every line of every line widget is compared with a fresh Textual ``StylesCache``.
"""

from __future__ import annotations

import pytest
from textual._styles_cache import StylesCache
from textual.filter import ANSIToTruecolor
from textual.widget import Widget

from desk.widgets.candle_chart import CandleChart
from desk.widgets.ladder import Ladder
from desk.widgets.styled import ReusingLineCache
from desk.widgets.tape import Tape
from desk.widgets.ticker_strip import TickerStrip
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient

LINE_WIDGETS = (Ladder, Tape, CandleChart, TickerStrip)


def _finished_lines(widget: Widget, cache: StylesCache) -> list[list[tuple[object, ...]]]:
    lines = cache.render_widget(widget, widget.size.region)
    return [[tuple(segment) for segment in line] for line in lines]


def _assert_same_as_textual(widget: Widget) -> None:
    textual = _finished_lines(widget, StylesCache())
    reusing = ReusingLineCache()
    assert _finished_lines(widget, reusing) == textual, type(widget).__name__
    assert _finished_lines(widget, reusing) == textual, f"{type(widget).__name__}, reused"


@pytest.mark.parametrize("size", [(120, 45), (200, 60)])  # 200 wide: a round chart border
async def test_finished_lines_match_textual(size: tuple[int, int]) -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        for kind in LINE_WIDGETS:
            _assert_same_as_textual(app.screen.query_one(kind))
        ladder = app.screen.query_one(Ladder)
        ladder.focus()  # a focused ladder has another border colour
        drawn = ladder.draws
        fake.bump_book("BTC-USDT")
        await wait_for(pilot, lambda: ladder.draws > drawn)
        for kind in LINE_WIDGETS:
            _assert_same_as_textual(app.screen.query_one(kind))


async def test_ansi_colours_are_converted_as_textual_converts_them() -> None:
    """A theme of ANSI colours drawn in truecolor: lines with ANSI colours need the filter."""
    app = make_app()
    async with app.run_test(size=(120, 45)) as pilot:
        app.theme = "ansi-dark"
        app.ansi_color = False  # convert the theme's ANSI colours rather than emit them
        await settled(pilot)
        assert any(isinstance(f, ANSIToTruecolor) for f in app.get_line_filters())
        for kind in LINE_WIDGETS:
            _assert_same_as_textual(app.screen.query_one(kind))


async def test_a_theme_switch_redraws_reused_lines_in_the_new_colours() -> None:
    app = make_app()
    async with app.run_test(size=(120, 45)) as pilot:
        await settled(pilot)
        tape = app.screen.query_one(Tape)
        before = _finished_lines(tape, tape._styles_cache)
        app.select_theme("desk-light")
        await settled(pilot)
        after = _finished_lines(tape, tape._styles_cache)
        assert after != before
        assert after == _finished_lines(tape, StylesCache())
