"""``/ws/system``: system events as they come (looked for every ``1/status_hz`` s) and the
engine's health every :data:`HEALTH_INTERVAL_S` seconds."""

from __future__ import annotations

import time
from collections.abc import Iterable

from desk.bridge.views import EventView, HealthView
from desk.gateway.clients import PollingStream
from desk.gateway.messages import (
    ConnectionItem,
    EventItem,
    Health,
    QueueItem,
    SystemEvents,
    encode,
    finite,
)
from desk.gateway.source import DeskViews

HEALTH_INTERVAL_S = 1.0
EVENTS_LOOKED_AT = 1000
"""Events read per look (the engine keeps its last 1000)."""
EVENTS_IN_SNAPSHOT = 50
"""Recent events a client gets on joining."""


class SystemStream(PollingStream):
    route = "/ws/system"

    def __init__(self, interval: float, views: DeskViews) -> None:
        super().__init__(interval)
        self._views = views
        self._last_seq = 0
        self._health_at = 0.0

    def open(self) -> None:
        events = self._views.events_since(0, EVENTS_LOOKED_AT)
        self._last_seq = events[-1].seq if events else 0
        self._health_at = time.monotonic()
        super().open()

    def poll(self) -> Iterable[bytes]:
        frames = []
        new = self._views.events_since(self._last_seq, EVENTS_LOOKED_AT)
        if new:
            self._last_seq = new[-1].seq
            frames.append(encode(SystemEvents(ts=time.time_ns(), events=_events(new))))
        now = time.monotonic()
        if now - self._health_at >= HEALTH_INTERVAL_S:
            self._health_at = now
            frames.append(encode(health_message(self._views.health())))
        return frames

    def snapshot(self) -> Iterable[bytes]:
        events = self._views.events_since(0, EVENTS_LOOKED_AT)
        recent = [e for e in events if e.seq <= self._last_seq][-EVENTS_IN_SNAPSHOT:]
        return (
            encode(health_message(self._views.health())),
            encode(SystemEvents(ts=time.time_ns(), events=_events(recent))),
        )


def health_message(view: HealthView) -> Health:
    return Health(
        ts=time.time_ns(),
        mode=str(view.mode),
        uptime_s=view.uptime_s,
        loop_lag_ms=view.loop_lag_ms,
        loop_lag_p99_ms=view.loop_lag_p99_ms,
        cpu_percent=view.cpu_percent,
        rss_bytes=view.rss_bytes,
        connections=[
            ConnectionItem(
                venue=c.venue,
                name=c.name,
                state=str(c.state),
                msgs_per_s=c.msgs_per_s,
                latency_p50_ms=finite(c.latency_p50_ms),
                latency_p99_ms=finite(c.latency_p99_ms),
                last_message_age_ms=finite(c.last_message_age_ms),
                reconnects=c.reconnects,
                gaps=c.gaps,
            )
            for c in view.connections
        ],
        queues=[
            QueueItem(name=q.name, depth=q.depth, maxsize=q.maxsize, dropped=q.dropped)
            for q in view.queues
        ],
        sqlite_backlog=view.sqlite_backlog,
        risk_state=view.risk_state,
        warnings=list(view.model_warnings),
    )


def _events(events: list[EventView]) -> list[EventItem]:
    return [
        EventItem(
            seq=e.seq,
            ts=e.ts,
            source=e.source,
            kind=e.kind,
            severity=str(e.severity),
            message=e.message,
            symbol=e.symbol,
        )
        for e in events
    ]
