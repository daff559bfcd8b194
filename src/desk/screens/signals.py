"""Signals mode: live indicators per symbol and timeframe, and every signal with its fate.

The stream is filtered in the engine (``EngineClient.signals``): ``f`` cycles the fate (all,
sent, filtered, failed, late, watched), ``/`` asks for text matched against bot, symbol,
strategy and reason, ``b`` narrows to the bot of the selected signal (or clears that). The
status line says what is shown out of how many: "37 of 412". ``m`` opens the model view
(:mod:`desk.screens.models`): the health of the live models behind the ``lstm`` bots, whose
predictions that came after their bar show here with the fate ``late``. A watcher's signals (the
spread watcher's: recorded, never traded) have the fate ``watched``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.widgets import Footer, Label

from desk.messages import RefreshRequested
from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.screens.forms import TextPrompt
from desk.screens.models import ModelsScreen
from desk.widgets.bot_tables import IndicatorTable, SignalsTable

FATES: tuple[str, ...] = ("", "sent", "filtered", "failed", "late", "watched")  # "" = all
SIGNALS_LIMIT = 200


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """What the stream shows: a fate prefix, a text, a bot ("" = any)."""

    fate: str = ""
    text: str = ""
    bot_id: str = ""

    def describe(self) -> str:
        parts = [f"fate {self.fate or 'all'}"]
        if self.bot_id:
            parts.append(f"bot {self.bot_id}")
        if self.text:
            parts.append(f"text “{self.text}”")
        return " · ".join(parts)


class SignalsScreen(DeskScreen):
    """Indicators on top, the filtered signal stream below."""

    MODE_TITLE = "signals"
    BINDINGS = bindings("signals")

    def __init__(self) -> None:
        super().__init__()
        self.filter = SignalFilter()
        self.shown = 0
        self.matched = 0
        self.total = 0
        self._indicators_key: tuple[object, ...] = ()
        self._signals_key: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield self.header
        yield IndicatorTable(id="indicators")
        yield Label("", id="signals-status")
        yield SignalsTable(id="signals-table", cursor=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.indicators = self.query_one(IndicatorTable)
        self.stream = self.query_one(SignalsTable)
        self.status = self.query_one("#signals-status", Label)
        self.indicators.border_title = "indicators"
        self.stream.focus()

    def sample_body(self, ctx: RefreshContext) -> None:
        client = ctx.client
        indicators = client.indicators()
        key = (indicators.version, self.indicators.style_epoch)
        if key != self._indicators_key:
            self._indicators_key = key
            self.indicators.show_rows(indicators.rows)
        f = self.filter
        view = client.signals(
            bot_id=f.bot_id or None, fate=f.fate or None, text=f.text, limit=SIGNALS_LIMIT
        )
        key = (view.version, f, self.stream.style_epoch)
        if key == self._signals_key:
            return
        self._signals_key = key
        self.total = client.signals(limit=1).total
        self.shown, self.matched = len(view.signals), view.total
        self.stream.show_signals(view.signals)
        self.status.update(self.count_text() + f"  ·  {f.describe()}")

    def count_text(self) -> str:
        """'37 of 412', and how many of those are listed when not all are."""
        text = f" {self.matched} of {self.total} signals"
        if self.shown < self.matched:
            text += f" (newest {self.shown})"
        return text

    def set_filter(self, **changes: str) -> None:
        """Change the filter (fate=, text=, bot_id=) and redraw at once."""
        self.filter = replace(self.filter, **changes)
        self.app.post_message(RefreshRequested())

    # -- actions ---------------------------------------------------------------------------

    def action_models(self) -> None:
        """The live models' health, over this mode (escape comes back)."""
        self.app.push_screen(ModelsScreen())

    def action_cycle_fate(self) -> None:
        index = FATES.index(self.filter.fate) if self.filter.fate in FATES else 0
        self.set_filter(fate=FATES[(index + 1) % len(FATES)])

    def action_text_filter(self) -> None:
        def apply(text: str | None) -> None:
            if text is not None:
                self.set_filter(text=text)

        self.app.push_screen(
            TextPrompt("find signals", self.filter.text, "bot, symbol, strategy or reason"),
            apply,
        )

    def action_bot_filter(self) -> None:
        if self.filter.bot_id:
            self.set_filter(bot_id="")
            return
        key = self.stream.selected_key()
        if key is None:
            self.notify("no signal selected", severity="warning")
            return
        bot_id = str(self.stream.cell_text(key, "bot"))
        self.set_filter(bot_id=bot_id)
