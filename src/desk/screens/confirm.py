"""A confirmation modal for dangerous actions (cancel all, flatten, halt, live orders).

It names what will happen, offers one or more choices (each a button with its own key) and a
way out: ``n`` or ``Esc`` dismisses with ``None``, so nothing is sent unless a person picks a
choice. ``y`` picks the first choice; the first button has the focus, so ``enter`` does too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from desk.screens.base import app_bindings_for_modal, bindings


@dataclass(frozen=True, slots=True)
class Choice:
    """One way to confirm: the value the modal returns, its button label and its key."""

    value: str
    label: str
    key: str = ""


class ConfirmScreen(ModalScreen[str | None]):
    """Asks before something dangerous; returns the chosen value, or None for "no"."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("confirm"),
        *app_bindings_for_modal(("quit",)),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > #confirm-panel {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen #confirm-title { text-style: bold; color: $error; width: 1fr; }
    ConfirmScreen #confirm-body { width: 1fr; height: auto; margin: 1 0; }
    ConfirmScreen #confirm-buttons { height: auto; width: 1fr; }
    ConfirmScreen #confirm-buttons Button { margin-right: 2; }
    ConfirmScreen #confirm-hint { color: $text-muted; }
    """

    def __init__(
        self,
        title: str,
        body: str | Sequence[str],
        choices: Sequence[Choice],
        *,
        cancel_label: str = "No",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, str) else "\n".join(body)
        self.choices = tuple(choices)
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-panel"):
            yield Label(self.title_text, id="confirm-title")
            yield Static(self.body, id="confirm-body", markup=False)
            with Horizontal(id="confirm-buttons"):
                for choice in self.choices:
                    label = f"{choice.label} ({choice.key})" if choice.key else choice.label
                    yield Button(label, id=f"choice-{choice.value}", variant="error", compact=True)
                yield Button(f"{self.cancel_label} (n)", id="confirm-no", compact=True)
            keys = " · ".join(f"{c.key} {c.label}" for c in self.choices if c.key)
            yield Label(f"{keys} · n/esc: no".lstrip(" ·"), id="confirm-hint")

    def on_mount(self) -> None:
        self.query_one(f"#choice-{self.choices[0].value}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        self.dismiss(button.removeprefix("choice-") if button.startswith("choice-") else None)

    def on_key(self, event: events.Key) -> None:
        for choice in self.choices:
            if choice.key and event.character == choice.key:
                event.stop()
                self.dismiss(choice.value)
                return

    def action_confirm(self) -> None:
        self.dismiss(self.choices[0].value)

    def action_cancel(self) -> None:
        self.dismiss(None)
