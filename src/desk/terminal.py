"""The terminal driver desk runs under: Textual's, resuming on SIGCONT only what was stopped.

Textual's ``LinuxDriver`` starts application mode again on every SIGCONT, to come back from its
own Ctrl+Z suspend. A process can also be stopped without that suspend: ``kill -STOP``, a
debugger, a machine's job control. Then nothing was suspended, and the restart starts a second
input thread beside the first: both wait on the terminal, at the next key one of them blocks in
a read that never returns, and quitting waits for it forever (desk never exits). This driver
restarts application mode only when its input thread is not running (after a suspend, or a
start that was itself stopped in the background); otherwise a SIGCONT changes nothing.
"""

from __future__ import annotations

from typing import Any

from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver


class DeskLinuxDriver(LinuxDriver):
    """``LinuxDriver`` whose SIGCONT leaves a running application mode alone."""

    def _sigcont_application(self, *args: Any) -> None:
        if self.input_running:
            return  # stopped and continued from outside: nothing to resume
        super()._sigcont_application(*args)

    @property
    def input_running(self) -> bool:
        """Whether the thread that reads the terminal is alive (application mode is on)."""
        # Read defensively: this runs in a signal handler, where an AttributeError (a Textual
        # that renamed its attribute) would surface at any line of the app; without the thread
        # the SIGCONT does what Textual's does.
        thread = getattr(self, "_key_thread", None)
        return thread is not None and thread.is_alive()


def driver_for(default: type[Driver]) -> type[Driver]:
    """The driver desk uses where Textual would use ``default``: ours for Linux's own."""
    return DeskLinuxDriver if default is LinuxDriver else default
