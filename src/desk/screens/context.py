"""What one refresh hands to the visible screen: plain data, no Textual.

The App builds one ``RefreshContext`` per tick and gives it to the screen on top, so screens and
widgets never reach into the App or the engine: everything they may draw comes through here and
through the ``EngineClient`` it carries. ``DeskAppLike`` is the little of the App that the
flows shared with the command palette read, as a Protocol: nothing here imports ``desk.app``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from desk.bridge.views import EventView, HealthView
from desk.clients.client import EngineClient
from desk.config import UiConfig
from desk.core.enums import Mode

EVENT_HISTORY = 500


class EngineState:
    """Where the engine is in its life, as the header shows it."""

    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"


class EventLog:
    """System events seen so far (bounded), in ``seq`` order; screens draw from ``since``."""

    def __init__(self, maxlen: int = EVENT_HISTORY) -> None:
        self._events: deque[EventView] = deque(maxlen=maxlen)
        self.last_seq = 0

    def extend(self, events: list[EventView]) -> list[EventView]:
        """Add events newer than the last one seen; returns the ones that were new."""
        fresh = [event for event in events if event.seq > self.last_seq]
        if fresh:
            self._events.extend(fresh)
            self.last_seq = fresh[-1].seq
        return fresh

    def since(self, seq: int) -> list[EventView]:
        return [event for event in self._events if event.seq > seq]

    def __len__(self) -> int:
        return len(self._events)


class DeskAppLike(Protocol):
    """The little of the desk App that the trading flows and the command palette use: its
    client and selection, and the selection calls the palette makes. Everything else screens
    and the palette ask of the App through messages (``desk.messages``)."""

    client: EngineClient
    symbol: str
    timeframe: str

    @property
    def desk_theme_names(self) -> tuple[str, ...]: ...

    def select_symbol(self, symbol: str) -> None: ...

    def select_timeframe(self, timeframe: str) -> None: ...

    def select_theme(self, name: str) -> None: ...

    def action_help(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RefreshContext:
    """One sample's worth of inputs: the client, the selection, the time and recent state."""

    client: EngineClient
    ui: UiConfig
    mode: Mode
    symbol: str
    timeframe: str
    now_ns: int
    engine_state: str
    events: EventLog
    health: HealthView | None = None
