"""One simulated Coinbase WebSocket connection: its own ``sequence_num`` and subscriptions.

The sending machinery (bounded queue, batching writer, stall, abort, close) is the simulator's
usual connection (``desk.sim.okx.conn.Connection``, venue-neutral apart from its name); what
Coinbase adds is the per-connection numbering: every message a connection is sent takes the next
number, whichever channel it is on. Error replies and the garbage frames of the faults take none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from desk.sim.coinbase.wire import Message
from desk.sim.okx.conn import Connection

StreamKey = tuple[str, str]
"""(channel, product id) of a subscription; heartbeats: ("heartbeats", "")."""


class CoinbaseConnection(Connection):
    """A client of the simulated Coinbase market-data WebSocket."""

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
        self.next_seq = 0
        self.heartbeat_counter = 0
        self.ever_subscribed = False
        self.opened_at = self.loop.time()

    def send_message(self, message: Message) -> None:
        """Send ``message`` numbered with this connection's next ``sequence_num``."""
        if self.closing:
            return
        seq = self.next_seq
        self.next_seq = seq + 1
        self.send(message.frame(seq))

    def skip(self, count: int) -> None:
        """Leave ``count`` numbers unused: the client sees a hole (the gap fault)."""
        self.next_seq += count
