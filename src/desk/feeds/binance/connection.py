"""``WsConnection`` with WebSocket-level keepalive, as Binance wants it (PROTOCOLS.md B.1).

Binance pings with protocol ping frames (every 20 s) and wants pong frames back within a minute;
websockets answers them by itself. What Binance does not want is OKX's text ``ping`` (it would
be an invalid request, and every frame counts against 5 incoming messages a second). So after
``ping_interval`` without any frame this connection sends a protocol ping of its own and drops
the connection unless the pong comes within ``pong_timeout``; the pong counts as life, so a quiet
but healthy connection (an illiquid symbol) is never dropped.

``net/connection.py`` has no switch for this yet; this subclass replaces its supervisor task
(the text ping and the last-message watchdog) and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import ClientConnection

from desk.net.connection import OnMessage, WsConnection


class KeepaliveLost(ConnectionError):
    """The server did not answer a ping in time."""


class BinanceConnection(WsConnection):
    """A self-healing connection whose keepalive is protocol ping/pong (module docstring)."""

    def __init__(
        self,
        url: str,
        on_message: OnMessage,
        *,
        ping_interval: float = 30.0,
        pong_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            url,
            on_message,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            watchdog_timeout=ping_interval + pong_timeout,
            **kwargs,
        )
        self.pongs = 0

    async def _supervise(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_rx
            if idle < self.ping_interval:
                await asyncio.sleep(self.ping_interval - idle)
                continue
            pong = await ws.ping()
            self.pings_sent += 1
            try:
                async with asyncio.timeout(self.pong_timeout):
                    await pong
            except TimeoutError:
                raise KeepaliveLost(f"no pong within {self.pong_timeout:g}s") from None
            self.pongs += 1
            self._last_rx = max(self._last_rx, loop.time())
