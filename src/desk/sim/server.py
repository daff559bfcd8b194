"""Running the simulator as a server (``desk sim-server``) or in-process (``desk --sim``).

    async def main() -> None:
        await serve(SimulatorConfig(port=8443), ready=lambda urls: print(urls["ws_public"]))

``SimServer`` is the start/stop handle; ``serve`` runs one until it is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from desk.sim.config import SimulatorConfig
from desk.sim.okx.simulator import OkxSimulator


def sim_urls(sim: OkxSimulator) -> dict[str, str]:
    """``{"ws_public": "ws://127.0.0.1:PORT/ws/v5/public", "ws_business": ..., "rest": ...}``."""
    return sim.urls()


class SimServer:
    """Owns one ``OkxSimulator``; extra keyword arguments go to its constructor."""

    def __init__(self, config: SimulatorConfig, **options: Any) -> None:
        self.config = config
        self.okx = OkxSimulator(config, **options)
        self._started = False

    async def start(self) -> dict[str, str]:
        """Bind and start; returns the URL dict (with the real port when ``port`` was 0)."""
        await self.okx.start()
        self._started = True
        return self.urls()

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.okx.stop()

    def urls(self) -> dict[str, str]:
        return sim_urls(self.okx)

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(
    config: SimulatorConfig, ready: Callable[[dict[str, str]], None] | None = None
) -> None:
    """Run the simulator until cancelled; ``ready`` gets the URL dict once it listens."""
    server = SimServer(config)
    try:
        urls = await server.start()
        if ready is not None:
            ready(urls)
        await asyncio.Event().wait()
    finally:
        await server.stop()
