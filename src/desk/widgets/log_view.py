"""The logs mode's list of lines: only the rows on screen are drawn, however many lines it holds.

A line-API scroll view: ``render_line`` builds the few visible rows from :class:`LogLine`s
(time, level, source, message; a traceback's continuation lines indented under their record),
colours from component classes (theme variables), and the find text highlighted. Holding
10 000 lines costs a list of them; a filter change replaces the list, new lines extend it.

``follow`` keeps the newest line in view as lines arrive (``tail -f``). Scrolling up stops
following, so a person can read; ``end`` (or ``f`` in the logs mode) follows again.

The rows shown are cut to the view here, with no ``Strip.crop_extend``: that memoises its result
inside the line, and a line exactly as wide as the view is its own result, a reference cycle
that only a full garbage collection frees (``STRIP_CACHE`` rows are dropped at once). The rows
are ``FinishedStrip``s (widgets/styled.py) so that cutting them never makes one either.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.strip import Strip

from desk.widgets.log_lines import LogLine
from desk.widgets.styled import FinishedStrip, StyledLines, finished_strip

LEVEL_TEXT = {"DEBUG": "DEBUG", "INFO": "INFO ", "WARNING": "WARN ", "ERROR": "ERROR"}
LEVEL_STYLE = {"DEBUG": "debug", "INFO": "info", "WARNING": "warning"}
SOURCE_CHARS = 20
PREFIX_CHARS = 12 + 1 + 5 + 1 + SOURCE_CHARS + 1  # time, level, source and their spaces
STRIP_CACHE = 4_000


class LogView(StyledLines, ScrollView, can_focus=True):
    """Log lines, newest at the bottom; ``show`` replaces them, ``extend`` adds to them."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--time",
        "log-view--source",
        "log-view--debug",
        "log-view--info",
        "log-view--warning",
        "log-view--error",
        "log-view--match",
    }
    DEFAULT_CSS = """
    LogView { height: 1fr; background: $background; }
    LogView > .log-view--time { color: $muted; }
    LogView > .log-view--source { color: $primary; }
    LogView > .log-view--debug { color: $muted; }
    LogView > .log-view--info { color: $foreground; }
    LogView > .log-view--warning { color: $warning; }
    LogView > .log-view--error { color: $error; text-style: bold; }
    LogView > .log-view--match { background: $accent 45%; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[LogLine] = []
        self.follow = True
        self.needle = ""
        self._widest = 0
        self._strips: dict[int, list[Any]] = {}
        """id(line) -> [its whole row, the (scroll x, width) it was last cut to, that cut]"""

    # -- content ---------------------------------------------------------------------------

    def show(self, lines: list[LogLine], needle: str = "") -> None:
        """Replace every line (a new filter); ``needle`` is highlighted where it occurs."""
        self.lines = list(lines)
        self.needle = needle.lower()
        self._strips.clear()
        self._widest = max((self._width_of(line) for line in self.lines), default=0)
        self._resized()

    def extend(self, lines: list[LogLine], drop_front: int = 0) -> None:
        """Add ``lines`` at the bottom, first dropping ``drop_front`` lines from the top."""
        if drop_front:
            del self.lines[:drop_front]
            self._strips.clear()
            if not self.follow:  # keep the rows a person is reading where they are
                self.scroll_to(y=max(0, self.scroll_y - drop_front), animate=False)
        self.lines.extend(lines)
        self._widest = max(self._widest, *(self._width_of(line) for line in lines), 0)
        self._resized()

    def _resized(self) -> None:
        self.virtual_size = Size(self._widest, len(self.lines))
        if self.follow:
            self._to_end()
        self.refresh()

    def _to_end(self) -> None:
        """To the last line now and again after the next layout (which may change the room)."""
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.scroll_end(animate=False, x_axis=False)

    @staticmethod
    def _width_of(line: LogLine) -> int:
        return PREFIX_CHARS + len(line.message)

    # -- following -------------------------------------------------------------------------

    def set_follow(self, follow: bool) -> None:
        self.follow = follow
        if follow:
            self._to_end()

    def keep_following(self) -> None:
        """While following, stay on the last line: a horizontal scrollbar that came or went
        after the last scroll changed where the end is (the screen calls this every sample)."""
        if self.follow and self.scroll_y < self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_scroll_end(self) -> None:
        self.set_follow(True)

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False
        super()._on_mouse_scroll_up(event)

    def _on_scroll_up(self, event: ScrollUp) -> None:  # a click above the scrollbar's thumb
        self.follow = False
        super()._on_scroll_up(event)

    def _on_scroll_to(self, message: ScrollTo) -> None:  # the scrollbar's thumb dragged
        if message.y is not None and message.y < self.max_scroll_y:
            self.follow = False
        super()._on_scroll_to(message)

    # -- drawing ---------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = {}

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if not 0 <= index < len(self.lines):
            return Strip.blank(width, self.rich_style)
        line = self.lines[index]
        entry = self._strips.get(id(line))
        if entry is None:
            if len(self._strips) > STRIP_CACHE:
                self._strips.clear()
            entry = self._strips[id(line)] = [self._strip(line), None, None]
        view = (scroll_x, width)
        if entry[1] != view:
            end = scroll_x + width
            row = entry[0].extend_cell_length(end, self.rich_style).crop(scroll_x, end)
            entry[1], entry[2] = view, finished_strip(row)
        return entry[2]

    def _strip(self, line: LogLine) -> Strip:
        base = self.style_of()
        tone = self.style_of(f"log-view--{LEVEL_STYLE.get(line.level, 'error')}")
        if line.continued:
            segments = [Segment(" " * PREFIX_CHARS, base)]
        else:
            source = line.source
            if len(source) > SOURCE_CHARS:
                source = "…" + source[-(SOURCE_CHARS - 1) :]
            segments = [
                Segment(f"{line.clock:<12} ", self.style_of("log-view--time")),
                Segment(LEVEL_TEXT.get(line.level, line.level[:5]) + " ", tone),
                Segment(f"{source:<{SOURCE_CHARS}} ", self.style_of("log-view--source")),
            ]
        segments += self._message(line.message, tone)
        return FinishedStrip(segments)

    def _message(self, message: str, tone: Style) -> list[Segment]:
        """The message in its level's colour, each occurrence of the find text highlighted."""
        needle = self.needle
        if not needle:
            return [Segment(message, tone)]
        match = tone + self.style_of("log-view--match")
        out, start, lowered = [], 0, message.lower()
        while (found := lowered.find(needle, start)) >= 0:
            if found > start:
                out.append(Segment(message[start:found], tone))
            end = found + len(needle)
            out.append(Segment(message[found:end], match))
            start = end
        if start < len(message):
            out.append(Segment(message[start:], tone))
        return out

    def visible_lines(self) -> list[LogLine]:
        """The lines in the rows on screen now (tests read the view through this)."""
        top = self.scroll_offset.y
        return self.lines[top : top + self.size.height]
