"""desk's terminal driver: a SIGCONT restarts application mode only when it is not running, and
the App runs under that driver wherever Textual would run its Linux one."""

from __future__ import annotations

import sys
import threading

import pytest
import textual.constants
from textual.drivers.linux_driver import LinuxDriver

from desk.terminal import DeskLinuxDriver, driver_for
from tests.ui.conftest import make_app


def _driver(key_thread: threading.Thread | None) -> tuple[DeskLinuxDriver, list[str]]:
    """A driver without a terminal (no __init__: it would take over this process's signals);
    its restart is recorded instead of done."""
    driver = DeskLinuxDriver.__new__(DeskLinuxDriver)
    driver._auto_restart = True
    driver._key_thread = key_thread
    restarts: list[str] = []
    driver.resume_application_mode = lambda: restarts.append("resumed")  # type: ignore[method-assign]
    return driver, restarts


def test_a_sigcont_while_the_input_thread_runs_restarts_nothing() -> None:
    stop = threading.Event()
    reader = threading.Thread(target=stop.wait, daemon=True)
    reader.start()
    try:
        driver, restarts = _driver(reader)
        assert driver.input_running
        driver._sigcont_application()
        assert restarts == []  # Textual's driver would start a second input thread here
    finally:
        stop.set()
        reader.join()


@pytest.mark.parametrize("state", ["never started", "stopped"])
def test_a_sigcont_after_a_suspend_restarts_application_mode(state: str) -> None:
    thread = None
    if state == "stopped":  # a suspend joined the input thread
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
    driver, restarts = _driver(thread)
    assert not driver.input_running
    driver._sigcont_application()
    assert restarts == ["resumed"]


def test_the_driver_stands_in_for_linux_only() -> None:
    assert driver_for(LinuxDriver) is DeskLinuxDriver
    other = type("OtherDriver", (LinuxDriver,), {})
    assert driver_for(other) is other  # a driver someone chose (TEXTUAL_DRIVER) is kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Textual's Linux driver")
def test_textual_still_has_what_the_driver_overrides() -> None:
    """A Textual that renamed these would silently bring the hang back."""
    assert callable(getattr(LinuxDriver, "_sigcont_application", None))
    assert "_key_thread" in LinuxDriver.__init__.__code__.co_names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Textual's Linux driver")
def test_the_desk_app_runs_under_desks_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textual.constants, "DRIVER", None)  # no TEXTUAL_DRIVER override
    assert make_app().driver_class is DeskLinuxDriver
