"""One connection's replay: the recorded pushes of its subscriptions, paced by ``recv_ns``.

Speed ``s`` sends frame ``i`` at ``first + (recv_ns[i] - recv_ns[first]) / s`` seconds after
the replay began; speed 0 (``max``) sends as fast as the connection drains, yielding to the
event loop every ``YIELD_EVERY`` frames and whenever the send queue holds ``HIGH_WATER`` frames,
so a fast replay never overflows the queue (which would close the connection with 4005). When
the recording ends the connection stays open and idle (``ping`` is still answered): a desk on
it keeps its last books and candles on screen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Hashable, Sequence
from typing import Protocol

from desk.sim.okx.conn import Connection

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
YIELD_EVERY = 256
HIGH_WATER = 2_000
DRAIN_POLL = 0.001


class Frames(Protocol):
    """What a player reads: parallel lists, one entry per frame, in replay order."""

    @property
    def recv_ns(self) -> Sequence[int]: ...
    @property
    def keys(self) -> Sequence[Hashable]: ...
    @property
    def payloads(self) -> Sequence[bytes]: ...


class Player:
    """Pushes ``timeline`` to ``conn`` (see the module docstring).

    ``subscribed``: the stream keys this connection wants (default ``conn.subscriptions``);
    ``rewrite``: applied to each frame just before it is sent (Coinbase numbers each
    connection's messages itself); ``start``: the index of the first frame to play.
    """

    def __init__(
        self,
        conn: Connection,
        timeline: Frames,
        speed: float,
        on_finished: Callable[[Player], None],
        *,
        subscribed: Container[Hashable] | None = None,
        rewrite: Callable[[bytes], bytes] | None = None,
        start: int = 0,
    ) -> None:
        self.conn = conn
        self.timeline = timeline
        self.speed = speed
        self.on_finished = on_finished
        self.subscribed = conn.subscriptions if subscribed is None else subscribed
        self.rewrite = rewrite
        self.position = start  # index of the next frame to consider (every one before it is sent)
        self.sent = 0
        self.finished = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"replay-{self.conn.conn_id}"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        # Let the rest of the subscribe requests of this connect arrive and be acked first.
        await asyncio.sleep(0)
        conn, timeline = self.conn, self.timeline
        recv_ns, keys, payloads = timeline.recv_ns, timeline.keys, timeline.payloads
        subscribed, rewrite = self.subscribed, self.rewrite
        loop = asyncio.get_running_loop()
        speed = self.speed
        origin_ns: int | None = None
        origin = loop.time()
        since_yield = 0
        n = len(payloads)
        i = self.position
        while i < n:
            if conn.closing:
                return
            if keys[i] in subscribed:
                if speed > 0:
                    if origin_ns is None:
                        origin_ns, origin = recv_ns[i], loop.time()
                    delay = origin + (recv_ns[i] - origin_ns) / NS_PER_S / speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                conn.send(payloads[i] if rewrite is None else rewrite(payloads[i]))
                self.sent += 1
                since_yield += 1
                if conn.queued >= HIGH_WATER:
                    while conn.queued >= HIGH_WATER // 2 and not conn.closing:
                        await asyncio.sleep(DRAIN_POLL)
                    since_yield = 0
                elif since_yield >= YIELD_EVERY:
                    await asyncio.sleep(0)
                    since_yield = 0
            i += 1
            self.position = i  # exact: a resubscribe's snapshot and the REST book use it
        self.finished = True
        log.info("replay %s finished: %d frames sent", conn.conn_id, self.sent)
        self.on_finished(self)
