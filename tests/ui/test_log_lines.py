"""Reading desk.log incrementally by offsets, parsing its lines, and the logs mode's filter."""

from __future__ import annotations

import os
from pathlib import Path

from desk.bridge.views import EventView
from desk.core.enums import Severity
from desk.widgets.log_lines import (
    LogFilter,
    LogLine,
    LogTail,
    event_line,
    next_level,
    parse_line,
    parse_lines,
    source_groups,
)
from tests.ui.fakes import T0


def record(i: int, level: str = "INFO", source: str = "desk.engine.engine") -> str:
    return f"2023-11-14 22:00:{i % 60:02d},{i % 1000:03d} {level:<7} {source}: message {i}"


def write(path: Path, lines: list[str], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as file:
        file.write("".join(f"{line}\n" for line in lines))


def test_the_first_read_starts_at_the_last_lines_of_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "desk.log"
    write(path, [record(i) for i in range(50_000)])
    tail = LogTail(path, max_lines=300)
    lines = tail.read()
    assert len(lines) == 300
    assert lines[0].endswith("message 49700") and lines[-1].endswith("message 49999")
    assert tail.read() == []  # nothing new
    assert not tail.behind


def test_new_lines_are_handed_out_once_and_a_half_written_line_waits(tmp_path: Path) -> None:
    path = tmp_path / "desk.log"
    write(path, [record(1)])
    tail = LogTail(path, max_lines=100)
    assert tail.read() == [record(1)]
    with path.open("a", encoding="utf-8") as file:
        file.write(record(2) + "\n" + record(3)[:20])  # the writer is mid-line
    assert tail.read() == [record(2)]
    with path.open("a", encoding="utf-8") as file:
        file.write(record(3)[20:] + "\n")
    assert tail.read() == [record(3)]


def test_a_truncated_or_replaced_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "desk.log"
    write(path, [record(i) for i in range(10)])
    tail = LogTail(path, max_lines=100)
    assert len(tail.read()) == 10
    write(path, [record(100)])  # truncated in place and written again
    assert tail.read() == [record(100)]
    rotated = tmp_path / "desk.log.1"
    os.replace(path, rotated)
    write(path, [record(200), record(201)])  # a new file at the same path (a rotation)
    assert tail.read() == [record(200), record(201)]
    assert tail.restarts == 2


def test_a_reader_left_far_behind_jumps_to_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "desk.log"
    write(path, [record(0)])
    tail = LogTail(path, max_lines=100)
    assert tail.read() == [record(0)]
    filler = "x" * 200
    write(path, [f"{record(i)} {filler}" for i in range(1, 120_000)], mode="a")  # ~26 MB
    lines = tail.read()
    assert tail.skipped == 1
    assert len(lines) == 100 and lines[-1].startswith(record(119_999))


def test_a_missing_file_reads_nothing_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    tail = LogTail(path, max_lines=10)
    assert tail.read() == [] and tail.missing
    write(path, [record(5)])
    assert tail.read() == [record(5)] and not tail.missing


def test_a_record_and_its_traceback_lines_share_its_level_and_source() -> None:
    lines = parse_lines(
        [
            record(7, "ERROR", "desk.feeds.okx.feed"),
            "Traceback (most recent call last):",
            '  File "feed.py", line 1',
            record(8, "WARNING", "desk.ui"),
        ]
    )
    head, trace, frame, warning = lines
    assert (head.when, head.level, head.source, head.message) == (
        "2023-11-14 22:00:07,007",
        "ERROR",
        "desk.feeds.okx.feed",
        "message 7",
    )
    assert head.clock == "22:00:07.007"
    assert (trace.level, trace.source, trace.when, trace.continued) == (
        "ERROR",
        "desk.feeds.okx.feed",
        head.when,
        True,
    )
    assert frame.message == '  File "feed.py", line 1'
    assert (warning.level, warning.continued) == ("WARNING", False)
    orphan = parse_line("  a line with no record before it")
    assert orphan.continued and orphan.when == ""
    long = parse_line(record(9) + "x" * 5_000)
    assert len(long.message) < 2_100 and long.message.endswith("chars)")


def test_a_system_event_becomes_a_line_from_events_dot_its_source() -> None:
    event = EventView(
        seq=1,
        ts=T0 + 123_000_000,
        source="okx",
        kind="resync",
        severity=Severity.WARNING,
        message="sequence gap",
        symbol="ETH-USDT",
    )
    line = event_line(event)
    assert line == LogLine(
        "2023-11-14 22:13:20,123", "WARNING", "events.okx", "resync ETH-USDT: sequence gap"
    )


def test_the_filter_by_level_source_and_text() -> None:
    lines = parse_lines(
        [
            record(1, "DEBUG", "desk.feeds.okx.feed"),
            record(2, "INFO", "desk.engine.engine"),
            record(3, "WARNING", "desk.feeds.okx.books"),
            record(4, "ERROR", "desk.execution.oms"),
        ]
    )
    shown = [line.message for line in lines if LogFilter(level="WARNING").matches(line)]
    assert shown == ["message 3", "message 4"]
    feeds = LogFilter(source="desk.feeds")
    assert [line.message for line in lines if feeds.matches(line)] == ["message 1", "message 3"]
    assert [line.message for line in lines if LogFilter(text="SAGE 2").matches(line)] == [
        "message 2"
    ]
    assert LogFilter(level="ERROR", source="desk", text="x").describe() == (
        "level ≥ ERROR · source desk* · find “x”"
    )
    assert [next_level(level) for level in ("DEBUG", "INFO", "WARNING", "ERROR")] == [
        "INFO",
        "WARNING",
        "ERROR",
        "DEBUG",
    ]
    assert source_groups({line.source for line in lines} | {"events.okx"}) == [
        "desk.engine",
        "desk.execution",
        "desk.feeds",
        "events.okx",
    ]
