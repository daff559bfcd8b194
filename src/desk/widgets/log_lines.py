"""The logs mode's data: lines of desk.log read incrementally, system events, filters (no Textual).

:class:`LogTail` reads a log file by offsets, never more than a chunk at a time: it starts at
the last ``max_lines`` lines (found by reading backwards from the end, so a 200k-line file costs
the bytes of its tail, not all of it), then hands out only complete new lines on each call. A
truncated or replaced file (a rotation) is started again from its beginning; a reader left far
behind (the mode was hidden while the log grew by more than ``SKIP_AHEAD_BYTES``) jumps to the
tail again, since only the last lines are kept anyway. It does blocking file I/O: the logs mode
calls it in a worker thread.

:func:`parse_line` turns one line in the format desk writes (``app._log_to_file``:
``2024-05-01 12:00:00,123 WARNING desk.feeds.okx.feed: message``) into a :class:`LogLine`; a
line that does not start a record (a traceback's) continues the one before it, with its level
and source. System events become lines too (:func:`event_line`), with the source
``events.<source>``, so one filter covers both.

Lines sort by their time text (UTC, ``YYYY-MM-DD HH:MM:SS,mmm``, which sorts as it reads) and
then by the order they arrived; :class:`LogFilter` says which are shown.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from desk.bridge.views import EventView
from desk.core.enums import Severity

RECORD_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (DEBUG|INFO|WARNING|ERROR|CRITICAL) +(\S+?): ?(.*)$"
)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_NUMBERS = {name: logging.getLevelName(name) for name in LEVELS}
SEVERITY_LEVELS = {Severity.INFO: "INFO", Severity.WARNING: "WARNING", Severity.ERROR: "ERROR"}
EVENTS = "events"
CHUNK_BYTES = 4 << 20  # the most one read takes from the file
SKIP_AHEAD_BYTES = 16 << 20  # further behind than this: jump to the tail (only it is kept)
BACK_BLOCK = 64 << 10  # backwards steps while looking for the start of the tail
MAX_LINE_CHARS = 2_000  # a longer line is cut (and says so)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line as the logs mode shows it.

    ``when`` is the record's time as written (UTC), ``level`` one of LEVELS, ``source`` the
    logger's name (or ``events.<source>``), ``message`` the rest; ``continued`` marks a line
    that carries on the record above it (a traceback's lines).
    """

    when: str
    level: str
    source: str
    message: str
    continued: bool = False

    @property
    def level_number(self) -> int:
        return LEVEL_NUMBERS.get(self.level, logging.INFO)

    @property
    def clock(self) -> str:
        """The time of day with milliseconds (the date is today's, almost always)."""
        return self.when[11:].replace(",", ".") if self.when else ""


def parse_line(raw: str, previous: LogLine | None = None) -> LogLine:
    """One line of desk.log (without its newline); see the module docstring."""
    if len(raw) > MAX_LINE_CHARS:
        raw = raw[:MAX_LINE_CHARS] + f" … ({len(raw):,} chars)"
    match = RECORD_RE.match(raw)
    if match is not None:
        when, level, source, message = match.groups()
        return LogLine(when, level, source, message)
    if previous is None:
        return LogLine("", "INFO", "", raw, continued=True)
    return LogLine(previous.when, previous.level, previous.source, raw, continued=True)


def parse_lines(raws: list[str], previous: LogLine | None = None) -> list[LogLine]:
    out = []
    for raw in raws:
        previous = parse_line(raw, previous)
        out.append(previous)
    return out


def event_line(event: EventView) -> LogLine:
    """A system event as a log line: time, level from its severity, ``events.<source>``."""
    when = datetime.fromtimestamp(event.ts / 1e9, UTC)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S") + f",{when.microsecond // 1000:03d}"
    where = f" {event.symbol}" if event.symbol else ""
    return LogLine(
        stamp,
        SEVERITY_LEVELS.get(event.severity, "INFO"),
        f"{EVENTS}.{event.source}",
        f"{event.kind}{where}: {event.message}",
    )


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the logs mode shows: a minimum level, a source prefix, a text ("" = any)."""

    level: str = "DEBUG"
    source: str = ""
    text: str = ""

    def matches(self, line: LogLine) -> bool:
        if line.level_number < LEVEL_NUMBERS[self.level]:
            return False
        if self.source and not line.source.startswith(self.source):
            return False
        return not self.text or self.text.lower() in line.message.lower()

    def describe(self) -> str:
        parts = [f"level ≥ {self.level}" if self.level != "DEBUG" else "all levels"]
        if self.source:
            parts.append(f"source {self.source}*")
        if self.text:
            parts.append(f"find “{self.text}”")
        return " · ".join(parts)


def next_level(level: str) -> str:
    """The level filter after ``level``: DEBUG → INFO → WARNING → ERROR → DEBUG."""
    cycle = LEVELS[:-1]
    return cycle[(cycle.index(level) + 1) % len(cycle)] if level in cycle else LEVELS[0]


def source_groups(sources: set[str]) -> list[str]:
    """The sources by their first two dotted parts (``desk.feeds``, ``events.okx``), sorted."""
    return sorted({".".join(source.split(".")[:2]) for source in sources if source})


class LogTail:
    """New complete lines of a log file, by offsets (blocking I/O: call it off the UI loop)."""

    def __init__(self, path: Path, max_lines: int) -> None:
        self.path = path
        self.max_lines = max_lines
        self.offset: int | None = None  # None: not started (find the tail first)
        self.size = 0
        self._identity: tuple[int, int] | None = None
        self._partial = b""
        self.restarts = 0
        self.skipped = 0
        self.missing = False

    def read(self) -> list[str]:
        """The complete lines added since the last call ([] when the file is missing)."""
        try:
            with self.path.open("rb") as file:
                stat = os.fstat(file.fileno())
                self._follow_identity((stat.st_dev, stat.st_ino), stat.st_size)
                far = self.offset is not None and stat.st_size - self.offset > SKIP_AHEAD_BYTES
                if self.offset is None or far:
                    self.skipped += far
                    self.offset, self._partial = self._tail_start(file, stat.st_size), b""
                file.seek(self.offset)
                data = file.read(CHUNK_BYTES)
        except FileNotFoundError:
            self.missing = True
            return []
        self.missing = False
        self.size = stat.st_size
        self.offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if not complete and not data.endswith(b"\n"):
            return []
        return complete.decode("utf-8", errors="replace").split("\n")

    @property
    def behind(self) -> bool:
        """Whether the file holds more than the last read reached (a chunk was not enough)."""
        return self.offset is not None and self.offset < self.size

    def _follow_identity(self, identity: tuple[int, int], size: int) -> None:
        """A new file at the path, or the same one cut shorter: read it from its start."""
        replaced = self._identity is not None and identity != self._identity
        truncated = self.offset is not None and size < self.offset
        if replaced or truncated:
            self.offset, self._partial = 0, b""
            self.restarts += 1
        self._identity = identity

    def _tail_start(self, file: BinaryIO, size: int) -> int:
        """The offset of the first of the last ``max_lines`` lines (0 for a shorter file)."""
        position, newlines = size, 0
        while position > 0:
            step = min(BACK_BLOCK, position)
            position -= step
            file.seek(position)
            block = file.read(step)
            if position + step == size and block.endswith(b"\n"):
                block = block[:-1]  # the file's last newline ends the last line
            found = block.count(b"\n")
            if newlines + found >= self.max_lines:
                cut = len(block)
                for _ in range(self.max_lines - newlines):
                    cut = block.rindex(b"\n", 0, cut)
                return position + cut + 1
            newlines += found
        return 0
