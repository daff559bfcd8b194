"""The line widgets' ``ReusingLineCache`` finishes lines exactly as Textual's own renderer does.

It takes a short path for plain content lines and reuses finished lines it has seen; either
would be a silent drawing bug if it disagreed with Textual (a Textual upgrade could make it
so), so every line of every line widget is compared with a fresh Textual ``StylesCache``.
"""

from __future__ import annotations

import gc

import pytest
from rich.segment import Segment
from rich.style import Style
from textual._styles_cache import StylesCache
from textual.cache import FIFOCache
from textual.filter import ANSIToTruecolor
from textual.strip import Strip
from textual.widget import Widget

from desk.widgets.candle_chart import CandleChart
from desk.widgets.ladder import Ladder
from desk.widgets.styled import FinishedStrip, ReusingLineCache
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


def _holds_itself(line: Strip) -> bool:
    """Whether ``line`` reaches itself through its own memo caches (a reference cycle that
    only the garbage collector frees)."""
    seen: set[int] = set()
    todo = list(gc.get_referents(line))
    while todo:
        item = todo.pop()
        if item is line:
            return True
        if id(item) in seen or not isinstance(item, (FIFOCache, dict, list, Strip)):
            continue
        seen.add(id(item))
        todo.extend(gc.get_referents(item))
    return False


@pytest.mark.parametrize("cuts", [[12], [20], [4, 12], [3, 7, 12], [12, 15]])
def test_a_finished_strip_is_cut_as_textual_cuts_it_without_holding_itself(
    cuts: list[int],
) -> None:
    segments = [Segment("│ 01:02 ", Style(bold=True)), Segment("60,001│", None)]
    textual, finished = Strip(segments, 15), FinishedStrip(segments, 15)
    for _ in range(2):  # the second time from Textual's memo
        expected = [[tuple(s) for s in piece] for piece in textual.divide(cuts)]
        assert [[tuple(s) for s in piece] for piece in finished.divide(cuts)] == expected
    assert _holds_itself(Strip(segments, 15).divide([15])[0])  # why FinishedStrip exists
    assert not _holds_itself(finished)


async def test_finished_lines_of_the_line_widgets_are_not_reference_cycles() -> None:
    """A replaced finished line must be freed by its reference count, not wait in the oldest
    generation for a full collection (bench/gc_pauses.py --ui)."""
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 45)) as pilot:
        await settled(pilot)
        ladder = app.screen.query_one(Ladder)
        drawn = ladder.draws
        fake.bump_book("BTC-USDT")
        await wait_for(pilot, lambda: ladder.draws > drawn)
        await settled(pilot)  # the compositor has cut the new lines
        for kind in LINE_WIDGETS:
            cache = app.screen.query_one(kind)._styles_cache
            assert isinstance(cache, ReusingLineCache)
            lines = [finished for _, finished in cache._finished.values()]
            assert lines, kind.__name__
            assert all(isinstance(line, FinishedStrip) for line in lines), kind.__name__
            assert not any(_holds_itself(line) for line in lines), kind.__name__
