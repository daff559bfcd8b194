"""The order-book ladder: a line-API ScrollView that draws only the lines in view.

A ladder can change on every tick, and a DataTable repainting two dozen cells costs ~20 ms, so
the ladder keeps its rows as plain data (``ladder_rows``), rebuilds them only when the book's
``version`` (or its staleness) changes, and keeps each row's ``Strip`` until what the row shows
(its key: texts, bar cells, marks) changes: an unchanged level costs a list lookup, whatever
the book does elsewhere.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from desk.bridge.views import BookView
from desk.core.enums import Side
from desk.widgets.formatting import (
    changed_runs,
    fmt_age_ms,
    fmt_price,
    fmt_size,
    kept_lines,
    price_decimals,
    price_text,
)
from desk.widgets.ladder_rows import ASK, BID, SPREAD, LadderRow, build_rows, spread_info
from desk.widgets.styled import StyledLines

# Spread rows are kept for one that comes back unchanged; a small cache lets replaced ones die
# young, which keeps the garbage collector's older generations (and its pauses) small. It holds
# spread rows only (one line on screen, a new text at almost every book update): at 256 it was
# ~250 stale rows of ~13 tracked objects each in the oldest generation (bench/gc_pauses.py --ui).
STRIP_CACHE = 8

LevelTexts = tuple[str, str, str]  # price, size, cumulative size as shown
# The own-orders column (trading mode): an own size such as "12,345" and its marker.
OWN_WIDTH = 7


class Ladder(StyledLines, ScrollView, can_focus=True):
    """Price, size and cumulative depth per level, with depth bars, spread/mid and last trade."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ladder--bid",
        "ladder--ask",
        "ladder--bid-depth",
        "ladder--ask-depth",
        "ladder--spread",
        "ladder--stale",
        "ladder--warning",
        "ladder--own",
        "ladder--selected",
    }

    DEFAULT_CSS = """
    Ladder { scrollbar-size-vertical: 1; overflow-x: hidden; }
    Ladder > .ladder--own { color: $accent; text-style: bold; }
    Ladder > .ladder--selected { background: $primary 40%; }
    """

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, own_orders: bool = False
    ) -> None:
        """``own_orders``: draw a column marking the size of the desk's own open orders at
        their levels (``mark_own``); the market mode's ladder has none."""
        super().__init__(id=id, classes=classes)
        self.own: dict[float, float] = {}
        self.selected_price: float | None = None
        self._own_width = OWN_WIDTH if own_orders else 0
        self.book: BookView | None = None
        self.depth = 0
        self.stale = False
        self.draws = 0
        self._rows: list[LadderRow] = []
        self._texts: list[LevelTexts | None] = []
        self._keys: list[object] = []
        self._decimals: dict[str, int] = {}
        self._spread_text = ""
        self._columns = (1, 1, 1)
        self._palette: dict[str, tuple[dict[str, Style], dict[str, Style]]] = {}
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(STRIP_CACHE)  # spread rows
        self._row_strips: list[Strip | None] = []  # each level row's, kept while its key holds
        self._strips_for: tuple[object, ...] = ()  # the width, staleness and columns they fit
        self._centred_for: tuple[int, int] = (-1, -1)
        self._painting: tuple[int, int] | None = None

    # -- sampling --------------------------------------------------------------------------

    def wanted_depth(self, configured: int) -> int:
        """Levels per side to fetch: the configured depth, or more when the view is taller."""
        return max(configured, (self.size.height - 1) // 2)

    def show(self, book: BookView, now_ns: int | None = None) -> bool:
        """Draw ``book`` unless it is the version already drawn; returns whether it redrew."""
        depth = max(len(book.bids), len(book.asks), self.depth)
        self._remember_decimals(book)
        drawn = self.book
        spread_text = self._spread_line(book, now_ns)
        if (
            drawn is not None
            and drawn.version == book.version
            and drawn.symbol == book.symbol
            and drawn.venue == book.venue
            and drawn.stale == book.stale
            and depth == self.depth
        ):
            if spread_text != self._spread_text:
                self._spread_text = spread_text
                if len(self._keys) > self.depth:
                    self._keys[self.depth] = spread_text
                self.refresh_line(self.depth)
            return False
        full = (
            drawn is None
            or (drawn.symbol, drawn.venue) != (book.symbol, book.venue)
            or drawn.stale != book.stale
            or depth != self.depth
        )
        if drawn is None or drawn.symbol != book.symbol:
            self._centred_for = (-1, -1)
            self._columns = (1, 1, 1)
        old_keys = self._keys
        self.book, self.depth, self.stale = book, depth, book.stale
        self.set_class(book.stale, "-stale")
        self._spread_text = spread_text
        self._rows = build_rows(book, depth)
        decimals = self.decimals
        self._texts = [_level_texts(row, decimals) for row in self._rows]
        columns, self._columns = self._columns, self._column_widths()
        self._keys = self._line_keys()
        self.draws += 1
        self._resize_virtual()
        if full or columns != self._columns:
            self._row_strips = [None] * len(self._keys)
            self.refresh()
        else:
            self._row_strips = kept_lines(self._row_strips, old_keys, self._keys)
            self._refresh_changed(old_keys, self._keys)
        return True

    def _refresh_changed(self, old_keys: list[object], new_keys: list[object]) -> None:
        """Repaint the lines whose keys differ, in one ``refresh`` (each call has a fixed cost)."""
        top = int(self.scroll_offset.y)
        width = max(self.virtual_size.width, self.size.width)
        regions = [
            Region(0, start - top, width, count)
            for start, count in changed_runs(old_keys, new_keys)
        ]
        if regions:  # refresh() with no region repaints the whole widget
            self.refresh(*regions)

    def _line_keys(self) -> list[object]:
        """What each line shows, comparable between two books: levels by their text (a size
        change too small to show repaints nothing), depth bars by their width in cells (not
        the raw share, which moves on every change of total depth), the spread row by its text."""
        width = self.scrollable_content_region.width
        return [
            (*_line_key(row, texts, width), *self._marks(row))
            if row.kind != SPREAD
            else self._spread_text
            for row, texts in zip(self._rows, self._texts, strict=True)
        ]

    # -- own orders and the selected level (trading mode) ----------------------------------

    def mark_own(self, sizes: Mapping[float, float]) -> None:
        """Own open size by level price; repaints only the lines whose mark changed."""
        own = {_price_key(price): size for price, size in sizes.items() if size}
        if own != self.own:
            self.own = own
            self._remark()

    def select_price(self, price: float | None) -> None:
        """Highlight the level at ``price`` (None: no highlight)."""
        if price != self.selected_price:
            self.selected_price = price
            self._remark()

    def _marks(self, row: LadderRow) -> tuple[object, ...]:
        """What the own column and the highlight add to a level line; () without them."""
        if row.kind not in (ASK, BID) or (not self._own_width and self.selected_price is None):
            return ()
        key = _price_key(row.price)
        own = self.own.get(key)
        own_text = fmt_size(own) if own and self._own_width else ""
        selected = self.selected_price is not None and key == _price_key(self.selected_price)
        return (own_text, selected)

    def _remark(self) -> None:
        if not self._rows:
            return
        old = self._keys
        self._keys = self._line_keys()
        self._row_strips = kept_lines(self._row_strips, old, self._keys)
        self._refresh_changed(old, self._keys)

    def _remember_decimals(self, book: BookView) -> None:
        prices = [level.price for level in (*book.bids[:5], *book.asks[:5])]
        known = self._decimals.get(book.symbol, 0)
        self._decimals[book.symbol] = price_decimals(prices, known)

    def _column_widths(self) -> tuple[int, int, int]:
        """Widths that fit every level seen for this symbol: they only grow, so columns never
        shift under the eye, and a narrower size does not force redrawing every line."""
        levels = [texts for texts in self._texts if texts is not None]
        price_w, size_w, cum_w = self._columns
        return (
            max((len(price) for price, _, _ in levels), default=price_w),
            max(size_w, *(len(size) for _, size, _ in levels), 1),
            max(cum_w, *(len(cum) for _, _, cum in levels), 1),
        )

    @property
    def decimals(self) -> int:
        return self._decimals.get(self.book.symbol, 2) if self.book else 2

    def _resize_virtual(self) -> None:
        virtual = Size(self.scrollable_content_region.width, len(self._rows))
        if virtual != self.virtual_size:
            self.virtual_size = virtual
            self.refresh(layout=True)  # lets the scrollbars notice the new height
        key = (len(self._rows), self.size.height)
        if key != self._centred_for:
            self._centred_for = key
            self.scroll_to(y=max(0, self.depth - self.size.height // 2), animate=False, force=True)

    def on_resize(self) -> None:
        self._strips.clear()
        self._strips_for = ()
        self._centred_for = (-1, -1)
        if self._rows:
            self._resize_virtual()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._strips_for = ()
        self._palette.clear()

    # -- text ------------------------------------------------------------------------------

    def _spread_line(self, book: BookView, now_ns: int | None) -> str:
        """Spread and mid (and at width the spread in bp and the last trade), or what is wrong."""
        decimals = self._decimals.get(book.symbol, 2)
        info = spread_info(book)
        parts: list[str] = []
        if book.stale:
            parts.append(f"STALE {fmt_age_ms(_current_age(book, now_ns))}")
        if info is None:
            parts.append("waiting for book…")
        elif info.crossed:
            parts.append(f"CROSSED {fmt_price(info.spread, decimals)}")
        else:
            parts.append(
                f"{fmt_price(info.spread, decimals)} · {fmt_price(info.mid, decimals + 1)}"
            )
            parts.append(f"({info.bps:.2f}bp)")
        if math.isfinite(book.last_price):
            arrow = "▲" if book.last_side is Side.BUY else "▼"
            parts.append(f"last {fmt_price(book.last_price, decimals)}{arrow}")
        return _fit_parts(parts, self.scrollable_content_region.width - 2)

    # -- rendering -------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """Read the scroll offset and width once per frame, not once per line: each read walks
        the styles, and a frame repaints up to every line of the ladder."""
        self._painting = (int(self.scroll_offset.y), self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._painting = None

    def render_line(self, y: int) -> Strip:
        top, width = self._painting or (
            int(self.scroll_offset.y),
            self.scrollable_content_region.width,
        )
        index = y + top
        if not 0 <= index < len(self._rows):
            return Strip.blank(width, self.style_of())
        row, texts = self._rows[index], self._texts[index]
        if row.kind == SPREAD:
            return self._spread_strip(width)
        if texts is None:
            return Strip.blank(width, self.style_of())
        fits = (width, self.stale, self._columns)
        if fits != self._strips_for or len(self._row_strips) != len(self._rows):
            self._strips_for, self._row_strips = fits, [None] * len(self._rows)
        strip = self._row_strips[index]
        if strip is None:
            bar = _line_key(row, texts, width)[-1]
            strip = self._level_strip(row, texts, bar, width, self._marks(row))
            self._row_strips[index] = strip
        return strip

    def _level_strip(
        self,
        row: LadderRow,
        texts: LevelTexts,
        bar: int,
        width: int,
        marks: tuple[object, ...] = (),
    ) -> Strip:
        """One price level: price, size, cumulative size, last-trade marker, depth bar behind;
        in trading mode also the own-orders column (left) and the selection highlight."""
        plain, barred = self._level_styles(row.kind)
        price_w, size_w, cum_w = self._columns
        shown_price, shown_size, shown_cum = texts
        own_w = self._own_width
        room = width - own_w
        gap = " " * min(4, max(1, (room - 3 - price_w - size_w - cum_w) // 2))
        price = f" {shown_price:>{price_w}}"
        body = f"{gap}{shown_size:>{size_w}}{gap}{shown_cum:>{cum_w}}"
        body += " " * max(0, room - len(price) - len(body) - 1)
        marker = "◂" if row.last_side is not None else " "
        pieces = [(price, "last" if row.last_side else "price"), (body, "body"), (marker, "marker")]
        own_text = str(marks[0]) if marks else ""
        if own_w:
            own = f"{own_text[: own_w - 1]:>{own_w - 1}}▸" if own_text else " " * own_w
            pieces.insert(0, (own, "own"))
        cut = width - bar
        segments: list[Segment] = []
        x = 0
        for text, key in pieces:
            end = x + len(text)
            if end <= cut:
                segments.append(Segment(text, plain[key]))
            elif x >= cut:
                segments.append(Segment(text, barred[key]))
            else:
                segments.append(Segment(text[: cut - x], plain[key]))
                segments.append(Segment(text[cut - x :], barred[key]))
            x = end
        strip = Strip(segments, x)
        if len(marks) > 1 and marks[1]:
            selected = self.style_of("ladder--selected")
            strip = Strip(
                Segment.apply_style(list(strip), post_style=Style(bgcolor=selected.bgcolor))
            )
        return strip if x == width else strip.crop_extend(0, width, self.style_of())

    def _level_styles(self, kind: str) -> tuple[dict[str, Style], dict[str, Style]]:
        """(plain, on-depth-bar) styles per part of a level row; resolved once per theme."""
        key = "stale" if self.stale else kind
        cached = self._palette.get(key)
        if cached is not None:
            return cached
        base = self.style_of()
        if self.stale:
            side = self.style_of("ladder--stale")
            depth = Style(bgcolor=side.bgcolor)
        else:
            side = self.style_of(f"ladder--{kind}")
            depth = Style(bgcolor=self.style_of(f"ladder--{kind}-depth").bgcolor)
        bold = Style(bold=True)
        body = side if self.stale else base
        plain = {
            "price": base + side,
            "last": base + side + bold,
            "body": body,
            "marker": base + side + bold,
            "own": base + self.style_of("ladder--own"),
        }
        barred = {name: style + depth for name, style in plain.items()}
        self._palette[key] = (plain, barred)
        return plain, barred

    def _spread_strip(self, width: int) -> Strip:
        """The spread row, cached like the levels so an unchanged one is reused whole."""
        warn = self.stale or "CROSSED" in self._spread_text
        key = ("spread", self._spread_text, width, warn)
        strip = self._strips.get(key)
        if strip is None:
            style = self.style_of("ladder--spread")
            if warn:
                style += self.style_of("ladder--warning")
            text = f" {self._spread_text}"[:width].ljust(width)
            strip = self._strips[key] = Strip([Segment(text, style)], width)
        return strip


def _level_texts(row: LadderRow, decimals: int) -> LevelTexts | None:
    """A level's price, size and cumulative size as shown; None for other rows. Formatted once
    per book, for the column widths, the change test and the strip alike."""
    if row.kind not in (ASK, BID):
        return None
    return price_text(row.price, decimals), fmt_size(row.size), fmt_size(row.cum)


def _line_key(row: LadderRow, texts: LevelTexts | None, width: int) -> tuple[object, ...]:
    """A level as drawn: the depth bar as whole cells (last item)."""
    return (row.kind, texts, row.last_side, round(row.fill * width))


def _price_key(price: float) -> float:
    """A level price as a dict key: an order's price and the book's may differ in float noise."""
    return round(price, 9)


def _current_age(book: BookView, now_ns: int | None) -> float:
    """``age_ms`` is as of ``ts_recv`` (the view may be a cached copy); bring it up to now."""
    if now_ns is None:
        now_ns = time.time_ns()
    if not math.isfinite(book.age_ms) or book.ts_recv <= 0:
        return book.age_ms
    return book.age_ms + max(0, now_ns - book.ts_recv) / 1e6


def _fit_parts(parts: list[str], width: int) -> str:
    """Join as many leading parts as fit ``width`` (the first one always)."""
    text = parts[0] if parts else ""
    for part in parts[1:]:
        if len(text) + 2 + len(part) > width:
            break
        text = f"{text}  {part}"
    return text


class SelectableLadder(Ladder):
    """A ladder a person picks a level from (↑/↓ or a click); each pick posts ``LevelSelected``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "step_level(-1)", "Level up", show=False),
        Binding("down", "step_level(1)", "Level down", show=False),
    ]

    class LevelSelected(Message):
        """A level was picked: its price and side ("ask" or "bid")."""

        def __init__(self, price: float, kind: str) -> None:
            super().__init__()
            self.price, self.kind = price, kind

    def action_step_level(self, by: int) -> None:
        """Move the highlight one level up or down (from the spread when nothing is picked)."""
        levels = [i for i, row in enumerate(self._rows) if row.kind in (ASK, BID)]
        if not levels:
            return
        current = self._selected_index()
        if current is None:
            start = self.depth if self.depth < len(self._rows) else len(self._rows) // 2
            candidates = [i for i in levels if (i < start if by < 0 else i > start)]
            index = (max(candidates) if by < 0 else min(candidates)) if candidates else None
        else:
            moved = [i for i in levels if (i < current if by < 0 else i > current)]
            index = (max(moved) if by < 0 else min(moved)) if moved else current
        if index is not None:
            self._pick(index)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = offset.y + int(self.scroll_offset.y)
        if 0 <= index < len(self._rows) and self._rows[index].kind in (ASK, BID):
            self._pick(index)

    def _selected_index(self) -> int | None:
        if self.selected_price is None:
            return None
        key = _price_key(self.selected_price)
        for i, row in enumerate(self._rows):
            if row.kind in (ASK, BID) and _price_key(row.price) == key:
                return i
        return None

    def _pick(self, index: int) -> None:
        row = self._rows[index]
        self.select_price(row.price)
        self.scroll_to_region(Region(0, index, 1, 1), animate=False)
        self.post_message(self.LevelSelected(row.price, row.kind))
