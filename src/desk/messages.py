"""Messages the desk App posts, named as past-tense facts (Harlequin style).

They announce what happened so other parts (and tests, through ``run_test(message_hook=…)``)
can react without the App calling into them. Per-tick prices never travel as messages: widgets
sample views instead (DESIGN.md section 1).
"""

from __future__ import annotations

from textual.message import Message

from desk.bridge.views import EventView


class SymbolChanged(Message):
    """The selected symbol changed (by key, palette or code)."""

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol


class TimeframeChanged(Message):
    """The chart's timeframe changed."""

    def __init__(self, timeframe: str) -> None:
        super().__init__()
        self.timeframe = timeframe


class SystemEventsReceived(Message):
    """New engine system events arrived in a refresh (oldest first)."""

    def __init__(self, events: list[EventView]) -> None:
        super().__init__()
        self.events = events


class RefreshFailed(Message):
    """A refresh raised; the App logged it and keeps running."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class EngineStarted(Message):
    """The engine behind the client finished starting."""


class EngineFailed(Message):
    """The engine could not start; the UI stays up to show why."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error
