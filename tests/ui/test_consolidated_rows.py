"""The consolidated ladder's rows and the spread panel's text, as plain data (no terminal)."""

from __future__ import annotations

import math

from desk.bridge.venue_views import CrossVenueView, SpreadCellView, SymbolCrossView, VenueTopView
from desk.bridge.views import BookView, LevelView
from desk.widgets.consolidated_rows import (
    ASK,
    BID,
    EMPTY,
    SPREAD,
    build_rows,
    consolidated_spread,
)
from desk.widgets.spread_matrix import panel_lines

T0 = 1_700_000_000_000_000_000


def book(venue: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookView:
    return BookView(
        venue=venue,
        symbol="BTC-USDT",
        bids=[LevelView(p, s) for p, s in bids],
        asks=[LevelView(p, s) for p, s in asks],
        seq_id=1,
        ts_exchange=T0,
        ts_recv=T0,
        age_ms=1.0,
        stale=False,
    )


def test_levels_of_every_venue_merge_by_price_with_cumulative_size_and_best_marks() -> None:
    okx = book("okx", [(100.0, 1.0), (99.9, 2.0)], [(100.2, 1.0), (100.3, 2.0)])
    binance = book("binance", [(100.1, 0.5), (100.0, 4.0)], [(100.2, 3.0)])
    rows = build_rows([okx, binance], depth=3)
    assert len(rows) == 7 and rows[3].kind == SPREAD
    asks = [(r.price, r.venue, r.size, r.cum, r.best) for r in rows[:3]]
    # deepest first; at one price OKX (listed first) is nearer the spread
    assert asks == [
        (100.3, "okx", 2.0, 6.0, False),
        (100.2, "binance", 3.0, 4.0, True),
        (100.2, "okx", 1.0, 1.0, True),
    ]
    bids = [(r.price, r.venue, r.cum, r.best) for r in rows[4:]]
    assert bids == [
        (100.1, "binance", 0.5, True),
        (100.0, "okx", 1.5, True),
        (100.0, "binance", 5.5, False),
    ]
    assert max(r.fill for r in rows if r.kind in (ASK, BID)) == 1.0  # the deeper side fills


def test_thin_books_leave_blank_rows_and_the_spread_row_stays_in_place() -> None:
    rows = build_rows([book("okx", [(10.0, 1.0)], [])], depth=2)
    assert [r.kind for r in rows] == [EMPTY, EMPTY, SPREAD, BID, EMPTY]
    assert consolidated_spread([book("okx", [(10.0, 1.0)], [])]) is None


def test_the_consolidated_spread_names_each_sides_venue_and_sees_a_cross() -> None:
    okx = book("okx", [(100.0, 1.0)], [(100.2, 1.0)])
    coinbase = book("coinbase", [(100.3, 1.0)], [(100.4, 1.0)])
    info = consolidated_spread([okx, coinbase])
    assert info is not None
    assert (info.bid, info.bid_venue, info.ask, info.ask_venue) == (100.3, "coinbase", 100.2, "okx")
    assert info.crossed and math.isclose(info.spread, -0.1)


def test_the_panel_shows_dashes_for_a_missing_side_and_marks_only_positive_cells() -> None:
    okx = VenueTopView(
        venue="okx", bid=10.0, ask=10.1, bid_size=1.0, ask_size=2.0, ts_recv=T0, fee_bps=5.0
    )
    binance = VenueTopView(
        venue="binance",
        bid=math.nan,
        ask=10.0,
        bid_size=math.nan,
        ask_size=1.0,
        ts_recv=T0 - 2_000_000_000,
        fee_bps=5.0,
    )
    tops = [okx, binance]
    row = SymbolCrossView(
        symbol="BTC-USDT",
        tops=tops,
        spreads=[SpreadCellView("okx", "binance", math.nan), SpreadCellView("binance", "okx", 2.5)],
        best=SpreadCellView("binance", "okx", 2.5),
    )
    view = CrossVenueView(venues=["okx", "binance"], symbols=[row])
    lines = panel_lines(view, "BTC-USDT", T0)
    text = ["".join(t for t, _ in line).rstrip() for line in lines]
    assert text[2].split() == ["BIN", "—", "—", "10.0", "1.0000", "2.0s", "5bp"]
    assert text[-3].split() == ["OKX", "·", "—"]
    assert text[-2].split() == ["BIN", "+2.5", "·"]
    positive = [t.strip() for line in lines for t, kind in line if kind == "positive"]
    assert positive == ["+2.5", "best BTC-USDT: buy BIN → sell OKX +2.5bp"]
    assert panel_lines(view, "ETH-USDT", T0) == [[(" ETH-USDT: no venue's book yet", "muted")]]
