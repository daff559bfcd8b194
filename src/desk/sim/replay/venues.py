"""Every venue of a recording, each served by its own replay server.

``recorded_venues(path, start_ns, end_ns)`` says which venues have market frames under
``path`` and their instruments (desk names), reading three columns only. ``VenueReplays``
starts one server per venue asked (OKX: ``ReplayServer``, Binance: ``BinanceReplayServer``,
Coinbase: ``CoinbaseReplayServer``), all on the same ``ReplayConfig`` (path, speed, range;
``symbols`` filters every venue), and stops them together. Each venue keeps its own wire
protocol, so each venue's unchanged feed runs on its own recorded frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.files import list_files, read_tables
from desk.sim.replay.timeline import recorded_symbols

VENUES = ("okx", "binance", "coinbase")
OTHER_VENUES = ("binance", "coinbase")


def recorded_venues(
    path: str | Path, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, tuple[str, ...]]:
    """``{"okx": ("BTC-USDT",), "binance": (...), ...}``: the venues with WebSocket frames
    under ``path`` in the range (OKX required: ``RecordingError`` from ``recorded_symbols``)."""
    import pyarrow.compute as pc

    found = {"okx": recorded_symbols(path, start_ns, end_ns)[0]}
    for venue in OTHER_VENUES:
        files = list_files(path, "raw", venue)
        if not files:
            continue
        table = read_tables(files, ("recv_ns", "stream", "symbol"), start_ns, end_ns).table
        if table is None:
            continue
        mask = pc.equal(table["stream"], "ws")
        if start_ns is not None:
            mask = pc.and_(mask, pc.greater_equal(table["recv_ns"], start_ns))
        if end_ns is not None:
            mask = pc.and_(mask, pc.less_equal(table["recv_ns"], end_ns))
        symbols = sorted(s for s in pc.unique(table.filter(mask)["symbol"]).to_pylist() if s)
        if symbols:
            found[venue] = tuple(symbols)
    return found


def _server(venue: str, config: ReplayConfig) -> Any:
    if venue == "binance":
        from desk.sim.replay.binance_server import BinanceReplayServer

        return BinanceReplayServer(config)
    if venue == "coinbase":
        from desk.sim.replay.coinbase_server import CoinbaseReplayServer

        return CoinbaseReplayServer(config)
    from desk.sim.replay.server import ReplayServer

    return ReplayServer(config)


class VenueReplays:
    """One replay server per venue (see the module docstring)."""

    def __init__(
        self,
        config: ReplayConfig,
        venues: tuple[str, ...],
        port_for: Callable[[str], int] | None = None,
    ) -> None:
        self.config = config
        self.port_for = port_for or (lambda venue: 0)
        self.venues = tuple(v for v in VENUES if v in venues)
        self.servers: dict[str, Any] = {}
        self.finished_listeners: list[Callable[[str, int], None]] = []

    async def start(self) -> dict[str, dict[str, str]]:
        """Read each venue's frames and bind its server; each venue's URLs."""
        urls = {}
        for venue in self.venues:
            config = msgspec.structs.replace(self.config, port=self.port_for(venue))
            server = _server(venue, config)
            urls[venue] = await server.start()
            self.servers[venue] = server
            server.finished_listeners.append(lambda n, v=venue: self._finished(v, n))
        return urls

    def _finished(self, venue: str, frames: int) -> None:
        for listener in self.finished_listeners:
            listener(venue, frames)

    async def wait_finished(self) -> None:
        await asyncio.gather(*(s.finished.wait() for s in self.servers.values()))

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()


def replay_exchanges(
    exchanges: Any, replay: ReplayConfig, venues: dict[str, tuple[str, ...]] | None = None
) -> Any:
    """``exchanges`` (the desk's ``ExchangesConfig``) for a replay: every venue's old exchange
    times accepted, and Binance and Coinbase enabled on exactly their recorded instruments
    (``replay.symbols`` filters them; a venue left with none is off). ``venues`` defaults to
    ``recorded_venues`` of the replay's path and range."""
    if venues is None:
        venues = recorded_venues(replay.path, replay.start_ns or None, replay.end_ns or None)
    changes = {}
    for venue in ("okx", *OTHER_VENUES):
        section = getattr(exchanges, venue)
        validation = msgspec.structs.replace(section.validation, max_clock_skew=0.0)
        fields: dict[str, Any] = {"validation": validation}
        if venue in OTHER_VENUES:
            symbols = tuple(
                s for s in venues.get(venue, ()) if not replay.symbols or s in replay.symbols
            )
            fields.update(enabled=bool(symbols), symbols=symbols or section.symbols)
        changes[venue] = msgspec.structs.replace(section, **fields)
    return msgspec.structs.replace(exchanges, **changes)
