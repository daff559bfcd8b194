"""The help screen (``?``): every binding with its id, its current key and what it does.

The ids are what ``ui.keys`` in a config remaps, so the screen shows them next to the keys a
person actually has, after remapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from desk.keymap import BINDINGS, display_key
from desk.screens.base import app_bindings_for_modal, bindings

SCOPES = {
    "app": "everywhere",
    "market": "market",
    "trading": "trading",
    "health": "health",
    "bots": "bots",
    "bot_detail": "bot detail",
    "signals": "signals",
    "models": "models",
    "backtest": "backtest",
    "logs": "logs",
    "cross_venue": "x-venue",
    "form": "forms",
    "confirm": "confirm",
    "help": "help",
}


class HelpScreen(ModalScreen[None]):
    """A modal table of bindings; Esc or ``?`` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("help"),
        *app_bindings_for_modal(("help", "quit", "mode_*")),
    ]

    def __init__(self, keys: Mapping[str, str]) -> None:
        super().__init__()
        self.keys = dict(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-panel") as panel:
            panel.border_title = "keys"
            panel.border_subtitle = "remap in config: ui.keys.<id>"
            yield DataTable(id="help-table", show_cursor=False, cursor_type="none")
            yield Label("esc or ? closes · ctrl+p finds any command by name", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("key", width=8, key="key")
        table.add_column("action", width=14, key="action")
        table.add_column("id", width=15, key="id")
        table.add_column("where", width=10, key="where")
        for spec in BINDINGS:
            key = display_key(self.keys.get(spec.id, spec.key))
            table.add_row(key, spec.description, spec.id, SCOPES[spec.scope], key=spec.id)

    def rows(self) -> list[tuple[str, str]]:
        """(id, key as shown) for every binding listed (tests read the screen through this)."""
        table = self.query_one(DataTable)
        return [
            (str(table.get_cell(spec.id, "id")), str(table.get_cell(spec.id, "key")))
            for spec in BINDINGS
        ]
