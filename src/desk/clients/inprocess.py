"""EngineClient over an Engine in the same process: views are built from live objects on demand.

The views are :class:`~desk.engine.views.EngineViews` (each cached by the version of the state
it came from, so a UI polling at 10 Hz over an unchanged symbol costs a dict lookup, and the
engine never does per-tick work for the UI); this adds the engine's lifecycle and its commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desk.core.commands import Command, CommandAck
from desk.engine.views import EngineViews

if TYPE_CHECKING:
    from desk.engine.engine import Engine


class InProcessClient(EngineViews):
    """The default EngineClient: the engine runs in this process, on this event loop."""

    def __init__(self, engine: Engine, *, own_engine: bool = True) -> None:
        super().__init__(engine)
        self.engine: Engine = engine
        self._own_engine = own_engine

    async def start(self) -> None:
        if self._own_engine:
            await self.engine.start()

    async def stop(self) -> None:
        if self._own_engine:
            await self.engine.stop()

    # -- commands --------------------------------------------------------------------------

    async def execute(self, command: Command) -> CommandAck:
        return await self.engine.commands.execute(command)
