"""A blocking ``XREAD`` always parked on one command sender's ack stream.

A :class:`~desk.bridge.commands_stream.CommandSender` on its own reads its ack stream only
while someone waits for a receipt: each wait is a new redis-py ``XREAD``, issued after the
command went out. A sender that sends often (the bots role, one order per signal) keeps this
listener instead: one lean connection (:mod:`desk.bridge.resp`) whose ``XREAD BLOCK`` is
already waiting on the server when the receipt is written, and which files every receipt it
reads (verified, as always) for whoever waits on it. Nothing is issued on the sending side
after the command, so the receipt costs the executor's round trip and no more.

The listener reads from the sender's ``last_ack_id`` (set by ``prepare``), so a receipt
written while its connection was away is read when it is back; while it is away the sender's
waiters fall back to reading for themselves.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from redis.exceptions import RedisError

from desk.bridge.commands_stream import CommandSender
from desk.bridge.redis_publisher import CONNECTION_ERRORS
from desk.bridge.resp import ConnectParams, RespConnection, stream_entries
from desk.bridge.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class ReceiptListener:
    """Files ``sender``'s receipts as they are written (see the module docstring)."""

    def __init__(
        self,
        sender: CommandSender,
        params: ConnectParams,
        context: ssl.SSLContext | None = None,
        block_ms: int = 1000,
    ) -> None:
        self.sender = sender
        self._params = params
        self._context = context
        self.block_ms = block_ms
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self.last_error = ""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="receipt-listener"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self.sender.listening = False

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            conn: RespConnection | None = None
            try:
                conn = await RespConnection.open(self._params, self._context)
                if self.sender.last_ack_id is None:
                    await self.sender.prepare()
                self.sender.listening = True
                backoff = 0.05
                await self._listen(conn)
            except (*CONNECTION_ERRORS, RedisError) as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.debug("receipt listener: %s", self.last_error)
            finally:
                self.sender.listening = False
                if conn is not None:
                    conn.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _listen(self, conn: RespConnection) -> None:
        sender, stream, block = self.sender, self.sender.ack_stream, self.block_ms
        timeout = block / 1000 + conn.reply_timeout_s
        while True:
            start = sender.last_ack_id or "0-0"
            reply = await conn.call(
                "XREAD", "COUNT", 100, "BLOCK", block, "STREAMS", stream, start, timeout_s=timeout
            )
            try:
                sender.file_entries(stream_entries(reply))
            except Exception:  # a bug filing one entry must not stop the listening
                log.exception("receipt listener: filing a receipt failed")
