"""``LoopbackSite``: the aiohttp life cycle every simulator and replay server shares.

Each venue's simulator and each replay server binds one aiohttp app on ``host:port`` (port 0
takes a free one), runs a few background loops, and on stop cancels them, tells every open
WebSocket it is going away and releases the port. That part is the same for all six, so it
lives here; what each serves (paths, wire formats, markets) stays with the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

from aiohttp import web

GOING_AWAY = 1001


class Closable(Protocol):
    """A served connection: told to close with a WebSocket close code and a reason."""

    def close_soon(self, code: int, reason: str) -> None: ...


class LoopbackSite:
    """One bound aiohttp app, its background tasks, and the addresses it answers on."""

    def __init__(self, host: str, port: int, what: str) -> None:
        self.host = host
        self.requested_port = port
        self.what = what  # "the simulator", "the replay server": named in errors
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def bind(self, app: web.Application, shutdown_timeout: float | None = None) -> None:
        """Serve ``app``; ``shutdown_timeout`` bounds how long stop waits on open handlers."""
        extra: dict[str, Any] = {}
        if shutdown_timeout is not None:
            extra["shutdown_timeout"] = shutdown_timeout
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, **extra)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.requested_port)
        await self._site.start()

    def add_task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` until stop."""
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    async def cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self, conns: Iterable[Closable], reason: str, code: int = GOING_AWAY) -> None:
        """Cancel the tasks, send every connection ``code``/``reason``, release the port."""
        await self.cancel_tasks()
        for conn in list(conns):
            conn.close_soon(code, reason)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def bound(self) -> bool:
        return self._runner is not None and self._site is not None

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError(f"{self.what} is not started")
        return int(self._runner.addresses[0][1])

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, path: str = "") -> str:
        return f"ws://{self.host}:{self.port}{path}"


def json_response(body: bytes, status: int = 200) -> web.Response:
    """An already-encoded JSON body as a response."""
    return web.Response(body=body, status=status, content_type="application/json")
