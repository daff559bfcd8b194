"""One WebSocket connection that stays up: keepalive, watchdog, reconnect with backoff.

``WsConnection`` knows nothing about any venue. It connects, calls ``on_open`` (the feed sends
its subscriptions there, again after every reconnect), and hands every received frame to
``on_message(raw, recv_ns)`` synchronously from the read loop, which is the hot path: the loop
does one ``recv``, two clock reads and the call. Text frames arrive undecoded as ``bytes``
(``recv(decode=False)``): msgspec parses UTF-8 bytes directly and the str copy is skipped.

Liveness (PROTOCOLS.md A.3, D.4): a supervisor task watches the time of the last received frame.

* keepalive: after ``ping_interval`` of silence it sends the text frame ``ping`` (OKX wants the
  four bare characters, not a protocol ping, so websockets' own pings are off); if nothing
  (normally ``pong``) arrives within ``pong_timeout``, the connection is dropped;
* watchdog: no frame at all for ``watchdog_timeout`` drops the connection.

After a drop the connection waits ``Backoff.next()`` seconds (exponential, with jitter from a
seedable ``random.Random``) and connects again; the delay starts over once a connection stayed
up for ``healthy_after`` seconds. ``request_reconnect`` drops and reconnects on request (OKX's
64008 upgrade notice). State changes go to ``on_state(state, reason)``; the reason names the
close code when the server closed the connection.

``tap`` (None by default) is an optional frame tap, ``tap(name, raw, recv_ns)``, called with
every received frame before ``on_message``: the recorder sets it to append the frame to its
bounded queue (it must never block, parse or raise). Off, it costs one attribute load a frame.
A connection made while the module's ``DEFAULT_TAP`` is set starts with that tap (the recorder
sets it so connections a feed opens later, such as Binance's handover, are recorded too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from desk.core.enums import ConnectionState
from desk.net.config import ReconnectConfig

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes | str, int], None]
OnOpen = Callable[["WsConnection"], Awaitable[None]]
OnState = Callable[[ConnectionState, str], None]
FrameTap = Callable[[str, bytes | str, int], None]
DEFAULT_TAP: FrameTap | None = None  # the tap new connections start with (module docstring)

PING = "ping"


class Backoff:
    """Exponential reconnect delays with jitter: ``initial * multiplier**n``, capped.

    Jitter shortens each delay by up to ``jitter`` of itself, drawn from ``rng``, so a fleet of
    clients does not reconnect in lockstep and no delay ever exceeds ``max_delay``.
    """

    def __init__(self, config: ReconnectConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng if rng is not None else random.Random()
        self.attempts = 0

    def next(self) -> float:
        cfg = self.config
        base = min(cfg.max_delay, cfg.initial_delay * cfg.multiplier**self.attempts)
        self.attempts += 1
        return base * (1.0 - cfg.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0


class _Drop(Exception):
    """Raised by the supervisor to drop the connection with a reason."""


class WsConnection:
    """A self-healing WebSocket client connection (see the module docstring)."""

    def __init__(
        self,
        url: str,
        on_message: OnMessage,
        *,
        on_open: OnOpen | None = None,
        on_state: OnState | None = None,
        name: str = "ws",
        ping_interval: float = 20.0,
        pong_timeout: float = 10.0,
        watchdog_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        close_timeout: float = 2.0,
        reconnect: ReconnectConfig | None = None,
        rng: random.Random | None = None,
        healthy_after: float = 10.0,
        max_size: int = 1 << 24,
        max_queue: int = 1024,
        compression: str | None = "deflate",
        proxy: str | bool | None = True,
    ) -> None:
        self.url = url
        self.name = name
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.watchdog_timeout = watchdog_timeout
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self.healthy_after = healthy_after
        self.backoff = Backoff(reconnect or ReconnectConfig(), rng)
        self._on_message = on_message
        self._on_open = on_open
        self._on_state = on_state
        self._connect_kwargs = {
            "max_size": max_size,
            "max_queue": max_queue,
            "compression": compression,
            "proxy": proxy,
        }
        self.state = ConnectionState.DISCONNECTED
        self.reason = ""
        self.connects = 0
        self.drops = 0
        self.pings_sent = 0
        self.callback_errors = 0
        self.last_close_code: int | None = None
        self.last_delay = 0.0
        self.tap: FrameTap | None = DEFAULT_TAP  # the recorder's frame tap (module docstring)
        # Replay lockstep: while ``hold()`` is true the next frame waits (the event loop runs);
        # a replay holds the feed until the orders a frame caused have reached the venue.
        self.hold: Callable[[], bool] | None = None
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._kick = asyncio.Event()
        self._kick_reason = ""
        self._kick_immediate = False
        self._outbox: deque[str] = deque()
        self._outbox_ready = asyncio.Event()
        self._last_rx = 0.0
        self._connected = asyncio.Event()

    # --- public API -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Close the connection (code 1000) and stop reconnecting; ends in STOPPED."""
        self._stopping = True
        self._kick_reason = "stopped"
        self._kick.set()
        task, self._task = self._task, None
        if task is not None:
            if self.state is ConnectionState.CONNECTING:
                task.cancel()  # nothing to close yet: do not wait for the handshake
            try:
                async with asyncio.timeout(self.close_timeout + 1.0):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # stop() itself was cancelled
        if self.state is not ConnectionState.STOPPED:
            self._set_state(ConnectionState.STOPPED, "stopped")

    async def send(self, text: str) -> None:
        """Send one text frame now; raises ``ConnectionError`` when not connected."""
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        await ws.send(text)

    def send_soon(self, text: str) -> None:
        """Queue a text frame for the writer task, keeping order; usable from sync callbacks.

        Frames still queued when the connection drops are discarded: ``on_open`` rebuilds
        whatever state the next connection needs.
        """
        self._outbox.append(text)
        self._outbox_ready.set()

    def request_reconnect(self, reason: str, *, immediate: bool = True) -> None:
        """Drop the current connection and connect again (at once unless ``immediate=False``)."""
        if self._ws is None or self._stopping:
            return
        self._kick_reason = reason
        self._kick_immediate = immediate
        self._kick.set()

    async def wait_connected(self, timeout: float) -> None:
        """Wait until the connection is (again) CONNECTED; raises ``TimeoutError``."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    # --- life cycle -----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._set_state(ConnectionState.CONNECTING, self.url)
            try:
                ws = await connect(
                    self.url,
                    ping_interval=None,
                    open_timeout=self.connect_timeout,
                    close_timeout=self.close_timeout,
                    **self._connect_kwargs,  # type: ignore[arg-type]
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason, healthy = f"connect failed: {exc!r}", False
            else:
                if self._stopping:
                    await self._close(ws)
                    break
                reason, healthy = await self._session(ws)
            if self._stopping:
                break
            await self._pause_after_drop(reason, healthy)
        self._set_state(ConnectionState.STOPPED, "stopped")

    async def _pause_after_drop(self, reason: str, healthy: bool) -> None:
        self.drops += 1
        if healthy:
            self.backoff.reset()
        delay = 0.0 if self._kick_immediate else self.backoff.next()
        self._kick_immediate = False
        self.last_delay = delay
        self._set_state(ConnectionState.DISCONNECTED, f"{reason}; reconnecting in {delay:.2f}s")
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    while not self._stopping:
                        self._kick.clear()
                        await self._kick.wait()

    async def _session(self, ws: ClientConnection) -> tuple[str, bool]:
        """Run one open connection until it drops; returns (reason, stayed healthy)."""
        loop = asyncio.get_running_loop()
        opened_at = self._last_rx = loop.time()
        self._ws = ws
        self._outbox.clear()
        self._kick.clear()
        self.connects += 1
        self._set_state(ConnectionState.CONNECTED, "")
        self._connected.set()
        tasks = {
            loop.create_task(self._read(ws), name=f"{self.name}-read"),
            loop.create_task(self._supervise(ws), name=f"{self.name}-supervise"),
            loop.create_task(self._write(ws), name=f"{self.name}-write"),
            loop.create_task(self._kick.wait(), name=f"{self.name}-kick"),
        }
        if self._on_open is not None:
            tasks.add(loop.create_task(self._open(), name=f"{self.name}-open"))
        try:
            reason = await self._wait_for_drop(tasks)
        finally:
            self._ws = None
            self._connected.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close(ws)
        return reason, loop.time() - opened_at >= self.healthy_after

    async def _open(self) -> None:
        assert self._on_open is not None
        await self._on_open(self)

    async def _wait_for_drop(self, tasks: set[asyncio.Task[object]]) -> str:
        pending = set(tasks)
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.get_name().endswith("-open") and task.exception() is None:
                    continue  # subscriptions sent; keep running
                return self._drop_reason(task)

    def _drop_reason(self, task: asyncio.Task[object]) -> str:
        if task.get_name().endswith("-kick"):
            return self._kick_reason
        exc = task.exception()
        if isinstance(exc, ConnectionClosed):
            return self._closed_reason(exc)
        if isinstance(exc, _Drop):
            return str(exc)
        if exc is not None:
            return f"{task.get_name()} failed: {exc!r}"
        return f"{task.get_name()} ended"

    def _closed_reason(self, exc: ConnectionClosed) -> str:
        if exc.rcvd is not None:
            self.last_close_code = exc.rcvd.code
            text = f": {exc.rcvd.reason}" if exc.rcvd.reason else ""
            return f"closed by server (code {exc.rcvd.code}{text})"
        self.last_close_code = 1006
        return "connection lost (code 1006, no close frame)"

    async def _close(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=1000, reason="bye" if self._stopping else "reconnecting")

    # --- tasks of one session -------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        """The hot path: receive, stamp, hand over."""
        recv = ws.recv
        on_message = self._on_message
        monotonic = asyncio.get_running_loop().time
        time_ns = time.time_ns
        while True:
            raw = await recv(decode=False)
            self._last_rx = monotonic()
            recv_ns = time_ns()
            tap = self.tap
            if tap is not None:
                tap(self.name, raw, recv_ns)
            try:
                on_message(raw, recv_ns)
            except Exception:
                self.callback_errors += 1
                if self.callback_errors <= 10 or self.callback_errors % 10_000 == 0:
                    log.exception(
                        "%s: on_message failed (%d so far)", self.name, self.callback_errors
                    )
            hold = self.hold
            if hold is not None and hold():
                while hold():
                    await asyncio.sleep(0)

    async def _supervise(self, ws: ClientConnection) -> None:
        """Keepalive ping and watchdog, driven by the time of the last received frame."""
        loop = asyncio.get_running_loop()
        ping_sent: float | None = None
        while True:
            now = loop.time()
            last = self._last_rx
            if now - last >= self.watchdog_timeout:
                raise _Drop(f"watchdog: no message for {self.watchdog_timeout:g}s")
            if ping_sent is not None:
                if last > ping_sent:
                    ping_sent = None  # the server answered (or sent anything at all)
                elif now - ping_sent >= self.pong_timeout:
                    raise _Drop(f"no pong within {self.pong_timeout:g}s")
            if ping_sent is None and now - last >= self.ping_interval:
                await ws.send(PING)
                self.pings_sent += 1
                ping_sent = now = loop.time()
            if ping_sent is None:
                wake = last + self.ping_interval
            else:
                # Look again one ping interval after the ping: if the pong came, the next
                # ping is due then at the earliest; otherwise wait out the pong deadline.
                wake = ping_sent + self.ping_interval
                if wake <= now:
                    wake = ping_sent + self.pong_timeout
            wake = min(wake, last + self.watchdog_timeout)
            await asyncio.sleep(max(0.0, wake - loop.time()))

    async def _write(self, ws: ClientConnection) -> None:
        outbox = self._outbox
        while True:
            await self._outbox_ready.wait()
            while outbox:
                await ws.send(outbox.popleft())
            self._outbox_ready.clear()

    def _set_state(self, state: ConnectionState, reason: str) -> None:
        self.state = state
        self.reason = reason
        if self._on_state is not None:
            try:
                self._on_state(state, reason)
            except Exception:
                log.exception("%s: on_state failed", self.name)
