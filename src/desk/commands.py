"""desk's command-palette provider: every keyboard action, findable by name (``ctrl+p``).

Commands depend on context: the symbols and timeframes come from the engine client and the
modes from those built, so the palette never offers something that cannot happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from desk.keymap import BUILT_MODES

if TYPE_CHECKING:
    from desk.app import DeskApp


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    name: str
    help: str
    run: Callable[[], object]


class DeskCommands(Provider):
    """Symbols, timeframes, modes, themes and help, by name."""

    def commands(self) -> Iterator[PaletteCommand]:
        """Every command, its help saying which choice is the current one."""
        app = cast("DeskApp", self.app)
        for symbol in app.client.symbols:
            text = f"Show {symbol} in market mode{_now(symbol == app.symbol)}"
            yield PaletteCommand(f"Symbol: {symbol}", text, _call(app.select_symbol, symbol))
        for tf in app.client.timeframes:
            text = f"Chart {tf} candles{_now(tf == app.timeframe)}"
            yield PaletteCommand(f"Timeframe: {tf}", text, _call(app.select_timeframe, tf))
        for mode in BUILT_MODES:
            text = f"Switch to the {mode} mode{_now(mode == app.current_mode)}"
            yield PaletteCommand(f"Mode: {mode}", text, _call(app.run_action, f"mode('{mode}')"))
        for theme in app.desk_theme_names:
            text = f"Switch colours{_now(theme == app.theme)}"
            yield PaletteCommand(f"Theme: {theme}", text, _call(app.select_theme, theme))
        yield PaletteCommand("Help: keys", "Every binding, its id and key", app.action_help)

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)


def _call(function: Callable[[str], object], argument: str) -> Callable[[], object]:
    """A zero-argument callback, bound now (a lambda in a loop would bind late)."""

    def run() -> object:
        return function(argument)

    return run


def _now(current: bool) -> str:
    return " (current)" if current else ""
