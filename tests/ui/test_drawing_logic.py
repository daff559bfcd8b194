"""The pure drawing logic behind the widgets: ladder rows, tape bursts, candle grid, formats."""

from __future__ import annotations

import math
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from desk.bridge.views import BookView, CandleView, LevelView, TradeView
from desk.core.enums import Side
from desk.widgets.candle_grid import render_grid, timeframe_ns
from desk.widgets.formatting import (
    bar_rows,
    fmt_age_ms,
    fmt_size,
    price_decimals,
    sparkline,
    utc_hms,
)
from desk.widgets.ladder_rows import ASK, BID, EMPTY, SPREAD, build_rows, spread_info
from desk.widgets.tape_rows import aggregate
from tests.ui.fakes import T0


def _book(bids: list[tuple[float, float]], asks: list[tuple[float, float]], **kw) -> BookView:
    return BookView(
        version=1,
        symbol="BTC-USDT",
        bids=[LevelView(*b) for b in bids],
        asks=[LevelView(*a) for a in asks],
        seq_id=1,
        ts_exchange=0,
        ts_recv=0,
        age_ms=0.0,
        stale=False,
        **kw,
    )


def test_ladder_rows_put_asks_above_bids_with_cumulative_depth() -> None:
    book = _book([(99.0, 1.0), (98.0, 2.0)], [(101.0, 3.0)], last_price=99.0, last_side=Side.SELL)
    rows = build_rows(book, depth=3)
    assert [r.kind for r in rows] == [EMPTY, EMPTY, ASK, SPREAD, BID, BID, EMPTY]
    assert rows[2].price == 101.0 and rows[2].cum == 3.0
    assert rows[5].cum == 3.0 and rows[5].fill == 1.0
    assert rows[4].last_side is Side.SELL  # the last trade printed at 99
    info = spread_info(book)
    assert info is not None and info.spread == 2.0 and info.mid == 100.0 and not info.crossed


def test_a_crossed_book_is_reported() -> None:
    info = spread_info(_book([(101.0, 1.0)], [(100.0, 1.0)]))
    assert info is not None and info.crossed


def _trade(ms: int, price: float, side: Side, size: float = 1.0) -> TradeView:
    return TradeView(ts_exchange=T0 - ms * 1_000_000, price=price, size=size, side=side)


def test_tape_folds_a_same_side_same_price_burst_and_nothing_else() -> None:
    trades = [  # newest first
        _trade(0, 100.0, Side.BUY),
        _trade(5, 100.0, Side.BUY, 2.0),
        _trade(9, 100.0, Side.BUY),
        _trade(10, 100.0, Side.SELL),  # other side: new row
        _trade(400, 100.0, Side.SELL),  # too long after: new row
        _trade(401, 100.5, Side.SELL),  # other price: new row
    ]
    rows = aggregate(trades)
    assert [(r.count, r.size, r.side) for r in rows] == [
        (3, 4.0, Side.BUY),
        (1, 1.0, Side.SELL),
        (1, 1.0, Side.SELL),
        (1, 1.0, Side.SELL),
    ]
    assert rows[0].ts_exchange == T0  # the burst shows its newest time


@given(
    st.lists(st.tuples(st.sampled_from([100.0, 100.5]), st.sampled_from(list(Side))), max_size=60)
)
def test_tape_folding_keeps_every_trade_and_all_the_size(spec: list[tuple[float, Side]]) -> None:
    trades = [_trade(i * 30, price, side, 1.0) for i, (price, side) in enumerate(spec)]
    rows = aggregate(trades)
    assert sum(r.count for r in rows) == len(trades)
    assert math.isclose(sum(r.size for r in rows), float(len(trades)))


def _candles(n: int) -> list[CandleView]:
    out = []
    for i in range(n):
        base = 100 + (i % 7)
        out.append(CandleView(T0 + i * 60_000_000_000, base, base + 2, base - 1, base + 1, 5.0 + i))
    return out


@given(st.integers(1, 160), st.integers(1, 60), st.integers(0, 150))
def test_candle_grid_always_fills_exactly_the_widget(width: int, height: int, count: int) -> None:
    grid = render_grid(_candles(count), width, height, "1m", 2)
    assert len(grid) == height
    assert all(sum(len(text) for text, _ in line) == width for line in grid)


def test_candle_grid_draws_the_newest_candle_on_the_right_with_its_close_marked() -> None:
    grid = render_grid(_candles(30), 60, 20, "1m", 2)
    text = ["".join(t for t, _ in line) for line in grid]
    assert any("◂" in line for line in text)
    assert any(style == "last-up" for line in grid for _, style in line)
    assert "▁" in "".join(text) or "█" in "".join(text)  # volume bars


def test_timeframes_convert_to_bar_lengths() -> None:
    assert timeframe_ns("1s") == 1_000_000_000
    assert timeframe_ns("15m") == 900_000_000_000
    assert timeframe_ns("1d") == 86_400_000_000_000


def test_formats_read_the_way_a_trader_scans_them() -> None:
    assert price_decimals([65432.1, 65432.0]) == 1
    assert price_decimals([145.234]) == 3
    assert fmt_size(0.5) == "0.5000"
    assert fmt_size(12_345.0) == "12,345"
    assert fmt_age_ms(80) == "80ms"
    assert fmt_age_ms(4_200) == "4.2s"
    assert fmt_age_ms(math.inf) == "never"
    assert utc_hms(T0 + 5_000_000, millis=True) == "22:13:20.005"
    assert sparkline([0, 1, 2, 4], 3) == "▃▅█"
    assert bar_rows([1.0, 2.0], 3, 2) == ["  █", " ██"]


def test_importing_the_ui_does_not_import_torch_or_numba() -> None:
    code = "import sys, desk.app; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(out.stdout.split())
    assert "torch" not in loaded
    assert "numba" not in loaded
    assert "desk.engine.engine" not in loaded
