"""Bots mode: every bot's state, mode, position and PnL, and the keys that override them.

The cursor picks a bot; ``g`` / ``x`` start and stop it, ``p`` / ``r`` pause and resume its
orders, ``m`` takes it over by hand (signals recorded, not sent), ``e`` edits its parameters,
``n`` adds a bot and ``d`` (or enter) opens its detail. Every command's answer from the engine
is shown: a short notification when accepted, an error with the reason when refused. Below the
table, the selected bot's recent signals and their fate.

The keys ask the App through messages (``CommandRequested``, ``BotDetailRequested`` …): the
App sends, opens and notifies.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Label

from desk.bridge.views import BotsView, SignalsView
from desk.core.commands import (
    Command,
    PauseBot,
    ResumeBot,
    SetBotMode,
    StartBot,
    StopBot,
)
from desk.messages import (
    BotDetailRequested,
    CommandRequested,
    NewBotFormRequested,
    ParamsFormRequested,
)
from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.widgets.bot_tables import BotsTable, SignalsTable
from desk.widgets.formatting import NS

BOT_SIGNALS_LIMIT = 100

# What each bot key asks of the engine, by the verb its binding names.
VERBS: dict[str, str] = {
    "start": "Start the bot (it is fed candles again)",
    "stop": "Stop the bot (no candles, no signals)",
    "pause": "Pause the bot's orders (signals recorded, not sent)",
    "resume": "Resume automatic orders",
    "manual": "Take the bot over by hand (signals recorded, not sent)",
}


def bot_command(verb: str, bot_id: str) -> Command:
    """The command a bot key sends (``verb`` is one of ``VERBS``)."""
    if verb == "start":
        return StartBot(bot_id=bot_id)
    if verb == "stop":
        return StopBot(bot_id=bot_id)
    if verb == "pause":
        return PauseBot(bot_id=bot_id)
    if verb == "resume":
        return ResumeBot(bot_id=bot_id)
    if verb == "manual":
        return SetBotMode(bot_id=bot_id, mode="manual")
    raise ValueError(f"unknown bot verb {verb!r}")


class BotsScreen(DeskScreen):
    """The bots table and the selected bot's recent signals."""

    MODE_TITLE = "bots"
    BINDINGS = bindings("bots")

    def __init__(self) -> None:
        super().__init__()
        self.bots: BotsView | None = None
        self.signals: SignalsView | None = None
        self._bots_key: tuple[object, ...] = ()
        self._signals_key: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield self.header
        yield BotsTable(id="bots-table", cursor=True)
        yield Label("no bots yet — n adds one", id="bots-empty")
        yield SignalsTable(id="bot-signals")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table = self.query_one(BotsTable)
        self.bot_signals = self.query_one(SignalsTable)
        self.empty = self.query_one("#bots-empty", Label)
        self.table.border_title = "bots"
        self.bot_signals.border_title = "signals"
        self.table.focus()

    def selected_bot(self) -> str | None:
        """The bot under the cursor (what the bot keys act on)."""
        return self.table.selected_key()

    def select_bot(self, bot_id: str) -> None:
        """Move the cursor to ``bot_id`` (the palette and tests pick bots by id)."""
        for index, row in enumerate(self.table.ordered_rows):
            if row.key.value == bot_id:
                self.table.move_cursor(row=index)
                return

    def sample_body(self, ctx: RefreshContext) -> None:
        """Redraw the table for a new version (or once a second, for the signal ages)."""
        bots = ctx.client.bots()
        key = (bots.version, ctx.now_ns // NS, self.table.style_epoch)
        if key != self._bots_key:
            self._bots_key = key
            self.bots = bots
            self.table.show_bots(bots.bots, ctx.now_ns)
            running = sum(1 for bot in bots.bots if bot.state == "running")
            title = f"bots {len(bots.bots)} · {running} running"
            if self.table.border_title != title:
                self.table.border_title = title
            self.empty.display = not bots.bots
        self._sample_signals(ctx)

    def _sample_signals(self, ctx: RefreshContext) -> None:
        bot_id = self.selected_bot()
        if bot_id is None:
            return
        view = ctx.client.signals(bot_id=bot_id, limit=BOT_SIGNALS_LIMIT)
        key = (bot_id, view.version, self.bot_signals.style_epoch)
        if key == self._signals_key:
            return
        self._signals_key = key
        self.signals = view
        self.bot_signals.show_signals(view.signals)
        self.bot_signals.border_title = f"signals · {bot_id} · {view.total}"

    # -- actions ---------------------------------------------------------------------------

    def action_bot(self, verb: str) -> None:
        bot_id = self.selected_bot()
        if bot_id is None:
            self.notify("no bot selected", severity="warning")
            return
        self.post_message(CommandRequested(bot_command(verb, bot_id)))

    def action_open_detail(self) -> None:
        bot_id = self.selected_bot()
        if bot_id is not None:
            self.post_message(BotDetailRequested(bot_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a bot opens its detail."""
        if event.data_table is self.table:
            event.stop()
            self.action_open_detail()

    def action_edit_params(self) -> None:
        bot_id = self.selected_bot()
        if bot_id is not None:
            self.post_message(ParamsFormRequested(bot_id))

    def action_new_bot(self) -> None:
        self.post_message(NewBotFormRequested())
