"""The header on every screen: trading mode, risk state, selection, feed state, alerts, clock.

The mode is the one thing a trader must never misread, so each mode has its own colour and
LIVE paints the whole bar in $mode-live with a spelled-out warning. A HALTED or REDUCING desk
says so right after the mode, on every screen, and a state brought back from the last run says
that too ("HALTED (restored: <reason>)"): after a restart nothing trades until an operator
resumes, and the header is where they see why. Labels are only updated when their text
changes, which at 10 Hz means about once a second (the clock).
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from desk.bridge.views import HealthView
from desk.core.enums import Mode
from desk.widgets.formatting import NS

MODE_TEXT = {
    Mode.SIM: " SIM ",
    Mode.PAPER: " PAPER ",
    Mode.LIVE: " ⚠ LIVE · REAL ORDERS ",
}

RISK_REASON_CHARS = 40
"""A restored state's reason is cut to this in the header (the trading mode shows it whole)."""


class DeskHeader(Horizontal):
    """One line: brand, mode badge, symbol · timeframe, feed state, alerts, clock."""

    DEFAULT_CSS = """
    DeskHeader { height: 1; }
    DeskHeader > Label { width: auto; }
    DeskHeader > #header-spacer { width: 1fr; }
    DeskHeader > #header-control.-read-only { color: $warning; text-style: bold; }
    DeskHeader > #header-risk.-halted { background: $error; color: $text; text-style: bold; }
    DeskHeader > #header-risk.-reducing { background: $warning; color: $text; text-style: bold; }
    """

    def __init__(self, screen_title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.screen_title = screen_title
        self.mode: Mode | None = None
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Label(" desk ", id="header-brand")
        yield Label("", id="header-mode")
        yield Label("", id="header-risk")
        yield Label("", id="header-control")
        yield Label(f" {self.screen_title} ", id="header-title")
        yield Label("", id="header-market")
        yield Label("", id="header-feed")
        yield Label("", id="header-alert")
        yield Label("", id="header-spacer")
        yield Label("", id="header-clock")

    def show(
        self,
        mode: Mode,
        market: str,
        feed: tuple[str, str],
        alert: str,
        now_ns: int,
        control: str = "",
        risk: tuple[str, str] = ("", ""),
    ) -> None:
        """Bring every label up to date; a label whose text is unchanged is not touched.

        ``feed`` is (text, state) with state one of ok / degraded / down. ``control`` is an
        attached UI's control-lease status ("CONTROL", "READ-ONLY (held by ...)"), empty when
        the engine runs in this process. ``risk`` is (text, state) from :func:`risk_badge`.
        """
        text, state = risk
        if self._set("header-risk", text):
            label = self.query_one("#header-risk", Label)
            for name in ("halted", "reducing"):
                label.set_class(name == state, f"-{name}")
        if self._set("header-control", f" {control} " if control else ""):
            self.query_one("#header-control", Label).set_class(
                control.startswith("READ-ONLY"), "-read-only"
            )
        if mode != self.mode:
            self.mode = mode
            for each in Mode:
                self.set_class(each is mode, f"-{each.value}")
            self._set("header-mode", MODE_TEXT[mode])
        self._set("header-market", f" {market} ")
        text, state = feed
        if self._set("header-feed", text):
            label = self.query_one("#header-feed", Label)
            for name in ("ok", "degraded", "down"):
                label.set_class(name == state, f"-{name}")
        if self._set("header-alert", alert):
            self.query_one("#header-alert", Label).set_class(bool(alert), "-active")
        self._set("header-clock", clock_text(now_ns, with_date=self.size.width >= 100))

    def text_of(self, label_id: str) -> str:
        """What a label currently says (tests read the header through this)."""
        return self._texts.get(label_id, "")

    def _set(self, label_id: str, text: str) -> bool:
        """Update one label; a same-length change (the clock ticking) skips the re-layout."""
        old = self._texts.get(label_id)
        if old == text:
            return False
        self._texts[label_id] = text
        same_width = old is not None and len(old) == len(text)
        self.query_one(f"#{label_id}", Label).update(text, layout=not same_width)
        return True


def risk_badge(health: HealthView | None) -> tuple[str, str]:
    """(' HALTED (restored: daily loss) ', 'halted'); ('', '') while trading is ACTIVE."""
    if health is None:
        return "", ""
    state = health.risk_state.lower()
    if state not in ("halted", "reducing"):
        return "", ""
    text = state.upper()
    if health.risk_restored:
        reason = health.risk_reason or "no reason stored"
        if len(reason) > RISK_REASON_CHARS:
            reason = reason[: RISK_REASON_CHARS - 1] + "…"
        text = f"{text} (restored: {reason})"
    return f" {text} ", state


MODEL_ALERT_CHARS = 48


def model_alert(health: HealthView | None) -> str:
    """A header badge while a live model has warnings: ' MODEL up@ab12: drift … (+2) '."""
    warnings = health.model_warnings if health is not None else []
    if not warnings:
        return ""
    first = warnings[0]
    if len(first) > MODEL_ALERT_CHARS:
        first = first[: MODEL_ALERT_CHARS - 1] + "…"
    more = f" (+{len(warnings) - 1})" if len(warnings) > 1 else ""
    return f" MODEL {first}{more} "


def clock_text(now_ns: int, with_date: bool = True) -> str:
    """UTC wall time; the date only where the header has room for it."""
    pattern = " %Y-%m-%d %H:%M:%S UTC " if with_date else " %H:%M:%S UTC "
    return time.strftime(pattern, time.gmtime(now_ns // NS))
