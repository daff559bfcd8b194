"""Modal forms: a bot's parameters, a new bot, and a one-line text prompt.

A form sends its command through the ``send`` the App hands it (the App's own command path,
which notifies an acceptance) and waits for the engine's answer: accepted closes it
(with a short notification), refused keeps it open with the engine's reason shown in the form,
so a person can correct the value and submit again. ``ctrl+s`` or ``enter`` in a field submits,
``escape`` cancels.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select

from desk.bridge.views import BotView, StrategyInfo
from desk.core.commands import AddBot, Command, CommandAck, SetBotParams
from desk.screens.base import bindings

SendCommand = Callable[[Command], Awaitable[CommandAck]]


def format_value(value: Any) -> str:
    """A parameter as a person edits it: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def parse_value(text: str, current: Any = None) -> Any:
    """A typed value: JSON (numbers, true/false, lists, objects), Python's True/False, or the
    text itself. An int typed for a float parameter stays a float; a string parameter takes
    the text as typed."""
    text = text.strip()
    if isinstance(current, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class CommandForm(ModalScreen[bool]):
    """A modal that builds one command, sends it, and closes only when it was accepted.

    ``send`` delivers a command and returns the engine's answer (the App hands it down)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("form")
    TITLE = ""

    def __init__(self, send: SendCommand) -> None:
        super().__init__()
        self._send = send
        self.error = Label("", id="form-error")
        self.last_ack: CommandAck | None = None

    def build(self) -> Command | str:
        """The command from the fields, or why the fields cannot make one."""
        raise NotImplementedError

    def show_error(self, reason: str) -> None:
        self.error.update(reason)
        self.error.display = bool(reason)

    async def action_submit(self) -> None:
        built = self.build()
        if isinstance(built, str):
            self.show_error(built)
            return
        ack = await self._send(built)
        self.last_ack = ack
        if ack.accepted:
            self.dismiss(True)
        else:
            self.show_error(f"refused: {ack.reason}")

    def action_cancel(self) -> None:
        self.dismiss(False)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.action_submit()

    def hint(self) -> Label:
        return Label("enter or ctrl+s submits · esc cancels", classes="form-hint")


class ParamsForm(CommandForm):
    """One input per strategy parameter, prefilled with the bot's current values."""

    def __init__(self, bot: BotView, send: SendCommand) -> None:
        super().__init__(send)
        self.bot = bot
        self.names = list(bot.params)

    def compose(self) -> ComposeResult:
        bot = self.bot
        with Vertical(classes="form-panel") as panel:
            panel.border_title = f"params · {bot.bot_id}"
            panel.border_subtitle = bot.strategy
            with Grid(classes="form-grid"):
                for index, name in enumerate(self.names):
                    yield Label(name, classes="form-label")
                    yield Input(format_value(bot.params[name]), id=f"param-{index}", compact=True)
            yield Label(
                f"min strength {bot.min_strength:g} · cooldown {bot.cooldown_s:g}s · "
                f"confirm {bot.confirm_bars} bar(s) (set in the bot's config)",
                classes="form-note",
            )
            yield self.error
            yield self.hint()

    def on_mount(self) -> None:
        self.show_error("")
        if self.names:
            self.query_one("#param-0", Input).focus()

    def field(self, name: str) -> Input:
        """The input of one parameter (tests type into it)."""
        return self.query_one(f"#param-{self.names.index(name)}", Input)

    def build(self) -> Command | str:
        changed = {}
        for name in self.names:
            current = self.bot.params[name]
            value = parse_value(self.field(name).value, current)
            if value != current:
                changed[name] = value
        if not changed:
            return "nothing changed"
        return SetBotParams(bot_id=self.bot.bot_id, params=changed)


class NewBotForm(CommandForm):
    """A new bot: id, strategy (its defaults shown and prefilled), market, size, params."""

    def __init__(
        self,
        strategies: list[StrategyInfo],
        symbols: tuple[str, ...],
        timeframes: tuple[str, ...],
        send: SendCommand,
    ) -> None:
        super().__init__(send)
        self.strategies = {info.name: info for info in strategies}
        self.symbols, self.timeframes = symbols, timeframes

    def compose(self) -> ComposeResult:
        first = next(iter(self.strategies), "")
        with Vertical(classes="form-panel") as panel:
            panel.border_title = "new bot"
            with Grid(classes="form-grid"):
                yield Label("id", classes="form-label")
                yield Input(placeholder="letters, digits, - or _", id="new-id", compact=True)
                yield Label("strategy", classes="form-label")
                yield Select(
                    [(name, name) for name in self.strategies],
                    value=first,
                    allow_blank=False,
                    id="new-strategy",
                    compact=True,
                )
                yield Label("symbol", classes="form-label")
                yield Select(
                    [(s, s) for s in self.symbols],
                    value=self.symbols[0],
                    allow_blank=False,
                    id="new-symbol",
                    compact=True,
                )
                yield Label("timeframe", classes="form-label")
                yield Select(
                    [(t, t) for t in self.timeframes],
                    value=self.timeframes[0],
                    allow_blank=False,
                    id="new-timeframe",
                    compact=True,
                )
                yield Label("size", classes="form-label")
                yield Input("0.01", id="new-size", compact=True)
                yield Label("params", classes="form-label")
                yield Input(self._defaults_json(first), id="new-params", compact=True)
                yield Label("start", classes="form-label")
                yield Checkbox("start at once", value=True, id="new-start", compact=True)
            yield Label(self._doc(first), id="new-doc", classes="form-note")
            yield self.error
            yield self.hint()

    def on_mount(self) -> None:
        self.show_error("")
        self.query_one("#new-id", Input).focus()

    def _defaults_json(self, strategy: str) -> str:
        info = self.strategies.get(strategy)
        return json.dumps(info.defaults) if info is not None else "{}"

    def _doc(self, strategy: str) -> str:
        info = self.strategies.get(strategy)
        if info is None:
            return ""
        return f"{info.doc}  defaults: {json.dumps(info.defaults)}"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "new-strategy" and isinstance(event.value, str):
            self.query_one("#new-params", Input).value = self._defaults_json(event.value)
            self.query_one("#new-doc", Label).update(self._doc(event.value))

    def build(self) -> Command | str:
        size_text = self.query_one("#new-size", Input).value
        try:
            size = float(size_text)
        except ValueError:
            return f"size: {size_text!r} is not a number"
        params_text = self.query_one("#new-params", Input).value.strip() or "{}"
        try:
            params = json.loads(params_text)
        except ValueError as error:
            return f"params: not JSON ({error})"
        if not isinstance(params, dict):
            return 'params: must be a JSON object, like {"fast": 5}'
        config = {
            "bot_id": self.query_one("#new-id", Input).value.strip(),
            "strategy": self.query_one("#new-strategy", Select).value,
            "symbol": self.query_one("#new-symbol", Select).value,
            "timeframe": self.query_one("#new-timeframe", Select).value,
            "size": size,
            "params": params,
        }
        return AddBot(config=config, start=self.query_one("#new-start", Checkbox).value)


class TextPrompt(ModalScreen[str | None]):
    """One line of text (the signals filter); enter answers it, escape leaves it as it was."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("form")

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text, self.value, self.placeholder = title, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-panel prompt-panel") as panel:
            panel.border_title = self.title_text
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input", compact=True)
            yield Label("enter applies (empty clears) · esc cancels", classes="form-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_submit(self) -> None:
        self.dismiss(self.query_one(Input).value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()
