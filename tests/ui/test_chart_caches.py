"""The chart's and ladder's memo caches: small and bounded, and evicting never changes a drawing.

They are kept small so that they fill within minutes of a full-speed feed instead of adding to
the desk's RSS for an hour (bench/desk_soak.py); an evicted entry must draw exactly as before.
"""

from __future__ import annotations

import random

import pytest

from desk.bridge.views import CandleView
from desk.widgets import candle_grid, formatting, ladder, tape
from desk.widgets.candle_grid import render_grid
from desk.widgets.ladder import Ladder
from desk.widgets.tape import Tape
from tests.ui.conftest import make_app, settled
from tests.ui.fakes import T0


def _moving_candles(rng: random.Random, count: int, level: float) -> list[CandleView]:
    """Candles around ``level``: each new level moves the chart's range, so every column is new."""
    out = []
    for i in range(count):
        base = level + rng.uniform(-3, 3)
        high, low = base + rng.uniform(0, 2), base - rng.uniform(0, 2)
        out.append(CandleView(T0 + i * 60_000_000_000, base, high, low, rng.uniform(low, high), i))
    return out


def test_a_chart_drawn_again_after_its_columns_were_evicted_looks_the_same() -> None:
    rng = random.Random(7)
    first = _moving_candles(rng, 80, 100.0)
    before = render_grid(first, 120, 30, "1m", 2)
    for step in range(40):  # enough new ranges to evict every column of the first chart
        render_grid(_moving_candles(rng, 80, 200.0 + step), 120, 30, "1m", 2)
    assert candle_grid._candle_column.cache_info().currsize <= candle_grid.COLUMNS_CACHED
    assert render_grid(first, 120, 30, "1m", 2) == before


def test_the_memo_caches_stay_bounded_and_small() -> None:
    for cached in (candle_grid._candle_column, candle_grid._row_runs, formatting.price_text):
        maxsize = cached.cache_info().maxsize
        assert maxsize is not None and maxsize <= 1024, cached
    for i in range(3000):
        formatting.price_text(100.0 + i / 10, 1)
    assert formatting.price_text.cache_info().currsize <= 1024
    assert formatting.price_text(100.0, 1) == formatting.fmt_price(100.0, 1)


@pytest.mark.parametrize("size", [(120, 45), (160, 120)])
async def test_the_line_widgets_strip_caches_hold_about_what_is_on_screen(
    size: tuple[int, int],
) -> None:
    """Cached Strips live in the collector's oldest generation (~13 tracked objects each), so the
    tape keeps two screens of rows (a row gone from view never returns) and the ladder a few
    spread rows (it has one), not a fixed 256 each; a tall tape still keeps a whole screen."""
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        tape_widget = app.screen.query_one(Tape)
        height = tape_widget.size.height
        wanted = max(tape.STRIP_CACHE, tape.CACHED_SCREENS * height)
        assert tape_widget._strips.maxsize == wanted >= 2 * height
        assert len(tape_widget._strips) <= wanted
        assert app.screen.query_one(Ladder)._strips.maxsize == ladder.STRIP_CACHE <= 8
