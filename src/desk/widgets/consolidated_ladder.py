"""The consolidated ladder: every venue's book of one symbol merged by price, levels tagged.

Rows come from :mod:`desk.widgets.consolidated_rows` (plain data, rebuilt only when a venue's
book version or staleness moves) and are formatted once per book, into texts that the column
widths, the change test and the strips share. Each line keeps its ``Strip`` until what it shows
(texts, venue, marks, bar cells) changes, and only those lines are repainted, as in the
one-venue :class:`~desk.widgets.ladder.Ladder`. The ladder does not scroll, so strips are kept
by line, not in a cache keyed by content: a merged book moves on every tick and a cumulative
size near the top moves every line below it, so most lines are new every tick anyway.
A venue's own best level is marked (``•``); a stale venue's levels are drawn in the stale colour;
the spread row names the venues of the best bid and ask and says CROSSED when one venue bids
above another's ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from desk.bridge.views import BookView
from desk.widgets.consolidated_rows import (
    ASK,
    BID,
    SPREAD,
    ConsolidatedRow,
    build_rows,
    consolidated_spread,
    venue_tag,
)
from desk.widgets.formatting import (
    changed_runs,
    fmt_price,
    fmt_size,
    kept_lines,
    price_decimals,
    price_text,
)
from desk.widgets.styled import StyledLines

TAG_WIDTH = 4

LevelTexts = tuple[str, str, str]  # price, size, cumulative size as shown


class ConsolidatedLadder(StyledLines, Widget, can_focus=True):
    """Venue, price, size and cumulative size per level of every venue, best levels marked."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "consolidated-ladder--bid",
        "consolidated-ladder--ask",
        "consolidated-ladder--bid-depth",
        "consolidated-ladder--ask-depth",
        "consolidated-ladder--venue",
        "consolidated-ladder--spread",
        "consolidated-ladder--crossed",
        "consolidated-ladder--stale",
    }

    SCOPED_CSS = False  # the wide layout's rule starts at the screen
    DEFAULT_CSS = """
    ConsolidatedLadder {
        width: 34; height: 1fr; background: $background;
        border-top: solid $panel; border-title-color: $foreground; border-title-style: bold;
    }
    MarketScreen.-wide ConsolidatedLadder { width: 50; }
    ConsolidatedLadder > .consolidated-ladder--bid { color: $bid; }
    ConsolidatedLadder > .consolidated-ladder--ask { color: $ask; }
    ConsolidatedLadder > .consolidated-ladder--bid-depth { background: $bid-depth; }
    ConsolidatedLadder > .consolidated-ladder--ask-depth { background: $ask-depth; }
    ConsolidatedLadder > .consolidated-ladder--venue { color: $muted; }
    ConsolidatedLadder > .consolidated-ladder--spread {
        background: $spread; color: $foreground; text-style: bold;
    }
    ConsolidatedLadder > .consolidated-ladder--crossed { color: $warning; text-style: bold; }
    ConsolidatedLadder > .consolidated-ladder--stale { color: $stale; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[ConsolidatedRow] = []
        self._texts: list[LevelTexts | None] = []
        self._line_keys: list[object] = []
        self._line_strips: list[Strip | None] = []  # by line; None: draw it again
        self._strips_for: tuple[int, tuple[int, int, int]] = (0, (1, 1, 1))  # width, columns
        self.books: list[BookView] = []
        self.symbol = ""
        self.stale_venues: frozenset[str] = frozenset()
        self.spread_text = ""
        self.crossed = False
        self.draws = 0
        self._drawn_key: tuple[object, ...] = ()
        self._decimals: dict[str, int] = {}
        self._columns = (1, 1, 1)
        self._painting_width: int | None = None
        self._styles: dict[tuple[str, bool, bool], _LevelStyles] = {}

    def wanted_depth(self, configured: int) -> int:
        """Levels per side: as many as fit the height (the merged book is deep enough)."""
        return max(1, (self.size.height - 1) // 2) if self.size.height > 2 else configured

    def show(self, books: Sequence[BookView], depth: int) -> bool:
        """Merge and draw ``books`` unless every one is the version drawn; whether it redrew."""
        key = (depth, *((b.symbol, b.venue, b.version, b.stale) for b in books))
        if key == self._drawn_key:
            return False
        self._drawn_key = key
        symbol = books[0].symbol if books else ""
        if symbol != self.symbol:
            self.symbol, self._columns = symbol, (1, 1, 1)
        prices = [lv.price for b in books for lv in (*b.bids[:3], *b.asks[:3])]
        decimals = self._decimals[symbol] = price_decimals(prices, self._decimals.get(symbol, 0))
        old_keys = self._line_keys
        self.rows = build_rows(books, depth)
        self._texts = [
            (price_text(row.price, decimals), fmt_size(row.size), fmt_size(row.cum))
            if row.kind in (ASK, BID)
            else None
            for row in self.rows
        ]
        self.stale_venues = frozenset(b.venue for b in books if b.stale)
        self.books = list(books)
        self.spread_text, self.crossed = _spread_text(books, decimals, self.size.width - 2)
        widths = self._columns
        self._columns = _widths(self._texts, widths)
        new_keys = self._line_keys = self._keys()
        self.draws += 1
        if widths != self._columns or len(old_keys) != len(new_keys):
            self._line_strips = [None] * len(new_keys)
            self.refresh()
        else:
            self._line_strips = kept_lines(self._line_strips, old_keys, new_keys)
            width = self.size.width
            runs = changed_runs(old_keys, new_keys)
            regions = [Region(0, start, width, count) for start, count in runs]
            if regions:
                self.refresh(*regions)
        return True

    def _keys(self) -> list[object]:
        """What each line shows, comparable between two books: a level by its texts, venue,
        marks and depth bar in whole cells (not the raw share, which moves with any change of
        total depth); the spread row by its text."""
        width, stale = self.size.width, self.stale_venues
        spread = (self.spread_text, self.crossed)
        return [
            _level_key(row, texts, row.venue in stale, round(row.fill * width))
            if texts is not None
            else (spread if row.kind == SPREAD else None)
            for row, texts in zip(self.rows, self._texts, strict=True)
        ]

    @property
    def decimals(self) -> int:
        return self._decimals.get(self.symbol, 2)

    def lines(self) -> list[str]:
        """Every row as plain text (tests read the ladder through this)."""
        return [self.render_line(y).text.rstrip() for y in range(len(self.rows))]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line_strips = [None] * len(self._line_strips)
        self._styles.clear()

    def on_resize(self) -> None:
        self._line_strips = [None] * len(self._line_strips)
        if self.books:
            self.spread_text, self.crossed = _spread_text(
                self.books, self.decimals, self.size.width - 2
            )

    def render_lines(self, crop: Region) -> list[Strip]:
        """Read the width once per frame, not once per line (see Ladder.render_lines): a frame
        repaints most lines, since a size near the top moves every deeper cumulative size."""
        self._painting_width = self.size.width or 40
        try:
            return super().render_lines(crop)
        finally:
            self._painting_width = None

    def render_line(self, y: int) -> Strip:
        width = self._painting_width or self.size.width or 40
        if y >= len(self.rows):
            return Strip.blank(width, self.style_of())
        if (width, self._columns) != self._strips_for:
            self._strips_for = (width, self._columns)
            self._line_strips = [None] * len(self.rows)
        strip = self._line_strips[y]
        if strip is None:
            strip = self._line_strips[y] = self._line_strip(y, width)
        return strip

    def _line_strip(self, y: int, width: int) -> Strip:
        row, texts = self.rows[y], self._texts[y]
        if texts is not None:
            return self._level_strip(row, texts, row.venue in self.stale_venues, width)
        if row.kind != SPREAD:
            return Strip.blank(width, self.style_of())
        style = self.style_of("consolidated-ladder--spread")
        if self.crossed:
            style += self.style_of("consolidated-ladder--crossed")
        return Strip([Segment(f" {self.spread_text}"[:width].ljust(width), style)], width)

    def _level_strip(
        self, row: ConsolidatedRow, texts: LevelTexts, stale: bool, width: int
    ) -> Strip:
        """Venue tag, price (``•`` on a venue's best), size and cumulative size, the depth bar
        behind them from the right."""
        base = self.style_of()
        styles = self._level_styles(row.kind, stale, row.best)
        price_w, size_w, cum_w = self._columns
        shown_price, size, cum = texts
        mark = "•" if row.best else " "
        tag = f" {venue_tag(row.venue):<{TAG_WIDTH - 1}} "
        price = f"{mark}{shown_price:>{price_w}}"
        body = f"  {size:>{size_w}}  {cum:>{cum_w}}"
        body += " " * max(0, width - len(tag) - len(price) - len(body))
        cut = width - round(row.fill * width)
        segments: list[Segment] = []
        x = 0
        for text, plain, barred in zip(
            (tag, price, body), styles.plain, styles.barred, strict=True
        ):
            end = x + len(text)
            if end <= cut:
                segments.append(Segment(text, plain))
            elif x >= cut:
                segments.append(Segment(text, barred))
            else:
                segments.append(Segment(text[: cut - x], plain))
                segments.append(Segment(text[cut - x :], barred))
            x = end
        strip = Strip(segments, x)
        return strip if x == width else strip.crop_extend(0, width, base)

    def _level_styles(self, kind: str, stale: bool, best: bool) -> _LevelStyles:
        """The (tag, price, body) styles of a level, plain and over the depth bar; built once
        per kind, staleness and best mark (style lookups and additions are not free)."""
        key = (kind, stale, best)
        styles = self._styles.get(key)
        if styles is None:
            base = self.style_of()
            side = self.style_of(f"consolidated-ladder--{'stale' if stale else kind}")
            depth = Style(bgcolor=self.style_of(f"consolidated-ladder--{kind}-depth").bgcolor)
            venue = side if stale else self.style_of("consolidated-ladder--venue")
            plain = (base + venue, base + side + Style(bold=best), base + side if stale else base)
            styles = self._styles[key] = _LevelStyles(plain, tuple(s + depth for s in plain))
        return styles


class _LevelStyles(NamedTuple):
    plain: tuple[Style, ...]
    barred: tuple[Style, ...]


def _level_key(
    row: ConsolidatedRow, texts: LevelTexts, stale: bool, bar: int
) -> tuple[object, ...]:
    """A level line as drawn: ``bar`` is its depth bar in whole cells."""
    return (row.kind, row.venue, row.best, stale, texts, bar)


def _widths(texts: list[LevelTexts | None], known: tuple[int, int, int]) -> tuple[int, int, int]:
    """Column widths that only grow for a symbol, so columns never shift under the eye."""
    levels = [level for level in texts if level is not None]
    price_w, size_w, cum_w = known
    return (
        max(price_w, *(len(price) for price, _, _ in levels), 1),
        max(size_w, *(len(size) for _, size, _ in levels), 1),
        max(cum_w, *(len(cum) for _, _, cum in levels), 1),
    )


def _spread_text(books: Sequence[BookView], decimals: int, width: int) -> tuple[str, bool]:
    """The spread row: best bid and ask across venues and where, ``>`` between them when one
    venue bids above another's ask (crossed); the spread in bp and a word where room allows."""
    info = consolidated_spread(books)
    if info is None:
        return "waiting for books…", False
    bid = f"{venue_tag(info.bid_venue)} {fmt_price(info.bid, decimals)}"
    ask = f"{venue_tag(info.ask_venue)} {fmt_price(info.ask, decimals)}"
    if info.crossed:
        text, extra = f"{bid} > {ask}", (f"({-info.bps:.2f}bp)", "CROSSED")
    else:
        text, extra = f"{bid} / {ask}", (f"({info.bps:.2f}bp)",)
    for part in extra:
        if len(text) + 1 + len(part) <= width:
            text = f"{text} {part}"
    return text, info.crossed
