"""What a feed tells the operator: ``FeedStatus`` and rate-limited ``SystemEvent`` s.

Venue-neutral. A broken stream can fail on every message (a bad frame 10k times a second); the
counters count every one, but ``FeedReporter.report`` publishes at most one event per second
per (kind, symbol) and says how many similar ones it held back.
"""

from __future__ import annotations

import logging
import time

from desk.core.bus import Bus
from desk.core.enums import ConnectionState, Severity
from desk.core.events import FeedStatus, SystemEvent
from desk.core.topics import SYSTEM_EVENTS

log = logging.getLogger("desk.feeds")

_LOG_LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
}
_STATE_KINDS = {  # a deliberate stop is only a FeedStatus: the engine reports its own stop
    ConnectionState.CONNECTED: ("connected", Severity.INFO),
    ConnectionState.DISCONNECTED: ("disconnected", Severity.WARNING),
}


class EventLimiter:
    """At most one event per key per ``interval_ns``; says how many were held back meanwhile."""

    def __init__(self, interval_ns: int = 1_000_000_000) -> None:
        self.interval_ns = interval_ns
        self._last: dict[tuple[str, str], int] = {}
        self._held: dict[tuple[str, str], int] = {}

    def allow(self, key: tuple[str, str], now_ns: int) -> int | None:
        """None to hold this one back, else the number held back since the last one allowed."""
        last = self._last.get(key)
        if last is not None and now_ns - last < self.interval_ns:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now_ns
        return self._held.pop(key, 0)


class FeedReporter:
    """Publishes one connection's status changes and system events on ``system_events``."""

    def __init__(
        self, bus: Bus, source: str, venue: str, limiter: EventLimiter | None = None
    ) -> None:
        self.bus = bus
        self.source = source
        self.venue = venue
        self.limiter = limiter or EventLimiter()

    def report(
        self, kind: str, message: str, severity: Severity, symbol: str = "", now_ns: int = 0
    ) -> None:
        """Publish a ``SystemEvent``, at most one per second per (kind, symbol)."""
        now = now_ns or time.time_ns()
        held = self.limiter.allow((kind, symbol), now)
        if held is None:
            return
        if held:
            message = f"{message} (+{held} similar suppressed)"
        self.publish(kind, message, severity, symbol, now)

    def publish(
        self, kind: str, message: str, severity: Severity, symbol: str = "", now_ns: int = 0
    ) -> None:
        """Publish a ``SystemEvent`` now, without rate limiting."""
        now = now_ns or time.time_ns()
        log.log(_LOG_LEVELS[severity], "%s %s %s: %s", self.source, symbol, kind, message)
        event = SystemEvent(
            ts_exchange=0,
            ts_recv=now,
            source=self.source,
            kind=kind,
            message=message,
            severity=severity,
            symbol=symbol,
        )
        self.bus.publish(SYSTEM_EVENTS, event)

    def status(self, state: ConnectionState, reason: str, url: str = "") -> None:
        """A ``FeedStatus`` for every state change, plus a ``SystemEvent`` for the notable ones."""
        now = time.time_ns()
        status = FeedStatus(
            ts_exchange=0,
            ts_recv=now,
            venue=self.venue,
            connection=self.source,
            state=state,
            reason=reason,
        )
        self.bus.publish(SYSTEM_EVENTS, status)
        kind = _STATE_KINDS.get(state)
        if kind is not None:
            self.publish(kind[0], reason or f"{kind[0]} to {url}", kind[1], "", now)
