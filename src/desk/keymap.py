"""Every key binding of the desk UI, by id, and the remapping a config's ``ui.keys`` asks for.

This module is plain Python (no Textual) so the binding table can be validated, listed and
tested without a terminal. The UI turns each ``BindingSpec`` into a Textual ``Binding`` carrying
the same id, which is what lets ``App.set_keymap`` remap it. A remap naming an id desk does not
have is refused with that id in the message, before the UI starts, so a typo in a config never
silently leaves a key unbound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Modes in the order of their number keys (DESIGN.md section 6).
MODE_ORDER = ("market", "trading", "bots", "signals", "health", "backtest", "logs")

_KEY_RE = re.compile(r"^(?:(?:ctrl|shift|alt|meta|super|hyper)\+)*(?:[a-z0-9_]+|.)$")


class UiConfigError(ValueError):
    """The ``ui`` section of a config was refused; the message names the key and the reason."""


class KeymapError(UiConfigError):
    """``ui.keys`` was refused; the message names the offending binding id or key."""


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """One binding: ``scope`` says where it is active ("app", a screen's scope, "form", "help")."""

    id: str
    key: str
    action: str
    description: str
    scope: str = "app"
    show: bool = True
    priority: bool = False


def _mode_specs() -> tuple[BindingSpec, ...]:
    return tuple(
        BindingSpec(f"mode_{name}", str(number), f"mode('{name}')", name.capitalize())
        for number, name in enumerate(MODE_ORDER, start=1)
    )


BINDINGS: tuple[BindingSpec, ...] = (
    *_mode_specs(),
    BindingSpec("help", "question_mark", "help", "Help"),
    BindingSpec("quit", "q", "quit", "Quit"),
    BindingSpec(
        "command_palette", "ctrl+p", "command_palette", "Commands", show=False, priority=True
    ),
    BindingSpec("cycle_theme", "ctrl+t", "cycle_theme", "Theme", show=False),
    # halt, from every mode: "!", and ctrl+x while typing in a field (a field keeps printable
    # keys to itself). Both reach a terminal over SSH unchanged, unlike ctrl+h (backspace).
    BindingSpec("halt", "exclamation_mark,ctrl+x", "halt", "HALT", priority=True),
    BindingSpec("next_symbol", "s", "app.next_symbol", "Symbol", scope="market"),
    BindingSpec("prev_symbol", "S", "app.prev_symbol", "Prev symbol", "market", show=False),
    BindingSpec("next_timeframe", "t", "app.next_timeframe", "Timeframe", scope="market"),
    BindingSpec(
        "prev_timeframe", "T", "app.prev_timeframe", "Prev timeframe", "market", show=False
    ),
    # market mode: one venue's book or all merged; the cross-venue view (pushed over it)
    BindingSpec("market_venue", "v", "cycle_venue", "Venue", scope="market"),
    BindingSpec("market_cross_venue", "x", "cross_venue", "Cross-venue", scope="market"),
    BindingSpec("cross_venue_close", "escape", "close", "Back", scope="cross_venue"),
    BindingSpec("cross_venue_next_symbol", "s", "app.next_symbol", "Symbol", "cross_venue"),
    BindingSpec(
        "cross_venue_prev_symbol", "S", "app.prev_symbol", "Prev symbol", "cross_venue", False
    ),
    # bots mode: commands for the selected bot
    BindingSpec("bot_detail", "d", "open_detail", "Detail", scope="bots"),
    BindingSpec("bot_start", "g", "bot('start')", "Start", scope="bots"),
    BindingSpec("bot_stop", "x", "bot('stop')", "Stop", scope="bots"),
    BindingSpec("bot_pause", "p", "bot('pause')", "Pause", scope="bots"),
    BindingSpec("bot_resume", "r", "bot('resume')", "Resume", scope="bots"),
    BindingSpec("bot_manual", "m", "bot('manual')", "Manual", scope="bots"),
    BindingSpec("bot_edit", "e", "edit_params", "Params", scope="bots"),
    BindingSpec("bot_new", "n", "new_bot", "New", scope="bots"),
    # one bot's detail (pushed over the bots mode)
    BindingSpec("detail_close", "escape", "close_detail", "Back", scope="bot_detail"),
    BindingSpec("detail_edit", "e", "edit_params", "Params", scope="bot_detail"),
    # signals mode: filters of the signal stream
    BindingSpec("signals_fate", "f", "cycle_fate", "Fate filter", scope="signals"),
    BindingSpec("signals_text", "slash", "text_filter", "Find", scope="signals"),
    BindingSpec("signals_bot", "b", "bot_filter", "Bot filter", scope="signals"),
    BindingSpec("signals_models", "m", "models", "Models", scope="signals"),
    # the live models' health (pushed over the signals mode)
    BindingSpec("models_close", "escape", "close_models", "Back", scope="models"),
    # backtest mode: the form runs (enter in a field, or ctrl+r anywhere), the rest act on results
    BindingSpec("backtest_run", "ctrl+r", "run", "Run", scope="backtest"),
    BindingSpec("backtest_results", "escape", "results", "Results", scope="backtest"),
    BindingSpec("backtest_form", "f", "form", "Form", scope="backtest", show=False),
    BindingSpec("backtest_cancel", "c", "cancel_run", "Cancel", scope="backtest"),
    BindingSpec("backtest_apply", "a", "apply", "Apply to bot", scope="backtest"),
    # logs mode: find, filter by level and source, follow new lines
    BindingSpec("logs_find", "slash", "find", "Find", scope="logs"),
    BindingSpec("logs_level", "l", "cycle_level", "Level", scope="logs"),
    BindingSpec("logs_source", "o", "source_filter", "Source", scope="logs"),
    BindingSpec("logs_follow", "f", "toggle_follow", "Follow", scope="logs"),
    BindingSpec("logs_clear", "escape", "clear_filters", "Clear filters", scope="logs"),
    # forms (new bot, parameters, text filter)
    BindingSpec("form_submit", "ctrl+s", "submit", "Submit", scope="form"),
    BindingSpec("form_cancel", "escape", "cancel", "Cancel", scope="form"),
    BindingSpec("close_help", "escape", "dismiss", "Close", scope="help"),
    # trading mode: the ticket, the open orders and the dangerous buttons
    BindingSpec("trading_next_symbol", "s", "app.next_symbol", "Symbol", "trading", show=False),
    BindingSpec(
        "trading_prev_symbol", "S", "app.prev_symbol", "Prev symbol", "trading", show=False
    ),
    BindingSpec("trading_buy", "b", "side('buy')", "Buy", scope="trading", show=False),
    BindingSpec("trading_sell", "v", "side('sell')", "Sell", scope="trading", show=False),
    BindingSpec("trading_new", "n", "new_order", "New order", "trading", show=False),
    BindingSpec("trading_leave", "escape", "leave_ticket", "Orders", "trading", show=False),
    BindingSpec("trading_cancel", "c", "cancel_selected", "Cancel", scope="trading"),
    BindingSpec("trading_cancel_all", "C", "cancel_all", "Cancel all", scope="trading"),
    BindingSpec("trading_flatten", "F", "flatten", "Flatten", scope="trading"),
    BindingSpec("trading_resume", "R", "resume", "Resume trading", scope="trading", show=False),
    BindingSpec(
        "trading_accept_recon", "A", "accept_reconciliation", "Accept venue", "trading", False
    ),
    BindingSpec("trading_confirm_live", "L", "confirm_live", "Confirm live", "trading", False),
    # confirmation modals (cancel all, flatten, halt, live orders)
    BindingSpec("confirm_yes", "y", "confirm", "Yes", scope="confirm"),
    BindingSpec("confirm_no", "n,escape", "cancel", "No", scope="confirm"),
)

_BY_ID = {spec.id: spec for spec in BINDINGS}


def specs_for(scope: str) -> tuple[BindingSpec, ...]:
    """The bindings active in one scope, in table order."""
    return tuple(spec for spec in BINDINGS if spec.scope == scope)


def resolve_keys(overrides: Mapping[str, str]) -> dict[str, str]:
    """Binding id -> key(s) after applying ``overrides`` (``ui.keys``); refuses bad remaps.

    Raises ``KeymapError`` for an unknown id (naming it), an empty or malformed key, or two
    bindings that would answer the same key in the same place.
    """
    for binding_id, keys in overrides.items():
        _check_override(binding_id, keys)
    resolved = {spec.id: spec.key for spec in BINDINGS}
    resolved.update({bid: _tidy(keys) for bid, keys in overrides.items()})
    _check_clashes(resolved)
    return resolved


def _check_override(binding_id: str, keys: str) -> None:
    if binding_id not in _BY_ID:
        raise KeymapError(f"ui.keys: {_unknown_reason(binding_id)}")
    parts = [part.strip() for part in str(keys).split(",")]
    if not all(parts):
        raise KeymapError(f"ui.keys.{binding_id}: empty key in {keys!r}")
    for part in parts:
        if not _KEY_RE.match(part if len(part) == 1 else part.lower()):
            raise KeymapError(f"ui.keys.{binding_id}: {part!r} is not a key name")


def _unknown_reason(binding_id: str) -> str:
    known = ", ".join(sorted(_BY_ID))
    return f"unknown binding id {binding_id!r} (known ids: {known})"


def _tidy(keys: str) -> str:
    return ",".join(part.strip() for part in str(keys).split(","))


def _canonical(key: str) -> str:
    """Single printable characters and their Textual names compare equal ('?' == question_mark)."""
    return _CHAR_NAMES.get(key, key)


_CHAR_NAMES = {
    "?": "question_mark",
    "[": "left_square_bracket",
    "]": "right_square_bracket",
    "+": "plus",
    "-": "minus",
    "/": "slash",
    "!": "exclamation_mark",
    " ": "space",
}


# Where each scope's keys are live: app keys answer on every mode screen and (some) in help;
# a screen's own keys only on that screen; form keys in the modal forms.
SCREEN_SCOPES = (
    "market",
    "trading",
    "health",
    "bots",
    "bot_detail",
    "signals",
    "models",
    "backtest",
    "logs",
    "cross_venue",
)
_AREAS: dict[str, tuple[str, ...]] = {
    "app": (*SCREEN_SCOPES, "help"),
    **{scope: (scope,) for scope in SCREEN_SCOPES},
    "form": ("form",),
    "confirm": ("confirm",),
    "help": ("help",),
}


def _check_clashes(resolved: Mapping[str, str]) -> None:
    """Two bindings live in the same place must not answer the same key."""
    owner: dict[tuple[str, str], str] = {}
    for spec in BINDINGS:
        for area in _AREAS[spec.scope]:
            for key in resolved[spec.id].split(","):
                slot = (area, _canonical(key))
                if slot in owner:
                    raise KeymapError(
                        f"ui.keys: key {key!r} is bound to both {owner[slot]!r} and {spec.id!r}"
                    )
                owner[slot] = spec.id


def display_key(keys: str) -> str:
    """A key list as a person reads it in the help screen ('question_mark' -> '?')."""
    names = {name: char for char, name in _CHAR_NAMES.items()}
    return ", ".join(names.get(key, key) for key in keys.split(","))
