"""The real ``desk --sim`` in a real terminal (tmux): prices appear, 5 shows health, q exits 0;
and a desk stopped and continued from outside (``kill -STOP`` / ``-CONT``) still takes keys
and still quits."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TMUX = shutil.which("tmux")
DESK = Path(sys.executable).parent / "desk"
TIMEOUT_S = 90.0
PRICE_LINE = re.compile(r"\d[\d,]*\.\d+\s+\d[\d,]*\.\d+")


class TmuxPane:
    """One detached tmux session on a private server socket, so nothing else is touched."""

    def __init__(self, socket: str, session: str, log: Path) -> None:
        self.socket, self.session, self.log = socket, session, log
        self.env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(TMUX), "-u", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )

    def start(self, command: str, cwd: Path, size: tuple[int, int]) -> None:
        width, height = size
        result = self.tmux(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(cwd),
            command,
        )
        assert result.returncode == 0, result.stderr

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session).stdout

    def press(self, key: str) -> None:
        self.tmux("send-keys", "-t", self.session, key)

    def close(self) -> None:
        self.tmux("kill-server")


def wait_until(condition: Callable[[], object], what: str, pane: TmuxPane) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            log = pane.log.read_text()[-4000:] if pane.log.exists() else ""
            raise AssertionError(
                f"{what} not seen within {TIMEOUT_S} s; screen:\n{pane.text()}\ndesk.log:\n{log}"
            )
        time.sleep(0.2)


def _desk_pane(tmp_path: Path, name: str) -> tuple[TmuxPane, Path]:
    """A pane for ``desk --sim`` on a private SQLite file, and the file its exit code goes to."""
    if TMUX is None:
        pytest.fail(
            "tmux is not installed: `make test` installs it (as root), or apt-get install tmux"
        )
    assert DESK.exists(), f"the desk console script is not installed at {DESK}: run make test"
    config = tmp_path / "desk.yaml"
    config.write_text(f"storage:\n  sqlite_path: {tmp_path / 'desk.sqlite'}\n", encoding="utf-8")
    return TmuxPane(f"{name}-{os.getpid()}", "desk", log=tmp_path / "desk.log"), config


def _wait_for_prices(pane: TmuxPane) -> None:
    wait_until(
        lambda: "book BTC-USDT" in pane.text() and len(PRICE_LINE.findall(pane.text())) >= 5,
        "prices on the ladder",
        pane,
    )


def _quit(pane: TmuxPane, exit_file: Path, what: str) -> None:
    pane.press("q")
    wait_until(exit_file.exists, what, pane)
    assert exit_file.read_text().strip() == "EXIT=0"


def test_desk_sim_shows_a_living_market_then_health_and_quits_cleanly(tmp_path: Path) -> None:
    pane, config = _desk_pane(tmp_path, "desk-e2e")
    exit_file = tmp_path / "exit"
    try:  # Textual draws on stderr, so the command must leave stderr on the terminal
        pane.start(
            f"{DESK} --sim --config {config}; echo EXIT=$? > {exit_file}", tmp_path, (120, 40)
        )
        _wait_for_prices(pane)
        pane.press("5")
        wait_until(
            lambda: "integrity" in pane.text() and " connected " in pane.text(),
            "the health screen with a connected feed",
            pane,
        )
        _quit(pane, exit_file, "desk exiting")
    finally:
        pane.close()


def _state(pid: int) -> str:
    """The process's state letter (``T``: stopped), from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_desk_stopped_and_continued_from_outside_still_quits(tmp_path: Path) -> None:
    """Textual restarts its terminal mode on every SIGCONT; after a stop it did not make itself
    that started a second input thread, one of which then blocked on the terminal for good, and
    q never exited (terminal.py)."""
    pane, config = _desk_pane(tmp_path, "desk-e2e-stop")
    exit_file, pid_file = tmp_path / "exit", tmp_path / "pid"
    try:  # the shell's pid is desk's after exec: that is the process to stop
        pane.start(
            f"sh -c 'echo $$ > {pid_file}; exec {DESK} --sim --config {config}'; "
            f"echo EXIT=$? > {exit_file}",
            tmp_path,
            (120, 40),
        )
        _wait_for_prices(pane)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: _state(pid) == "T", "desk stopped", pane)
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: _state(pid) != "T", "desk running again", pane)
        pane.press("5")
        wait_until(lambda: "integrity" in pane.text(), "the health screen after SIGCONT", pane)
        pane.press("2")
        wait_until(lambda: "positions" in pane.text().lower(), "the trading screen", pane)
        _quit(pane, exit_file, "desk exiting after a stop and a continue")
    finally:
        pane.close()
