"""Logs mode (``7``): the engine's log and the system events in one stream, filtered and found.

Lines come from two places. The log file (``desk.log`` beside the database, which the App
writes: see ``app._log_to_file``) is read by offsets in a worker thread, a chunk at a time and
starting from its last ``max_lines`` lines, so a log of any size never blocks the UI; new lines
are picked up a few times a second. The system events the App polls become lines whose source
is ``events.<source>``. Both are merged by time (UTC) and only the newest ``max_lines`` are
kept.

Keys: ``/`` finds text (only the lines holding it are shown, the text highlighted), ``l``
cycles the minimum level (all → INFO → WARNING → ERROR), ``o`` asks for a source (a prefix such
as ``desk.feeds`` or ``events``), ``escape`` clears the filters, ``f`` follows new lines or
stops (scrolling up stops too; ``end`` follows again). The status line says what is shown out
of how many, the filters, and whether it follows.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace
from pathlib import Path

from textual.app import ComposeResult
from textual.widgets import Footer, Label

from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.screens.forms import TextPrompt
from desk.widgets.formatting import fmt_bytes
from desk.widgets.log_lines import (
    LogFilter,
    LogLine,
    LogTail,
    event_line,
    next_level,
    parse_lines,
    source_groups,
)
from desk.widgets.log_view import LogView

MAX_LINES = 10_000
READ_EVERY_S = 0.25


class LogsScreen(DeskScreen):
    """The status line and the lines; ``log_path`` None shows the system events only."""

    MODE_TITLE = "logs"
    BINDINGS = bindings("logs")
    DEFAULT_CSS = """
    LogsScreen #logs-status { width: 1fr; background: $surface; color: $muted; }
    """

    def __init__(self, log_path: Path | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__()
        self.log_path = log_path
        self.max_lines = max_lines
        self.tail = LogTail(log_path, max_lines) if log_path is not None else None
        self.filter = LogFilter()
        self.lines: list[LogLine] = []  # every line kept, oldest first
        self.sources: set[str] = set()
        self.reads = 0
        self.read_error = ""
        self._event_seq = 0
        self._previous: LogLine | None = None  # the file's last line read (the worker's)
        self._reading = False
        self._read_at = -math.inf
        self._status_text = ""

    def compose(self) -> ComposeResult:
        yield self.header
        yield Label("", id="logs-status")
        yield LogView(id="log-view")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.view = self.query_one(LogView)
        self.status = self.query_one("#logs-status", Label)
        self.view.focus()

    # -- sampling --------------------------------------------------------------------------

    def sample_body(self, ctx: RefreshContext) -> None:
        """New system events now; new file lines from a worker when the last read is done."""
        fresh = ctx.events.since(self._event_seq)
        if fresh:
            self._event_seq = fresh[-1].seq
            self.add_lines([event_line(event) for event in fresh])
        tail = self.tail
        due = time.monotonic() - self._read_at >= READ_EVERY_S or (tail and tail.behind)
        if tail is not None and due and not self._reading:
            self._reading = True
            self.run_worker(self._read(), group="log-tail", exit_on_error=False)
        self.view.keep_following()
        self._show_status()

    async def _read(self) -> None:
        try:
            lines = await asyncio.to_thread(self._read_file)
            self.read_error = ""
        except OSError as error:
            lines, self.read_error = [], f"{type(error).__name__}: {error}"
        finally:
            self._reading = False
            self._read_at = time.monotonic()
        self.reads += 1
        if lines:
            self.add_lines(lines)

    def _read_file(self) -> list[LogLine]:
        """In the worker thread: the file's new lines, parsed (the newest ``max_lines``)."""
        assert self.tail is not None
        lines = parse_lines(self.tail.read(), self._previous)
        if lines:
            self._previous = lines[-1]
        return lines[-self.max_lines :]

    def add_lines(self, batch: list[LogLine]) -> None:
        """Merge ``batch`` (in time order) into the kept lines and the view."""
        if not batch:
            return
        self.sources.update(line.source for line in batch)
        in_order = not self.lines or batch[0].when >= self.lines[-1].when
        if in_order:
            self.lines.extend(batch)
        else:  # both are sorted: the stable sort merges them in one pass
            self.lines = sorted([*self.lines, *batch], key=_when)
        over = len(self.lines) - self.max_lines
        dropped = self.lines[:over] if over > 0 else []
        if over > 0:
            del self.lines[:over]
        if not in_order:
            self._show_lines()
            return
        matches = self.filter.matches
        gone = sum(1 for line in dropped if matches(line))
        self.view.extend([line for line in batch[-self.max_lines :] if matches(line)], gone)

    def _show_lines(self) -> None:
        matches = self.filter.matches
        self.view.show([line for line in self.lines if matches(line)], self.filter.text)

    def _show_status(self) -> None:
        text = (
            f" {len(self.view.lines):,} of {len(self.lines):,} lines · {self.filter.describe()}"
            f" · {'following' if self.view.follow else 'paused (f follows)'} · {self._file()}"
        )
        if text != self._status_text:
            self._status_text = text
            self.status.update(text)

    def _file(self) -> str:
        if self.tail is None:
            return "events only (no log file)"
        name = self.tail.path.name
        if self.read_error:
            return f"{name}: {self.read_error}"
        if self.tail.missing:
            return f"{self.tail.path} does not exist (yet)"
        if not self.reads:
            return f"reading {name} …"
        return f"{name} {fmt_bytes(self.tail.size)}"

    # -- filters ---------------------------------------------------------------------------

    def set_filter(self, **changes: str) -> None:
        """Change the filter (level=, source=, text=) and redraw the lines at once."""
        self.filter = replace(self.filter, **changes)
        self._show_lines()
        self._show_status()

    def action_find(self) -> None:
        def apply(text: str | None) -> None:
            if text is not None:
                self.set_filter(text=text)

        self.app.push_screen(TextPrompt("find in the log", self.filter.text, "text"), apply)

    def action_cycle_level(self) -> None:
        self.set_filter(level=next_level(self.filter.level))

    def action_source_filter(self) -> None:
        def apply(source: str | None) -> None:
            if source is not None:
                self.set_filter(source=source)

        known = ", ".join(source_groups(self.sources)[:6]) or "desk, events"
        prompt = TextPrompt("show the source", self.filter.source, f"a prefix: {known}")
        self.app.push_screen(prompt, apply)

    def action_clear_filters(self) -> None:
        self.set_filter(level="DEBUG", source="", text="")

    def action_toggle_follow(self) -> None:
        self.view.set_follow(not self.view.follow)
        self._show_status()


def _when(line: LogLine) -> str:
    return line.when
