"""The parts of an engine its helpers use: a shape, so none of them imports the Engine class.

The command handler, the status line, the trading view, the views (:class:`EngineViews`) and the
Redis link are each handed the engine they serve; they see it as :class:`EngineParts`, which
:class:`~desk.engine.engine.Engine` (and every role engine) satisfies. ``engine.py`` imports
them, so they must not import it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from desk.config import DeskConfig
    from desk.core.bus import Bus
    from desk.core.commands import Command, CommandAck
    from desk.core.enums import Severity
    from desk.engine.bot_board import BotBoard
    from desk.engine.health import LoopLagMonitor, ProcessProbe
    from desk.engine.indicator_board import IndicatorBoard
    from desk.engine.instruments import InstrumentRegistry
    from desk.execution.service import ExecutionService
    from desk.feeds.manager import FeedManager
    from desk.market.candles import CandleAggregator
    from desk.market.instruments import Instrument
    from desk.signals.bot_manager import BotManager
    from desk.signals.bots import BotConfig
    from desk.storage.sqlite import SqliteStore


class CommandExecutor(Protocol):
    """The engine's one door for commands (:class:`~desk.engine.commands.CommandHandler`)."""

    async def execute(self, command: Command) -> CommandAck: ...


class EngineParts(Protocol):
    """What the engine's helpers read of it (see the module docstring)."""

    @property
    def config(self) -> DeskConfig: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def store(self) -> SqliteStore: ...

    @property
    def feeds(self) -> FeedManager | None: ...

    @property
    def candles(self) -> dict[str, CandleAggregator]: ...

    @property
    def venue_candles(self) -> dict[tuple[str, str], CandleAggregator]:
        """Every venue's candle aggregators, by (venue, symbol)."""
        ...

    @property
    def loop_lag(self) -> LoopLagMonitor: ...

    @property
    def process(self) -> ProcessProbe: ...

    @property
    def candles_closed(self) -> int: ...

    @property
    def started_ns(self) -> int: ...

    @property
    def bot_board(self) -> BotBoard: ...

    @property
    def indicators(self) -> IndicatorBoard: ...

    @property
    def instruments(self) -> dict[str, Instrument]: ...

    @property
    def instrument_registry(self) -> InstrumentRegistry | None: ...

    @property
    def execution(self) -> ExecutionService | None: ...

    @property
    def execution_error(self) -> str: ...

    @property
    def bots(self) -> BotManager: ...

    @property
    def commands(self) -> CommandExecutor: ...

    def emit(self, source: str, kind: str, message: str, severity: Severity = ...) -> None: ...

    def check_bot(self, config: BotConfig) -> None: ...

    def bot_pnl(self, bot_id: str) -> float: ...
