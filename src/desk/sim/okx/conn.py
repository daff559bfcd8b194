"""One simulated OKX WebSocket connection: its subscriptions and its bounded send queue.

Pushes are appended as already-encoded bytes (shared by every subscriber) and a per-connection
sender task writes them out, so a slow consumer only ever blocks its own task. When its queue
overflows the connection is closed with 4005 ("buffer full"), as OKX does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import deque
from collections.abc import Callable

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

CLOSE_SILENCE = 4004
CLOSE_BUFFER_FULL = 4005
CLOSE_TIMEOUT = 2.0
BATCH_BYTES = 256 * 1024
HIGH_WATER = 256 * 1024
DRAIN_POLL = 0.002


def _text_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame of ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


class Connection:
    """A client on ``/ws/v5/public`` or ``/ws/v5/business``."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        conn_id: str,
        endpoint: str,
        max_queue: int,
        on_sent: Callable[[int, int], None],
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.conn_id = conn_id
        self.endpoint = endpoint
        self.subscriptions: set[tuple[str, str]] = set()
        self.max_queue = max_queue
        self.loop = asyncio.get_running_loop()
        self.last_activity = self.loop.time()
        self.stalled_until = 0.0
        self.last_push: bytes | None = None
        self.sent = 0
        self.closing = False
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._on_sent = on_sent
        self._sender = asyncio.create_task(self._send_loop(), name=f"okx-sim-send-{conn_id}")
        self._closer: asyncio.Task[None] | None = None

    # ---- sending -------------------------------------------------------------------------

    def send(self, data: bytes, is_push: bool = True) -> None:
        """Queue one frame (never blocks); overflowing the queue closes with 4005."""
        if self.closing:
            return
        if len(self._queue) >= self.max_queue:
            self.close_soon(CLOSE_BUFFER_FULL, "buffer full")
            return
        self._queue.append(data)
        if is_push:
            self.last_push = data
        self.last_activity = self.loop.time()
        if not self._wake.is_set():
            self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def stall(self, seconds: float) -> None:
        self.stalled_until = max(self.stalled_until, self.loop.time() + seconds)

    @property
    def stalled(self) -> bool:
        return self.loop.time() < self.stalled_until

    async def _send_loop(self) -> None:
        queue = self._queue
        raw = self.transport is not None and not self.ws.compress
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    if self.stalled:
                        await asyncio.sleep(self.stalled_until - self.loop.time())
                        self.last_activity = self.loop.time()
                    elif raw:
                        await self._write_batch()
                    else:
                        data = queue.popleft()
                        await self.ws.send_frame(data, WSMsgType.TEXT)
                        self._count(1, len(data))
        except (ConnectionError, RuntimeError) as exc:
            log.debug("okx sim %s: send failed: %s", self.conn_id, exc)
            self.closing = True
            if not self.ws.closed:  # else aiohttp is already completing a close handshake
                self.abort()

    async def _write_batch(self) -> None:
        """Frame everything queued (up to ``BATCH_BYTES``) and hand it to the socket at once.

        One ``write`` per batch instead of one per frame: under load this saves a syscall per
        message. Server frames are unmasked, so framing is just a header; it only runs without
        permessage-deflate, and after aiohttp starts a close nothing more is written.
        """
        transport = self.transport
        assert transport is not None
        if self.ws.closed or transport.is_closing():
            raise ConnectionResetError("connection is closing")
        queue, parts, size, count = self._queue, [], 0, 0
        while queue and size < BATCH_BYTES:
            data = queue.popleft()
            parts += (_text_header(len(data)), data)
            size += len(data)
            count += 1
        transport.write(b"".join(parts))
        self._count(count, size)
        while transport.get_write_buffer_size() > HIGH_WATER:
            if transport.is_closing():
                raise ConnectionResetError("connection lost")
            await asyncio.sleep(DRAIN_POLL)

    def _count(self, frames: int, size: int) -> None:
        self.sent += frames
        self._on_sent(frames, size)

    # ---- closing -------------------------------------------------------------------------

    def close_soon(self, code: int, reason: str = "") -> None:
        """Close with ``code`` from a task of its own (callable from anywhere, idempotent)."""
        if self.closing:
            return
        self.closing = True
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # The sender may be parked on aiohttp's shared drain waiter; let its cancellation land
        # before closing, or it would cancel the close's wait on that same waiter.
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender
        self._queue.clear()
        closed = False
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), CLOSE_TIMEOUT)
            closed = True
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            if not closed:  # the peer is not reading: drop it rather than wait forever
                self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closing = True
        self._sender.cancel()
        self._queue.clear()
        if self.transport is not None:
            self.transport.abort()

    async def finished(self) -> None:
        """Stop the sender and any pending close once the handler is done with the socket."""
        self.closing = True
        self._sender.cancel()
        tasks = [t for t in (self._sender, self._closer) if t is not None]
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
