"""Logs mode (7): the engine's log file and the system events in one stream; find, filter by
level and source, follow new lines, and a large log that never blocks the UI."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot

from desk.app import DeskApp
from desk.screens.help import HelpScreen
from desk.screens.logs import MAX_LINES, LogsScreen
from desk.widgets.log_lines import LogTail
from desk.widgets.log_view import PREFIX_CHARS
from tests.ui.conftest import make_config, settled, wait_for
from tests.ui.fakes import FakeEngineClient, frozen_clock
from tests.ui.test_palette import run_command

SOURCES = ("desk.feeds.okx.feed", "desk.engine.engine", "desk.execution.oms")
FILE_LINES = 50
EVENTS = 4  # the fake's seeded system events, stamped 22:13:20 … 22:13:23 UTC


def level_of(i: int) -> str:
    if i % 10 == 0:
        return "ERROR"
    if i % 5 == 0:
        return "WARNING"
    return "DEBUG" if i % 3 == 0 else "INFO"


def line(i: int, minute: int = 0) -> str:
    """Line ``i`` of the planted log: its level, source and 'resync' follow from ``i``."""
    word = " resync" if i % 7 == 0 else ""
    stamp = f"2023-11-14 22:{minute:02d}:{i // 1000 % 60:02d},{i % 1000:03d}"
    return f"{stamp} {level_of(i):<7} {SOURCES[i % 3]}: message {i}{word}"


def write_log(path: Path, numbers: range, minute: int = 0, mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as file:
        file.write("".join(f"{line(i, minute)}\n" for i in numbers))


def logs_app(path: Path, fake: FakeEngineClient | None = None) -> DeskApp:
    return DeskApp(
        fake or FakeEngineClient(),
        make_config(),
        clock=frozen_clock,
        health_every_s=0.0,
        log_path=path,
    )


async def open_logs(pilot: Pilot, lines: int) -> LogsScreen:
    await settled(pilot)
    await pilot.press("7")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LogsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, LogsScreen)
    await wait_for(pilot, lambda: len(screen.lines) == lines)
    await settled(pilot)
    return screen


def messages(screen: LogsScreen) -> list[str]:
    return [line.message for line in screen.view.lines]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "desk.log"
    write_log(path, range(FILE_LINES))
    return path


async def test_key_7_opens_the_log_and_the_events_as_one_stream_in_time_order(log: Path) -> None:
    app = logs_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(pilot, FILE_LINES + EVENTS)
        assert app.current_mode == "logs"
        shown = screen.view.lines
        assert [x.message for x in shown[:FILE_LINES]] == [
            line(i).split(": ", 1)[1] for i in range(FILE_LINES)
        ]
        assert {x.source for x in shown[FILE_LINES:]} == {"events.engine", "events.okx"}
        await wait_for(pilot, lambda: screen.view.visible_lines()[-1] == shown[-1])  # following
        assert str(screen.status.content).startswith(f" {FILE_LINES + EVENTS} of ")
        assert "following" in str(screen.status.content)


async def test_find_shows_only_the_lines_holding_the_text(log: Path) -> None:
    app = logs_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(pilot, FILE_LINES + EVENTS)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"RESYNC", "enter")
        expected = len(range(0, FILE_LINES, 7)) + 2  # and two events: resync, resynced
        await wait_for(pilot, lambda: len(screen.view.lines) == expected)
        assert all("resync" in text.lower() for text in messages(screen))
        assert screen.view.needle == "resync"
        assert "find “RESYNC”" in str(screen.status.content)
        await pilot.press("escape")  # clears every filter
        await wait_for(pilot, lambda: len(screen.view.lines) == FILE_LINES + EVENTS)


async def test_l_cycles_the_minimum_level(log: Path) -> None:
    app = logs_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(pilot, FILE_LINES + EVENTS)
        levels = [level_of(i) for i in range(FILE_LINES)] + ["INFO", "INFO", "WARNING", "INFO"]
        for wanted, kept in (
            ("INFO", {"INFO", "WARNING", "ERROR"}),
            ("WARNING", {"WARNING", "ERROR"}),
            ("ERROR", {"ERROR"}),
            ("DEBUG", {"DEBUG", "INFO", "WARNING", "ERROR"}),
        ):
            await pilot.press("l")
            count = sum(level in kept for level in levels)
            await wait_for(pilot, lambda c=count: len(screen.view.lines) == c)
            assert screen.filter.level == wanted
            assert {x.level for x in screen.view.lines} <= kept


async def test_o_filters_by_source_prefix(log: Path) -> None:
    app = logs_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(pilot, FILE_LINES + EVENTS)
        for prefix, count in (("events", EVENTS), ("desk.feeds", len(range(0, FILE_LINES, 3)))):
            await pilot.press("o")
            await pilot.pause()
            await pilot.press("ctrl+a", "ctrl+k", *prefix, "enter")  # replace the field's text
            await wait_for(pilot, lambda c=count: len(screen.view.lines) == c)
            assert all(x.source.startswith(prefix) for x in screen.view.lines)


async def test_new_lines_are_followed_until_the_reader_scrolls_up(log: Path) -> None:
    app = logs_app(log)
    async with app.run_test(size=(100, 20)) as pilot:
        screen = await open_logs(pilot, FILE_LINES + EVENTS)
        view = screen.view
        write_log(log, range(1000, 1005), minute=30, mode="a")
        await wait_for(pilot, lambda: messages(screen)[-1] == "message 1004")
        await wait_for(pilot, lambda: view.visible_lines()[-1].message == "message 1004")
        await pilot.press("home")  # reading the top: stop following
        await wait_for(pilot, lambda: view.scroll_offset.y == 0)
        assert not view.follow
        top = view.visible_lines()[0]
        write_log(log, range(1005, 1008), minute=30, mode="a")
        await wait_for(pilot, lambda: messages(screen)[-1] == "message 1007")
        await settled(pilot)
        assert view.visible_lines()[0] == top  # the page being read stays put
        assert "paused" in str(screen.status.content)
        await pilot.press("f")
        await wait_for(pilot, lambda: view.visible_lines()[-1].message == "message 1007")
        assert view.follow


async def test_the_palette_and_help_reach_the_logs_mode(log: Path) -> None:
    app = logs_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await run_command(pilot, "Logs: level ERROR")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_for(pilot, lambda: screen.filter.level == "ERROR")
        await wait_for(pilot, lambda: len(screen.view.lines) == len(range(0, FILE_LINES, 10)))
        await run_command(pilot, "Mode: market")
        await wait_for(pilot, lambda: app.current_mode == "market")
        await run_command(pilot, "Mode: logs")
        await wait_for(pilot, lambda: app.current_mode == "logs")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = dict(help_screen.rows())
        assert rows["mode_logs"] == "7"
        assert (rows["logs_find"], rows["logs_level"], rows["logs_source"]) == ("/", "l", "o")
        assert rows["logs_follow"] == "f"


async def test_a_missing_log_says_so_and_shows_the_events_until_it_appears(
    tmp_path: Path,
) -> None:
    path = tmp_path / "not-yet.log"
    app = logs_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(pilot, EVENTS)
        await wait_for(pilot, lambda: "does not exist (yet)" in str(screen.status.content))
        write_log(path, range(3), minute=30)
        await wait_for(pilot, lambda: len(screen.lines) == EVENTS + 3)


class GatedTail(LogTail):
    """A tail whose first read waits for the test: the UI must go on meanwhile."""

    gate = threading.Event()
    entered = threading.Event()

    def read(self) -> list[str]:
        if not self.entered.is_set():
            self.entered.set()
            if not self.gate.wait(timeout=60):
                raise TimeoutError("the test never opened the gate")
        return super().read()


async def test_a_200k_line_log_loads_its_tail_in_a_worker_without_blocking_the_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desk.log"
    write_log(path, range(200_000))
    monkeypatch.setattr("desk.screens.logs.LogTail", GatedTail)
    GatedTail.gate.clear()
    GatedTail.entered.clear()
    app = logs_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await wait_for(pilot, GatedTail.entered.is_set, settle=False)
        # the read is stuck in its thread: the UI still refreshes and answers keys
        refreshes = app.refreshes
        await wait_for(pilot, lambda: app.refreshes >= refreshes + 5, settle=False)
        assert "reading desk.log" in str(screen.status.content)
        await pilot.press("l")
        await wait_for(pilot, lambda: "level ≥ INFO" in str(screen.status.content))
        GatedTail.gate.set()
        await wait_for(pilot, lambda: len(screen.lines) == MAX_LINES)  # the newest, not 200k
        file_lines = [x for x in screen.lines if not x.source.startswith("events")]
        assert len(file_lines) == MAX_LINES - EVENTS  # the events are newer than the file
        assert file_lines[0].message.startswith(f"message {200_000 - MAX_LINES + EVENTS}")
        assert file_lines[-1].message.startswith("message 199999")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(screen.view.lines) == MAX_LINES)
        await wait_for(pilot, lambda: screen.view.visible_lines()[-1] == screen.view.lines[-1])


async def test_the_rows_shown_are_cut_as_textual_cuts_them_and_die_by_reference_count(
    log: Path,
) -> None:
    """The view cuts its rows itself (no ``Strip.crop_extend``, which memoises its result in the
    line): the same segments as Textual's cut, and no row drawn reaches itself (a reference
    cycle: thousands of cached rows would wait for a full garbage collection)."""
    from tests.ui.test_line_cache import _holds_itself

    app = logs_app(log)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(pilot, FILE_LINES + EVENTS)
        view = screen.view
        width = view.size.width
        first = view.lines[0]  # a row exactly as wide as the view is its own uncut cut
        exact = replace(first, message=first.message.ljust(width - PREFIX_CHARS))
        view.show([exact, *view.lines[1:]])
        assert view._width_of(exact) == width
        await pilot.press("home")
        await settled(pilot)  # drawn
        rows = [view.render_line(y) for y in range(view.size.height)]
        assert len({id(row) for row in rows}) == len(rows)
        for y, row in enumerate(rows):
            whole = view._strip(view.lines[view.scroll_offset.y + y])
            x = view.scroll_offset.x
            textual = whole.crop_extend(x, x + width, view.rich_style)
            assert [tuple(s)[:2] for s in row] == [tuple(s)[:2] for s in textual]
            assert row.cell_length == width
            assert not _holds_itself(row)
