"""Refusals at the Redis trust boundary become system events, rate-limited.

Whatever the receiver of a command, a receipt, a lease grant or a sealed value refuses (bad
signature, expired, replayed, lease violation, unknown sender, forged receipt, forged market
data, a planted ledger entry) is reported here with who sent it and why. It becomes a
``SystemEvent`` (source ``security``, kind = the refusal's kind), so it shows in the health
mode's event log and lands in SQLite, but never more than once per kind and sender per window
(10 s): the rest of a flood is counted and reported as one summary line when the window ends,
and past ``max_per_window`` events in a window all senders share one summary. So an attacker
who can write to Redis as fast as it accepts cannot fill the log or SQLite.

Text that came from outside (a sender id, a key name) is cut by :func:`desk.core.excerpt.excerpt`
to 200 characters with its full length stated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from desk.core.enums import Severity
from desk.core.excerpt import excerpt

log = logging.getLogger("desk.security")

WINDOW_S = 10.0
SOURCE = "security"

Emit = Callable[[str, str, str, Severity], None]
"""``emit(source, kind, message, severity)``: ``Engine.emit``'s shape."""


class _Window:
    __slots__ = ("count", "sender", "started", "suppressed")

    def __init__(self, started: float, sender: str) -> None:
        self.started = started
        self.sender = sender
        self.suppressed = 0
        self.count = 0


class RefusalReporter:
    """Turns refusals into rate-limited system events (see the module docstring)."""

    def __init__(
        self,
        emit: Emit | None,
        *,
        window_s: float = WINDOW_S,
        max_per_window: int = 30,
        max_tracked: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self.window_s = window_s
        self.max_per_window = max_per_window
        self.max_tracked = max_tracked
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._window_start = clock()
        self._emitted_in_window = 0
        self._overflow: dict[str, int] = {}
        self.total = 0
        self.emitted = 0
        self.by_kind: dict[str, int] = {}

    def __call__(self, kind: str, sender: str, detail: str) -> None:
        self.refuse(kind, sender, detail)

    def refuse(self, kind: str, sender: str, detail: str) -> None:
        """One refusal of ``kind`` (a short word: ``bad_signature``) from ``sender``."""
        self.total += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        now = self._clock()
        self.flush(now)
        who = excerpt(sender)
        key = (kind, who)
        window = self._windows.get(key)
        if window is not None:
            window.suppressed += 1
            return
        if self._emitted_in_window >= self.max_per_window or len(self._windows) >= self.max_tracked:
            self._overflow[kind] = self._overflow.get(kind, 0) + 1
            return
        self._windows[key] = _Window(now, who)
        self._send(kind, f"{detail} (sender {who})")

    def flush(self, now: float | None = None) -> None:
        """Report what each ended window suppressed; call it now and then (cheap)."""
        now = self._clock() if now is None else now
        if now - self._window_start >= self.window_s:
            self._window_start = now
            self._emitted_in_window = 0
            overflow, self._overflow = self._overflow, {}
            for kind, count in overflow.items():
                self._send(
                    kind,
                    f"{count} more {kind.replace('_', ' ')} refusals in the last "
                    f"{self.window_s:g}s (senders not listed: too many at once)",
                )
        ended = [k for k, w in self._windows.items() if now - w.started >= self.window_s]
        for key in ended:
            window = self._windows.pop(key)
            if window.suppressed:
                self._send(
                    key[0],
                    f"{window.suppressed} more {key[0].replace('_', ' ')} refusals from "
                    f"{window.sender} in the last {self.window_s:g}s",
                )

    def _send(self, kind: str, message: str) -> None:
        self.emitted += 1
        self._emitted_in_window += 1
        log.warning("refused: %s", message)
        if self._emit is not None:
            self._emit(SOURCE, kind, message, Severity.WARNING)
