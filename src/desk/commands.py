"""desk's command-palette provider: every keyboard action, findable by name (``ctrl+p``).

Commands depend on context: the symbols and timeframes come from the engine client and the
modes from those built, so the palette never offers something that cannot happen. The palette
reads the App through ``DeskAppLike`` and asks it for bot commands, forms, details and signal
filters with the same messages the screens post (``desk.messages``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message

from desk.keymap import MODE_ORDER
from desk.messages import (
    BotDetailRequested,
    CommandRequested,
    LogsRequested,
    NewBotFormRequested,
    ParamsFormRequested,
    SignalsRequested,
)
from desk.screens.bots import VERBS, bot_command
from desk.screens.market import ALL_VENUES, open_cross_venue, show_venue
from desk.screens.signals import FATES
from desk.screens.trading import ask_cancel_all, ask_flatten, ask_halt, ask_resume, new_order

if TYPE_CHECKING:
    from textual.app import App

    from desk.screens.context import DeskAppLike


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    name: str
    help: str
    run: Callable[[], object]


class DeskCommands(Provider):
    """Symbols, timeframes, modes, themes, bots, signal filters and help, by name."""

    def commands(self) -> Iterator[PaletteCommand]:
        """Every command, its help saying which choice is the current one."""
        app = self.app
        desk = cast("DeskAppLike", app)
        for symbol in desk.client.symbols:
            text = f"Show {symbol} in market mode{_now(symbol == desk.symbol)}"
            yield PaletteCommand(f"Symbol: {symbol}", text, _call(desk.select_symbol, symbol))
        for tf in desk.client.timeframes:
            text = f"Chart {tf} candles{_now(tf == desk.timeframe)}"
            yield PaletteCommand(f"Timeframe: {tf}", text, _call(desk.select_timeframe, tf))
        for mode in MODE_ORDER:
            text = f"Switch to the {mode} mode{_now(mode == app.current_mode)}"
            yield PaletteCommand(f"Mode: {mode}", text, _call(app.run_action, f"mode('{mode}')"))
        for theme in desk.desk_theme_names:
            text = f"Switch colours{_now(theme == app.theme)}"
            yield PaletteCommand(f"Theme: {theme}", text, _call(desk.select_theme, theme))
        yield from _market_commands(app)
        yield from _bot_commands(app)
        yield from _signal_commands(app)
        yield from _trading_commands(app)
        yield from _logs_commands(app)
        yield PaletteCommand("Help: keys", "Every binding, its id and key", desk.action_help)

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)


def _bot_commands(app: App[Any]) -> Iterator[PaletteCommand]:
    """Per bot: the lifecycle commands, its parameters and its detail; and a new bot."""
    try:
        bots = cast("DeskAppLike", app).client.bots().bots
    except Exception:  # the palette must open even while the engine cannot answer
        bots = []
    for bot in bots:
        bot_id = bot.bot_id
        for verb, text in VERBS.items():
            command = bot_command(verb, bot_id)
            yield PaletteCommand(
                f"Bot: {verb} {bot_id}",
                f"{text} ({bot.state}/{bot.mode} now)",
                _post(app, CommandRequested, command),
            )
        yield PaletteCommand(
            f"Bot: edit params {bot_id}",
            f"Edit {bot.strategy}'s parameters",
            _post(app, ParamsFormRequested, bot_id),
        )
        yield PaletteCommand(
            f"Bot: detail {bot_id}",
            "Chart, indicators, signals and changes",
            _post(app, BotDetailRequested, bot_id),
        )
        yield PaletteCommand(
            f"Signals: bot {bot_id}",
            f"Only {bot_id}'s signals",
            _post(app, SignalsRequested, bot_id=bot_id),
        )
    yield PaletteCommand(
        "Bot: new bot", "Add a bot: strategy, market, size, params", _post(app, NewBotFormRequested)
    )


def _market_commands(app: App[Any]) -> Iterator[PaletteCommand]:
    """The ladder's venue (one, or all merged) and the cross-venue view."""
    venues = tuple(cast("DeskAppLike", app).client.venues)
    for venue in (*venues, ALL_VENUES) if len(venues) > 1 else venues:
        what = "every venue's book merged by price" if venue == ALL_VENUES else f"{venue}'s book"
        yield PaletteCommand(
            f"Market: venue {venue}",
            f"Show {what} in the ladder",
            _call_app(show_venue, app, venue),
        )
    yield PaletteCommand(
        "Market: cross-venue view",
        "Each venue's best bid/ask and the spread matrix after fees",
        _call(open_cross_venue, app),
    )


def _call_app(
    function: Callable[..., object], app: App[Any], argument: Any
) -> Callable[[], object]:
    """A zero-argument callback of ``function(app, argument)``, bound now."""

    def run() -> object:
        return function(app, argument)

    return run


def _signal_commands(app: App[Any]) -> Iterator[PaletteCommand]:
    for fate in FATES:
        name = fate or "all"
        yield PaletteCommand(
            f"Signals: fate {name}",
            f"Show {name} signals in the signals mode",
            _post(app, SignalsRequested, fate=fate),
        )
    yield PaletteCommand(
        "Signals: clear filters",
        "Every signal of every bot",
        _post(app, SignalsRequested, fate="", text="", bot_id=""),
    )


def _post(app: App[Any], message: type[Message], *args: Any, **kwargs: Any) -> Callable[[], object]:
    """A zero-argument callback that asks the App for something: it posts ``message`` made
    from the arguments when the command is chosen."""

    def run() -> object:
        return app.post_message(message(*args, **kwargs))

    return run


def _call(function: Callable[[Any], object], argument: Any) -> Callable[[], object]:
    """A zero-argument callback, bound now (a lambda in a loop would bind late)."""

    def run() -> object:
        return function(argument)

    return run


def _trading_commands(app: App[Any]) -> Iterator[PaletteCommand]:
    """Manual trading and the dangerous buttons (each asks for confirmation first)."""
    yield PaletteCommand("Trading: new order", "Open the order ticket", _call(new_order, app))
    yield PaletteCommand(
        "Trading: HALT", "Cancel all orders and block new ones (asks)", _call(ask_halt, app)
    )
    yield PaletteCommand(
        "Trading: flatten", "Close ALL positions at market (asks)", _call(ask_flatten, app)
    )
    yield PaletteCommand(
        "Trading: cancel all", "Cancel every open order (asks)", _call(ask_cancel_all, app)
    )
    yield PaletteCommand("Trading: resume trading", "Leave HALTED (asks)", _call(ask_resume, app))


def _logs_commands(app: App[Any]) -> Iterator[PaletteCommand]:
    """The logs mode's filters: a minimum level, the system events only, none."""
    for level in ("INFO", "WARNING", "ERROR"):
        yield PaletteCommand(
            f"Logs: level {level}",
            f"Show log lines and events at {level} and above",
            _post(app, LogsRequested, level=level),
        )
    yield PaletteCommand(
        "Logs: system events", "Only the system events", _post(app, LogsRequested, source="events")
    )
    yield PaletteCommand(
        "Logs: clear filters",
        "Every line of the log and every event",
        _post(app, LogsRequested, level="DEBUG", source="", text=""),
    )


def _now(current: bool) -> str:
    return " (current)" if current else ""
