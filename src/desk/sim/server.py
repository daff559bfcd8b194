"""Running the simulator as a server (``desk sim-server``) or in-process (``desk --sim``).

    async def main() -> None:
        await serve(SimulatorConfig(port=8443), ready=lambda urls: print(urls["okx.ws_public"]))

``SimServer`` is the start/stop handle of one simulator per venue (OKX, Binance, Coinbase),
each on its own port: ``config.port`` for OKX and the next two for Binance and Coinbase (all
ephemeral when ``port`` is 0). With more than one venue their synthetic markets follow one
shared fair price (``desk.sim.fair``), each with its own book and its own deviation, so
cross-venue spreads exist and sometimes cross. ``serve`` runs one until it is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from desk.sim.config import SimulatorConfig
from desk.sim.fair import SharedFair
from desk.sim.okx.simulator import OkxSimulator

VENUES = ("okx", "binance", "coinbase")


def sim_urls(sim: OkxSimulator) -> dict[str, str]:
    """``{"ws_public": "ws://127.0.0.1:PORT/ws/v5/public", "ws_business": ..., "rest": ...}``."""
    return sim.urls()


class SimServer:
    """Owns one simulator per venue in ``venues``; ``options`` go to the OKX simulator.

    ``okx`` is always there (the primary venue); ``binance`` / ``coinbase`` are None unless
    asked for. ``simulators`` maps each venue to its simulator, in ``VENUES`` order.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        venues: Iterable[str] = ("okx",),
        **options: Any,
    ) -> None:
        wanted = set(venues) | {"okx"}
        unknown = wanted - set(VENUES)
        if unknown:
            raise ValueError(f"unknown simulator venue(s) {sorted(unknown)} (one of {VENUES})")
        self.config = config
        shared = SharedFair(config.seed) if len(wanted) > 1 else None
        self.okx = OkxSimulator(config, fair=shared, **options)
        self.binance: Any = None
        self.coinbase: Any = None
        if "binance" in wanted:
            from desk.sim.binance.simulator import BinanceSimulator

            self.binance = BinanceSimulator(self._port(1), firehose=config.firehose, fair=shared)
        if "coinbase" in wanted:
            from desk.sim.coinbase.simulator import CoinbaseSimulator

            self.coinbase = CoinbaseSimulator(self._port(2), fair=shared)
        self.simulators: dict[str, Any] = {
            venue: sim for venue in VENUES if (sim := getattr(self, venue)) is not None
        }
        self._started: list[Any] = []

    def _port(self, offset: int) -> SimulatorConfig:
        port = self.config.port + offset if self.config.port else 0
        return msgspec.structs.replace(self.config, port=port)

    async def start(self) -> dict[str, str]:
        """Bind and start every venue; the OKX URL dict (real ports when ``port`` was 0).

        A venue that fails to start stops the ones already started, then the error is raised.
        """
        try:
            for sim in self.simulators.values():
                await sim.start()
                self._started.append(sim)
        except BaseException:
            await self.stop()
            raise
        return self.urls()

    async def stop(self) -> None:
        started, self._started = self._started, []
        for sim in reversed(started):
            await sim.stop()

    def urls(self) -> dict[str, str]:
        """OKX's URLs (``ws_public``, ``ws_business``, ``rest``), as before venues."""
        return sim_urls(self.okx)

    def venue_urls(self) -> dict[str, dict[str, str]]:
        """Every venue's URLs: ``{"okx": {...}, "binance": {"ws":..., "rest":...}, ...}``."""
        return {venue: sim.urls() for venue, sim in self.simulators.items()}

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def describe_urls(server: SimServer) -> list[str]:
    """The lines ``desk sim-server`` prints when ready: each venue's endpoints."""
    okx = server.okx
    lines = [
        f"OKX public WebSocket: {okx.ws_public_url}",
        f"OKX business WebSocket: {okx.ws_business_url}",
        f"OKX private WebSocket: {okx.ws_private_url}",
        f"OKX REST: {okx.rest_url}",
    ]
    if server.binance is not None:
        lines.append(f"Binance WebSocket (streams): {server.binance.ws_url}")
        lines.append(f"Binance REST: {server.binance.rest_url}")
    if server.coinbase is not None:
        lines.append(f"Coinbase WebSocket: {server.coinbase.ws_url}")
        lines.append(f"Coinbase REST: {server.coinbase.rest_url}")
    return lines


async def serve(
    config: SimulatorConfig,
    ready: Callable[[dict[str, str]], None] | None = None,
    venues: Iterable[str] = ("okx",),
) -> None:
    """Run the simulator until cancelled; ``ready`` gets OKX's URL dict once it listens."""
    server = SimServer(config, venues=venues)
    try:
        urls = await server.start()
        if ready is not None:
            ready(urls)
        await asyncio.Event().wait()
    finally:
        await server.stop()
