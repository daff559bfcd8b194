"""The recent system-events log of the health mode (connects, resyncs, errors …).

It appends only events newer than the last one it drew, so sampling at 10 Hz costs nothing while
the engine is quiet. Lines are coloured by severity through component classes; a theme switch
redraws the kept events so old lines take the new colours too.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import RichLog

from desk.bridge.views import EventView
from desk.core.enums import Severity
from desk.widgets.formatting import utc_hms

MAX_LINES = 500


class EventLogView(RichLog):
    """Time, severity, source and message of each system event, newest at the bottom."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-log--info",
        "event-log--warning",
        "event-log--error",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=True, markup=False, auto_scroll=True)
        self.shown: list[EventView] = []
        self.last_seq = 0

    def show(self, events: list[EventView]) -> int:
        """Append the events newer than those already shown; returns how many were added."""
        fresh = [event for event in events if event.seq > self.last_seq]
        for event in fresh:
            self.write(self._line(event))
        if fresh:
            self.last_seq = fresh[-1].seq
            self.shown = (self.shown + fresh)[-MAX_LINES:]
        return len(fresh)

    def _line(self, event: EventView) -> Text:
        style = self.get_component_rich_style(f"event-log--{event.severity.value}", partial=True)
        level = {Severity.INFO: "info", Severity.WARNING: "WARN", Severity.ERROR: "ERROR"}[
            event.severity
        ]
        where = f"{event.source} {event.symbol}".strip()
        line = Text(f"{utc_hms(event.ts)} ")
        line.append(f"{level:<5} ", style=style)
        line.append(f"{where:<16} ", style="bold" if event.severity is Severity.ERROR else "")
        line.append(f"{event.kind}: {event.message}", style=style)
        return line

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    def _restyle(self, _theme: object) -> None:
        if self.shown:
            self.clear()
            for event in self.shown:
                self.write(self._line(event))
