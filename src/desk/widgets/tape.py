"""The trade tape: newest trades first, side-coloured, bursts folded into one line.

A line-API widget: rows are rebuilt only when the tape's ``version`` changes, and each visible
line is one cached ``Strip``. Columns grow with the widget: a narrow tape shows time, price and
size; a wide one adds milliseconds, a side arrow and the number of trades folded into a line.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from desk.bridge.views import TapeView
from desk.core.enums import Side
from desk.widgets.consolidated_rows import venue_tag
from desk.widgets.formatting import changed_runs, fmt_size, price_decimals, price_text, utc_hms
from desk.widgets.styled import StyledLines
from desk.widgets.tape_rows import TapeRow, aggregate, large_size

# Strips are kept for lines that come back unchanged (a new trade moves every row one line
# down); a small cache lets replaced ones die young, which keeps the garbage collector's older
# generations (and its pauses) small. A row that has scrolled off never comes back (its time is
# in its key), so the cache holds this many screens of rows (at least STRIP_CACHE): a fixed 256
# kept ~200 rows gone from view, ~13 tracked objects each (bench/gc_pauses.py --ui).
STRIP_CACHE = 64
CACHED_SCREENS = 2

WIDE = 36
BOLD = Style(bold=True)


class Tape(StyledLines, Widget):
    """Time, price, size (and at width: side arrow, count) of the latest trades."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"tape--buy", "tape--sell", "tape--time"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.tape: TapeView | None = None
        self.rows: list[TapeRow] = []
        self.draws = 0
        self._decimals: dict[str, int] = {}
        self._big = float("inf")
        self._size_w = 1
        self._price_w = 1
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(STRIP_CACHE)
        self._painting_width: int | None = None
        self._tagged = False
        self._venue = ""

    def wanted_limit(self) -> int:
        """Trades to fetch: enough to fill the view even after bursts are folded."""
        return max(50, self.size.height * 3)

    @property
    def venues(self) -> list[str]:
        """The venues of the trades drawn, in order of their newest trade."""
        return list(dict.fromkeys(row.venue for row in self.rows))

    def show(self, tape: TapeView, venue: str = "") -> bool:
        """Draw ``tape`` (``venue``'s: each venue's tape has versions of its own) unless that
        version is already on screen; returns whether it redrew."""
        drawn = self.tape
        if (
            drawn is not None
            and drawn.version == tape.version
            and drawn.symbol == tape.symbol
            and venue == self._venue
        ):
            return False
        symbol_changed = drawn is None or drawn.symbol != tape.symbol or venue != self._venue
        self._venue = venue
        old_rows = self.rows
        self.tape = tape
        self.rows = aggregate(tape.trades)
        prices = [row.price for row in self.rows[:20]]
        known = self._decimals.get(tape.symbol, 0)
        self._decimals[tape.symbol] = price_decimals(prices, known)
        self._big = large_size(self.rows)
        tagged, self._tagged = self._tagged, len({row.venue for row in self.rows}) > 1
        if symbol_changed:
            self._size_w = self._price_w = 1
        grew = self._grow_columns()
        self.draws += 1
        if symbol_changed or grew or tagged != self._tagged:  # (one venue: the title names it)
            self.refresh()
        else:
            height, width = self.size.height, self.size.width
            regions = [
                Region(0, start, width, count)
                for start, count in changed_runs(old_rows[:height], self.rows[:height])
            ]
            if regions:  # in one refresh (each call has a fixed cost); none would mean all
                self.refresh(*regions)
        return True

    def _grow_columns(self) -> bool:
        """Widen the size and price columns to fit the rows in view (only those are drawn);
        they only grow, see Ladder._column_widths. Returns whether they grew."""
        if self.tape is None:
            return False
        widths = (self._size_w, self._price_w)
        decimals = self._decimals.get(self.tape.symbol, 2)
        shown = self.rows[: self.size.height]
        self._size_w = max(self._size_w, *(len(fmt_size(row.size)) for row in shown), 1)
        self._price_w = max(self._price_w, *(len(price_text(r.price, decimals)) for r in shown), 1)
        return widths != (self._size_w, self._price_w)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_resize(self) -> None:
        self._strips = LRUCache(max(STRIP_CACHE, CACHED_SCREENS * self.size.height))
        self._grow_columns()  # a taller tape shows rows not measured yet

    def render_lines(self, crop: Region) -> list[Strip]:
        """Read the width once per frame, not once per line (see Ladder.render_lines)."""
        self._painting_width = self.size.width
        try:
            return super().render_lines(crop)
        finally:
            self._painting_width = None

    def render_line(self, y: int) -> Strip:
        width = self._painting_width or self.size.width
        if y >= len(self.rows) or self.tape is None:
            return Strip.blank(width, self.style_of())
        row = self.rows[y]
        decimals = self._decimals.get(self.tape.symbol, 2)
        big = row.size >= self._big
        key = (row, width, decimals, self._size_w, self._price_w, big, self._tagged)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._row_strip(row, width, decimals)
            self._strips[key] = strip
        return strip

    def _row_strip(self, row: TapeRow, width: int, decimals: int) -> Strip:
        base = self.style_of()
        wide = width >= WIDE
        side = "tape--buy" if row.side is Side.BUY else "tape--sell"
        side_style = self.style_of(side)
        if row.size >= self._big:
            side_style += BOLD
        arrow = ("▲ " if row.side is Side.BUY else "▼ ") if wide else ""
        price = f"{price_text(row.price, decimals):>{self._price_w}}"
        count = (f" ×{row.count}" if row.count > 1 else "") if wide else ""
        tag = f"{venue_tag(row.venue):<3} " if self._tagged else ""
        trade = f"{tag}{arrow}{price} {fmt_size(row.size):>{self._size_w}}{count}"
        stamp = _stamp(row.ts_exchange, width - len(trade) - 1, wide)
        pad = width - len(stamp) - 1 - len(trade)
        segments = [
            Segment(f" {stamp}", self.style_of("tape--time")),
            Segment(trade, side_style),
            Segment(" " * max(0, pad), base),
        ]
        strip = Strip(segments, width if pad >= 0 else None)
        return strip if pad >= 0 else strip.crop(0, width)


def _stamp(ts_ns: int, room: int, wide: bool) -> str:
    """The trade time in the room left: HH:MM:SS(.mmm), then MM:SS, then nothing."""
    text = utc_hms(ts_ns, millis=wide)
    if len(text) + 1 <= room:
        return f"{text} "
    text = utc_hms(ts_ns)[3:]
    return f"{text} " if len(text) + 1 <= room else ""
