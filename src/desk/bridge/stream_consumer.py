"""One consumer of a Redis Stream in a consumer group: the loop, restarts and take-overs.

:class:`GroupConsumer` reads new entries with ``XREADGROUP``, first re-reads its own pending
entries after a (re)start, takes over entries another consumer left pending longer than
``claim_idle_s`` (``XAUTOCLAIM``), recreates the group when Redis lost it, and survives Redis
going away. What an entry means is the subclass's :meth:`GroupConsumer._handle` (the command
receiver's).

New entries are read on a lean connection of the consumer's own (:mod:`desk.bridge.resp`): the
``XREADGROUP`` is parked on the server until an entry comes, and the reply wakes the reading task
directly, without redis-py's per-command machinery; the subclass's hot commands (the ledger
claim, the answer) go on the same connection (:meth:`GroupConsumer.lean`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from desk.bridge.commands_stream import CommandStreamConfig
from desk.bridge.redis_publisher import CONNECTION_ERRORS
from desk.bridge.resp import RespConnection, params_of, stream_entries

log = logging.getLogger(__name__)


class GroupConsumer:
    """The stream-reading half of a receiver; subclasses handle the entries."""

    what = "stream-consumer"

    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        config: CommandStreamConfig,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self.consumer = consumer
        self.config = config
        self._task: asyncio.Task[None] | None = None
        self._conn: RespConnection | None = None
        self._stopping = asyncio.Event()
        self._last_claim = 0.0
        self.claimed = 0
        self.errors = 0
        self.last_error = ""

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        raise NotImplementedError

    async def periodic(self) -> None:
        """Called once per :meth:`poll` round (for housekeeping)."""

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"{self.what}-{self.consumer}"
            )

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the entry in hand and stop; cancel only if that takes over ``timeout_s``.

        Cancelling in the middle of applying a command would leave it "interrupted" (answered as
        not applied again), so the loop is asked to stop between entries first.
        """
        task = self._task
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("%s %s ended with %r", self.what, self.consumer, task.exception())
        self._task = None
        self._stopping.clear()
        self._close_lean()

    async def lean(self) -> RespConnection:
        """This consumer's lean connection, opened again if it was lost."""
        conn = self._conn
        if conn is None or not conn.connected:
            self._close_lean()
            conn = self._conn = await RespConnection.open(*params_of(self._redis))
        return conn

    def _close_lean(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def run(self) -> None:
        """Read and apply until stopped; survives Redis going away and coming back."""
        backoff = 0.05
        resume_own = True
        while not self._stopping.is_set():
            try:
                if resume_own:
                    await self.ensure_group()
                    await self.process_own_pending()
                    resume_own = False
                await self.poll()
                backoff = 0.05
            except CONNECTION_ERRORS as exc:
                self._note_error(exc)
                self._close_lean()
                resume_own = True
                await self._pause(backoff)
                backoff = min(backoff * 2, 2.0)
            except ResponseError as exc:
                self._note_error(exc)
                resume_own = True  # NOGROUP after Redis lost its data: recreate the group
                await self._pause(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _note_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("%s %s: %s", self.what, self.consumer, self.last_error)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing; reads from the start."""
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def process_own_pending(self) -> int:
        """Entries delivered to this consumer name but never acked (we restarted)."""
        done = 0
        start: bytes | str = "0"
        while True:
            reply = await self._redis.xreadgroup(
                self._group, self.consumer, {self._stream: start}, count=self.config.read_count
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return done
            for entry_id, fields in entries:
                await self._handle(entry_id, fields)
                start = entry_id
                done += 1

    async def claim_stale(self) -> int:
        """Take over entries another consumer left pending longer than ``claim_idle_s``."""
        done = 0
        start: bytes | str = "0-0"
        idle_ms = int(self.config.claim_idle_s * 1000)
        while True:
            next_start, entries, *_ = await self._redis.xautoclaim(
                self._stream,
                self._group,
                self.consumer,
                min_idle_time=idle_ms,
                start_id=start,
                count=self.config.read_count,
            )
            for entry_id, fields in entries:
                self.claimed += 1
                log.info("consumer %s took over entry %s", self.consumer, entry_id)
                await self._handle(entry_id, fields)
                done += 1
            if next_start in (b"0-0", "0-0"):
                return done
            start = next_start

    async def poll(self, block_ms: int | None = None) -> int:
        """One round: take over stale entries (now and then), then read new ones."""
        done = 0
        now = time.monotonic()
        if now - self._last_claim >= self.config.claim_every_s:
            self._last_claim = now
            done += await self.claim_stale()
        await self.periodic()
        block = self.config.block_ms if block_ms is None else block_ms
        conn = await self.lean()
        reply = await conn.call(
            "XREADGROUP", "GROUP", self._group, self.consumer,
            "COUNT", self.config.read_count, "BLOCK", block, "STREAMS", self._stream, ">",
            timeout_s=block / 1000 + conn.reply_timeout_s if block else 0,
        )  # fmt: skip
        for entry_id, fields in stream_entries(reply):
            if self._stopping.is_set():
                return done  # the rest stay pending for us (or another consumer) later
            await self._handle(entry_id, fields)
            done += 1
        return done
