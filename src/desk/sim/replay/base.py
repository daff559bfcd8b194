"""``ReplayServerBase``: what the OKX, Binance and Coinbase replay servers share.

Each serves one recording through its venue's wire protocol; all three keep the players (one
per connection), set ``finished`` once every player has sent its whole recording, bind the
same way and stop the same way. The venue's paths, frames and REST answers stay in its own
module.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Generic, Self, TypeVar

from desk.sim.loopback import Closable, LoopbackSite
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.player import Player

TimelineT = TypeVar("TimelineT")
ConnT = TypeVar("ConnT", bound=Closable)


class ReplayServerBase(Generic[TimelineT, ConnT]):
    """Players, the finished event, the bound site and stop (see the module docstring)."""

    def __init__(self, config: ReplayConfig, timeline: TimelineT | None, conn_seed: str) -> None:
        self.config = config
        self.timeline = timeline
        self.players: list[Player] = []
        self.finished = asyncio.Event()
        self.finished_listeners: list[Callable[[int], None]] = []
        self.site = LoopbackSite(config.host, config.port, "the replay server")
        self._conns: set[ConnT] = set()
        self._conn_ids = random.Random(conn_seed)  # seeded: connection ids replay alike

    async def stop(self) -> None:
        for player in self.players:
            await player.stop()
        await self.site.close(self._conns, "replay stopping")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def port(self) -> int:
        return self.site.port

    @property
    def rest_url(self) -> str:
        return self.site.http_url

    @property
    def frames_sent(self) -> int:
        return sum(p.sent for p in self.players)

    def _next_conn_id(self) -> str:
        return f"{self._conn_ids.getrandbits(32):08x}"

    def _player_finished(self, player: Player) -> None:
        if all(p.finished for p in self.players):
            self.finished.set()
            for listener in self.finished_listeners:
                listener(self.frames_sent)


def no_count(frames: int, size: int) -> None:
    """The sim connection's sent-bytes hook; the replay counts per player instead."""
