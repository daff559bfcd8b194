"""WebSocket clients and the streams that feed them.

A :class:`Stream` is one route's data for one key (a symbol, a bot, ``all`` ...) shared by all
its clients: the frame is built and encoded once and offered to each :class:`Client`. A client
owns a bounded queue and one task that writes it to the socket, so a client that reads slowly
holds up only its own task: when its queue is full, :meth:`Client.offer` closes it with code
:data:`CLOSE_SLOW` and the gateway counts it. Offering never awaits, so the engine's loop never
waits on a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import WSMsgType
from aiohttp.web import WebSocketResponse

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
"""The gateway is stopping."""
CLOSE_SLOW = 4008
"""The client fell ``gateway.client_queue`` messages behind and was cut off."""
CLOSE_GRACE_S = 2.0
"""How long a close may wait on a client before its connection is aborted."""


class GatewayStats:
    """What the gateway counts about its clients (read by ``/metrics``)."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()  # messages sent, by route
        self.closed: Counter[str] = Counter()  # clients the gateway closed, by reason
        self.refused: Counter[str] = Counter()  # requests refused, by reason
        self.connected: Counter[str] = Counter()  # clients accepted since start, by route


class Client:
    """One WebSocket client: a bounded queue of frames and the task that sends them."""

    def __init__(
        self,
        ws: WebSocketResponse,
        route: str,
        limit: int,
        stats: GatewayStats,
        abort: Callable[[], None],
    ) -> None:
        self.ws = ws
        self.route = route
        self.limit = limit
        self.stats = stats
        self.sent = 0
        self.closed_reason = ""
        self._abort = abort
        self._queue: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._sender = asyncio.get_running_loop().create_task(
            self._send_loop(), name=f"gateway-send {self.route}"
        )

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame``; a client already ``limit`` behind is closed instead (False)."""
        if self.closed_reason:
            return False
        if len(self._queue) >= self.limit:
            log.warning("gateway: a %s client fell %d behind: cut off", self.route, self.limit)
            self.close("slow", CLOSE_SLOW, f"slow consumer: {self.limit} messages waiting")
            return False
        self._queue.append(frame)
        self._ready.set()
        return True

    async def _send_loop(self) -> None:
        queue, ws, text = self._queue, self.ws, WSMsgType.TEXT
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while queue:
                    await ws.send_frame(queue.popleft(), text)
                    self.sent += 1
                    self.stats.sent[self.route] += 1
        except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-send
            log.debug("gateway client on %s gone: %s", self.route, exc)

    def close(self, reason: str, code: int, message: str) -> None:
        """Stop sending and close the connection with ``code`` (counted under ``reason``)."""
        if self.closed_reason:
            return
        self.closed_reason = reason
        self.stats.closed[reason] += 1
        self._queue.clear()
        if self._sender is not None:
            self._sender.cancel()
        self._closer = asyncio.get_running_loop().create_task(
            self._close(code, message), name=f"gateway-close {self.route}"
        )

    async def _close(self, code: int, message: str) -> None:
        """Send the close frame, then cut the connection: a slow client's socket still holds
        frames it never read, and a graceful close would wait for them forever."""
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self.ws.close(code=code, message=message.encode())
        except Exception as exc:  # timeout, or a socket already broken
            log.debug("gateway client on %s: close failed: %r", self.route, exc)
        finally:
            self._abort()

    async def finish(self) -> None:
        """Stop the sender and wait for a close in progress (the handler's last step)."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer


class Stream:
    """One route's data for one key, shared by its clients.

    Subclasses build frames (:meth:`snapshot` for a client that just joined, :meth:`broadcast`
    for everyone) and start their source in :meth:`open` (first client) and stop it in
    :meth:`shut` (last client gone).
    """

    route = ""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.frames = 0  # frames broadcast
        self.active = False

    def add(self, client: Client) -> None:
        if not self.active:
            self.open()
            self.active = True
        self.clients.add(client)
        for frame in self.snapshot():
            client.offer(frame)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        if not self.clients and self.active:
            self.shut()
            self.active = False

    def broadcast(self, frame: bytes) -> None:
        self.frames += 1
        for client in list(self.clients):
            if not client.offer(frame):
                self.clients.discard(client)  # closed as too slow: it gets nothing more

    def snapshot(self) -> Iterable[bytes]:
        return ()

    def open(self) -> None:
        """The first client joined: start following the source."""

    def shut(self) -> None:
        """The last client left: stop following the source."""


class PollingStream(Stream):
    """A stream that looks at the views every ``interval`` seconds and broadcasts changes."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"gateway {self.route}"
        )

    def shut(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due, loop.time() - self.interval)  # after a stall: no burst to catch up
            try:
                for frame in self.poll():
                    self.broadcast(frame)
            except Exception:  # one bad reading must not end the stream
                log.exception("gateway stream %s failed", self.route)

    def poll(self) -> Iterable[bytes]:
        """The frames to broadcast now (none when nothing changed)."""
        return ()


def abort_transport(transport: Any) -> Callable[[], None]:
    """A function that cuts the connection of ``transport`` (None: nothing to cut)."""

    def abort() -> None:
        # Even a transport already closing: close() waits to flush what the peer never reads.
        if transport is not None:
            transport.abort()

    return abort
