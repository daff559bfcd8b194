"""Messages the desk App posts, named as past-tense facts (Harlequin style), and the requests
screens and the command palette post up to the App, named ``…Requested``.

The facts announce what happened so other parts (and tests, through
``run_test(message_hook=…)``) can react without the App calling into them. The requests are how
a screen asks the App for something (send a command, open a bot's detail or a form): messages
up, calls down, so no screen imports the App. Per-tick prices never travel as messages: widgets
sample views instead (DESIGN.md section 1).
"""

from __future__ import annotations

from textual.message import Message

from desk.bridge.views import EventView
from desk.core.commands import Command


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


# -- requests: screens and the command palette ask, the App acts (messages up, calls down) ----


class CommandRequested(Message):
    """Send ``command`` to the engine; the App shows the answer (accepted or the refusal)."""

    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command


class BotDetailRequested(Message):
    """Show one bot's detail over the current screen."""

    def __init__(self, bot_id: str) -> None:
        super().__init__()
        self.bot_id = bot_id


class ParamsFormRequested(Message):
    """Open the form that edits one bot's parameters."""

    def __init__(self, bot_id: str) -> None:
        super().__init__()
        self.bot_id = bot_id


class NewBotFormRequested(Message):
    """Open the form that adds a bot."""


class SignalsRequested(Message):
    """Switch to the signals mode with its filter changed (fate=, text=, bot_id=)."""

    def __init__(self, **changes: str) -> None:
        super().__init__()
        self.changes = changes


class RefreshRequested(Message):
    """Sample the engine for the screen on top now, not at the next tick."""


class LogsRequested(Message):
    """Switch to the logs mode with its filter changed (level=, source=, text=)."""

    def __init__(self, **changes: str) -> None:
        super().__init__()
        self.changes = changes
