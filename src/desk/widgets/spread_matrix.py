"""The cross-venue panel of one symbol: each venue's top of book, then the spread matrix.

Rows of the matrix are the venue bought on (at its ask), columns the venue sold on (at its
bid); a cell is the net spread in basis points after both venues' taker fees, as
:func:`desk.market.cross_venue.net_spread_bps` computes it for the spread watcher. A positive
cell (the books cross by more than the fees) is highlighted. The text is built by plain
functions (``panel_lines``) so tests can read it without a terminal.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from desk.bridge.venue_views import CrossVenueView, SymbolCrossView
from desk.widgets.consolidated_rows import venue_tag
from desk.widgets.formatting import fmt_age_ms, fmt_price, fmt_size, price_decimals

Run = tuple[str, str]  # text, style name ("" = plain)
POSITIVE = "positive"
NEGATIVE = "negative"
HEAD = "head"
MUTED = "muted"
BID = "bid"
ASK = "ask"
CELL = 9


def fmt_bps(bps: float) -> str:
    return f"{bps:+.1f}" if math.isfinite(bps) else "—"


def top_lines(row: SymbolCrossView, now_ns: int) -> list[list[Run]]:
    """The tops table: venue, bid, size, ask, size, age, taker fee; one line per venue."""
    decimals = price_decimals([p for t in row.tops for p in (t.bid, t.ask) if math.isfinite(p)])
    texts = [
        (
            venue_tag(t.venue),
            fmt_price(t.bid, decimals),
            fmt_size(t.bid_size),
            fmt_price(t.ask, decimals),
            fmt_size(t.ask_size),
            fmt_age_ms(max(0.0, (now_ns - t.ts_recv) / 1e6)),
            f"{t.fee_bps:g}bp",
        )
        for t in row.tops
    ]
    head = ("venue", "bid", "size", "ask", "size", "age", "fee")
    widths = [max(len(line[i]) for line in (head, *texts)) for i in range(len(head))]
    kinds = ("", BID, "", ASK, "", MUTED, MUTED)

    def line(values: tuple[str, ...], header: bool) -> list[Run]:
        runs: list[Run] = [(" ", "")]
        for i, (value, width) in enumerate(zip(values, widths, strict=True)):
            text = f"{value:<{width}}" if i == 0 else f"  {value:>{width}}"
            runs.append((text, HEAD if header else kinds[i]))
        return runs

    return [line(head, True), *(line(values, False) for values in texts)]


def matrix_lines(row: SymbolCrossView, venues: list[str]) -> list[list[Run]]:
    """The matrix: a header of sell venues, then one line per buy venue; ``·`` on the diagonal."""
    order = [v for v in venues if any(t.venue == v for t in row.tops)]
    cells = {(c.buy, c.sell): c.bps for c in row.spreads}
    out: list[list[Run]] = [
        [(" buy \\ sell", HEAD), *((f"{venue_tag(v):>{CELL}}", HEAD) for v in order)]
    ]
    for buy in order:
        runs: list[Run] = [(f" {venue_tag(buy):<10}", HEAD)]
        for sell in order:
            if buy == sell:
                runs.append((f"{'·':>{CELL}}", MUTED))
                continue
            bps = cells.get((buy, sell), math.nan)
            kind = POSITIVE if bps > 0 else NEGATIVE if math.isfinite(bps) else MUTED
            runs.append((f" {fmt_bps(bps):>{CELL - 1}}", kind))
        out.append(runs)
    return out


def best_text(row: SymbolCrossView) -> str:
    best = row.best
    if best is None:
        return f"{row.symbol}: waiting for two venues"
    return (
        f"{row.symbol}: buy {venue_tag(best.buy)} → sell {venue_tag(best.sell)} "
        f"{fmt_bps(best.bps)}bp"
    )


def panel_lines(view: CrossVenueView, symbol: str, now_ns: int) -> list[list[Run]]:
    """The whole panel of ``symbol``: tops, a gap, the matrix and the best pair."""
    row = view.symbol(symbol)
    if row is None or not row.tops:
        return [[(f" {symbol}: no venue's book yet", MUTED)]]
    lines = top_lines(row, now_ns)
    lines.append(
        [
            (
                " net bp after taker fees · buy at the row's ask, sell at the column's bid",
                MUTED,
            )
        ]
    )
    lines.extend(matrix_lines(row, view.venues))
    kind = POSITIVE if row.best is not None and row.best.bps > 0 else MUTED
    lines.append([(f" best {best_text(row)}", kind)])
    return lines


class SpreadMatrix(Static):
    """One symbol's venue tops and spread matrix; redrawn only when its text changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "spread-matrix--positive",
        "spread-matrix--negative",
        "spread-matrix--head",
        "spread-matrix--muted",
        "spread-matrix--bid",
        "spread-matrix--ask",
    }

    DEFAULT_CSS = """
    SpreadMatrix { height: auto; background: $background; }
    SpreadMatrix > .spread-matrix--positive {
        color: $pnl-up; background: $pnl-up 20%; text-style: bold;
    }
    SpreadMatrix > .spread-matrix--negative { color: $foreground; }
    SpreadMatrix > .spread-matrix--head { color: $foreground; text-style: bold; }
    SpreadMatrix > .spread-matrix--muted { color: $muted; }
    SpreadMatrix > .spread-matrix--bid { color: $bid; }
    SpreadMatrix > .spread-matrix--ask { color: $ask; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.lines: list[list[Run]] = []
        self.draws = 0

    @property
    def plain(self) -> list[str]:
        """The panel as plain text lines (tests read it through this)."""
        return ["".join(text for text, _ in line).rstrip() for line in self.lines]

    def positive_cells(self) -> list[str]:
        """The highlighted texts of the matrix (cells and the best line)."""
        return [text.strip() for line in self.lines for text, kind in line if kind == POSITIVE]

    def show(self, view: CrossVenueView, symbol: str, now_ns: int) -> bool:
        lines = panel_lines(view, symbol, now_ns)
        if lines == self.lines:
            return False
        self.lines = lines
        self.draws += 1
        self.update(self._text())
        return True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.lines:
            self.update(self._text())

    def _text(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        for i, line in enumerate(self.lines):
            if i:
                text.append("\n")
            for part, kind in line:
                style = self.get_component_rich_style(f"spread-matrix--{kind}") if kind else ""
                text.append(part, style)
        return text
