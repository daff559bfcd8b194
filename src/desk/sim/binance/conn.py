"""One simulated Binance stream connection: its streams, format, keepalive and request rate.

The sending side (bounded queue, batched writes, stall, close, abort) is the OKX simulator's
``Connection``, which is venue-neutral in all but its name; this adds what Binance needs on top:
the streams it listens to, whether frames go out wrapped (``/stream`` or ``SET_PROPERTY
combined``), the ping the server is waiting on, and the incoming-message rate.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from aiohttp import web

from desk.sim.okx.conn import Connection

RAW = "ws"
COMBINED = "stream"


class StreamConnection(Connection):
    """A client on ``/ws`` (raw payloads) or ``/stream`` (combined frames)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        conn_id: str,
        endpoint: str,
        max_queue: int,
        on_sent: Callable[[int, int], None],
    ) -> None:
        super().__init__(ws, transport, conn_id, endpoint, max_queue, on_sent)
        self.combined = endpoint == COMBINED
        self.streams: set[str] = set()
        self.opened_at = self.loop.time()
        self.awaiting: dict[bytes, float] = {}  # ping payload -> loop time sent, oldest first
        self.last_ping_at = self.opened_at
        self.pings_sent = 0
        self.pongs = 0
        self.shutdown_sent = False
        self._incoming: deque[float] = deque()

    def count_incoming(self, limit: int) -> bool:
        """Count one incoming frame; False when more than ``limit`` came in the last second."""
        now = self.loop.time()
        incoming = self._incoming
        incoming.append(now)
        while incoming and now - incoming[0] > 1.0:
            incoming.popleft()
        return len(incoming) <= limit

    def pinged(self, payload: bytes, now: float) -> None:
        self.awaiting[payload] = now
        self.last_ping_at = now
        self.pings_sent += 1

    def oldest_ping(self) -> float | None:
        """When the oldest ping still waiting for its pong was sent (None: none waits)."""
        return next(iter(self.awaiting.values()), None)

    def on_pong(self, payload: bytes) -> bool:
        """A pong echoing a ping answers it and every older one; an unsolicited pong changes
        nothing (Binance: it does not keep the connection alive)."""
        if payload not in self.awaiting:
            return False
        for key in list(self.awaiting):
            del self.awaiting[key]
            if key == payload:
                break
        self.pongs += 1
        return True
