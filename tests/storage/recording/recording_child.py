"""A recording process for the crash test: an engine on the simulator with the recorder on,
running until it is killed. argv: the folder to work in."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from desk.engine.engine import Engine
from tests.storage.recording.support import sim_config


async def run(folder: Path) -> None:
    engine = Engine(sim_config(folder, flush_interval=0.3))
    await engine.start()
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1])))
