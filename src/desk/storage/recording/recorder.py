"""The recorder: every received frame and the normalised market data, to parquet, off the loop.

Nothing it does sits on the hot path. The feeds hand it frames through taps that only append to
a bounded deque (:meth:`Recorder.frame_tap` on each ``WsConnection``, :meth:`Recorder.rest_tap`
for REST replies); trades, tickers and closed candles arrive by a bus subscription that appends
the same way; feed system events (connects, disconnects, gaps, resyncs, checksum failures)
become gap markers. Every ``flush_interval`` a task takes what is queued and writes it in a
worker thread (``asyncio.to_thread``): one part file per partition, finalised atomically, and
each closed hour's parts merged into ``HH.parquet`` (:mod:`.files`).

Bounded memory: each queue holds at most ``max_backlog`` items; past that new ones are dropped
and counted, and the next flush writes a ``dropped`` gap row saying how many, where. A write
that fails (disk full, permissions) is reported once as an ERROR system event, its rows are held
and retried at every flush (up to ``max_backlog`` rows; older ones are dropped with a gap row),
and the engine keeps trading; a later success is reported too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from desk.core.enums import Severity
from desk.core.events import Candle, SystemEvent, Ticker, Trade
from desk.storage.recording import files
from desk.storage.recording.config import RecorderConfig
from desk.storage.recording.health import RecorderHealth
from desk.storage.recording.normalise import Batch, Key, Normaliser, partition_of
from desk.storage.recording.schema import feed_of, venue_of

log = logging.getLogger(__name__)

Report = Callable[[str, str, Severity], None]
FEED_VENUES = ("okx", "binance", "coinbase")
GAP_OF_EVENT = {
    "connected": "connect",
    "disconnected": "disconnect",
    "resync": "resync",
    "checksum_failure": "checksum",
    "gap": "gap",
}
EVENT_KINDS = {"trades": Trade, "tickers": Ticker, "candles": Candle}


@dataclass
class _Result:
    """One flush's outcome, handed from the worker thread back to the loop."""

    rows: int = 0
    bytes: int = 0
    files: int = 0
    error: BaseException | None = None
    lost: list[tuple[str, str, int]] = field(default_factory=list)


class Recorder:
    """Records market data to parquet (see the module docstring)."""

    def __init__(
        self,
        config: RecorderConfig,
        *,
        report: Report | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.root = Path(config.path)
        self.kinds = frozenset(config.kinds)
        self.wants_frames = bool(self.kinds & {"raw", "books"})
        self._report = report or (lambda kind, message, severity: None)
        self._clock = clock
        self._writer_id = f"{os.getpid()}-{clock() // 1_000_000 % 10**9}"
        self._part_no = 0
        self._normaliser = Normaliser(self.kinds, config.rotate)  # the writer thread's
        limit = config.max_backlog
        self._frames: deque[tuple[str, bytes | str, int]] = deque()
        self._rest: deque[tuple[str, str, dict[str, str], bytes, int]] = deque()
        self._events: deque[Any] = deque()
        self._gaps: deque[tuple[int, str, str, str, str, str]] = deque()
        self._dropped: dict[tuple[str, str], int] = {}
        self._pending: list[tuple[Key, pa.Table]] = []
        self._open_hours: set[tuple[Path, str, str]] = set()  # folder, date, hour
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._unhooks: list[Callable[[], None]] = []
        self.rows_written = 0
        self.bytes_written = 0
        self.files_written = 0
        self.dropped = 0
        self.write_errors = 0
        self.last_error = ""
        self.free_bytes = 0
        self._failing = False
        self._rate = (0.0, 0)  # (monotonic time, rows_written) at the last flush
        self.rows_per_s = 0.0

        frames, events = self._frames, self._events
        wanted = tuple(EVENT_KINDS[k] for k in ("trades", "tickers", "candles") if k in self.kinds)
        drop = self._drop

        def frame_tap(conn: str, raw: bytes | str, recv_ns: int) -> None:
            if len(frames) < limit:
                frames.append((conn, raw, recv_ns))
            else:
                drop(conn, "raw frames")

        def on_market(event: Any) -> None:
            if type(event) in wanted:
                if len(events) < limit:
                    events.append(event)
                else:
                    drop(event.venue, f"{type(event).__name__} events")

        self.frame_tap = frame_tap
        """``WsConnection.tap``: append the frame (never blocks, parses or raises)."""
        self.on_market = on_market
        """A synchronous ``market_data:*`` subscriber: trades, tickers, candles."""

    # --- inputs ---------------------------------------------------------------------------

    def _drop(self, where: str, what: str) -> None:
        key = (where, what)
        self._dropped[key] = self._dropped.get(key, 0) + 1
        self.dropped += 1

    def rest_tap(self, venue: str) -> Callable[[str, dict[str, str], bytes], None]:
        """A REST reply tap for one venue's client module (``tap(path, params, body)``)."""
        rest, limit = self._rest, self.config.max_backlog

        def tap(path: str, params: dict[str, str], body: bytes) -> None:
            if len(rest) < limit:
                rest.append((venue, path, dict(params), body, self._clock()))
            else:
                self._drop(venue, "REST replies")

        return tap

    def on_system_event(self, event: Any) -> None:
        """A ``system_events`` subscriber: a feed's connection and book repairs -> gap rows."""
        if type(event) is not SystemEvent:
            return
        kind = GAP_OF_EVENT.get(event.kind)
        venue = venue_of(event.source)
        if kind is None or venue not in FEED_VENUES:
            return
        self.mark_gap(venue, event.source, event.symbol, kind, event.message, event.ts_recv)

    def mark_gap(
        self, venue: str, conn: str, symbol: str, kind: str, detail: str, ts: int = 0
    ) -> None:
        if len(self._gaps) < self.config.max_backlog:
            self._gaps.append((ts or self._clock(), venue, conn, symbol, kind, detail[:500]))
        else:
            self._drop(venue, "gap markers")

    # --- wiring ---------------------------------------------------------------------------

    def attach(self, bus: Any) -> None:
        """Subscribe to the bus (market data, system events) and tap the venues' REST clients."""
        from desk.core import topics

        if self.kinds & {"trades", "tickers", "candles"}:
            self._unhooks.append(bus.subscribe(topics.market_data("*"), self.on_market))
        self._unhooks.append(bus.subscribe(topics.SYSTEM_EVENTS, self.on_system_event))
        if self.wants_frames:
            self._tap_rest()

    def tap(self, feeds: Any) -> None:
        """Tap the frames of these feeds' connections (call before they start, so none is
        missed); connections they open later (Binance's handover) get the tap at birth."""
        if not self.wants_frames:
            return
        from desk.net import connection

        names = {feed.name for feed in feeds}
        for feed in feeds:
            self._normaliser.know_symbols(getattr(feed, "natives", None) or {})
            conn = getattr(feed, "connection", None)
            if conn is not None:
                conn.tap = self.frame_tap
                self._unhooks.append(_untap(conn))
        frame_tap = self.frame_tap

        def later(conn: str, raw: bytes | str, recv_ns: int) -> None:
            # a feed's (``binance~2`` is a handover's standby), not the private orders one
            if feed_of(conn) in names:
                frame_tap(conn, raw, recv_ns)

        connection.DEFAULT_TAP = later

        def untap_later() -> None:
            if connection.DEFAULT_TAP is later:
                connection.DEFAULT_TAP = None

        self._unhooks.append(untap_later)

    def _tap_rest(self) -> None:
        """Tap every venue's REST client module (their replies go to raw; the book snapshots
        the feeds bootstrap from become L2 snapshot rows)."""
        from desk.feeds.binance import rest as binance_rest
        from desk.feeds.coinbase import rest as coinbase_rest
        from desk.feeds.okx import rest as okx_rest

        for venue, module in (
            ("okx", okx_rest),
            ("binance", binance_rest),
            ("coinbase", coinbase_rest),
        ):
            module.REST_TAP = tap = self.rest_tap(venue)
            self._unhooks.append(_untap_rest(module, tap))

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Merge parts a crashed run left behind, then flush every ``flush_interval``."""
        try:
            await asyncio.to_thread(self._compact_leftovers)
        except Exception as exc:
            self._write_failed(exc)
        self._rate = (time.monotonic(), 0)
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="recorder")

    async def stop(self) -> None:
        """Untap, write what is queued and merge this writer's hours (idempotent)."""
        for unhook in self._unhooks:
            with contextlib.suppress(Exception):
                unhook()
        self._unhooks.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush(final=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recorder flush failed")

    async def flush(self, final: bool = False) -> None:
        """Write everything queued now (in a worker thread).

        The write runs in a task of its own, shielded: cancelling a caller (``stop`` cancels
        the flush loop) never leaves a worker thread writing while the next flush starts; the
        next one waits for the lock that task holds until its thread is done."""
        await asyncio.shield(asyncio.ensure_future(self._flush_locked(final)))

    async def _flush_locked(self, final: bool) -> None:
        async with self._flush_lock:
            batch = self._take()
            try:
                result = await asyncio.to_thread(self._write, batch, final)
            except Exception as exc:  # building the tables failed: nothing can be kept
                result = _Result(error=exc, lost=[("", "rows (unwritable batch)", len(batch))])
            self._outcome(result)

    def _take(self) -> Batch:
        """Move the queues' contents into a batch (on the loop, between two taps)."""
        batch = Batch(list(self._frames), list(self._rest), list(self._events), [])
        self._frames.clear()
        self._rest.clear()
        self._events.clear()
        dropped, self._dropped = self._dropped, {}
        now = self._clock()
        for (where, what), count in dropped.items():
            text = f"{count} {what} dropped: recorder backlog full ({self.config.max_backlog})"
            self._gaps.append((now, venue_of(where), where, "", "dropped", text))
        batch.gaps = list(self._gaps)
        self._gaps.clear()
        return batch

    # --- the worker thread ----------------------------------------------------------------

    def _write(self, batch: Batch, final: bool) -> _Result:
        """Build and write this batch's tables (and the held ones); merge closed hours.

        A failed write holds what is left for the next flush (:meth:`_hold`)."""
        result = _Result()
        tables = self._pending + self._normaliser.build(batch)
        self._pending = []
        for i, (key, table) in enumerate(tables):
            try:
                result.bytes += self._write_part(key, table)
            except Exception as exc:
                result.error = exc
                result.lost = self._hold(tables[i:])
                break
            result.rows += table.num_rows
            result.files += 1
        if result.error is None:
            try:
                self._merge_closed(final)
            except Exception as exc:  # the parts stay readable; merged at the next try
                result.error = exc
        with contextlib.suppress(OSError):
            self.free_bytes = shutil.disk_usage(self.root).free
        return result

    def _write_part(self, key: Key, table: pa.Table) -> int:
        venue, kind, date, hour = key
        folder = files.partition_dir(self.root, venue, kind, date)
        self._part_no += 1
        path = folder / files.part_name(hour, self._writer_id, self._part_no)
        size = files.write_atomic(table, path, self.config.row_group_rows)
        self._open_hours.add((folder, date, hour))
        return size

    def _hold(self, tables: list[tuple[Key, pa.Table]]) -> list[tuple[str, str, int]]:
        """Keep unwritten tables for the next flush, newest first up to ``max_backlog`` rows;
        returns what did not fit: (venue, what, rows) lost."""
        kept: list[tuple[Key, pa.Table]] = []
        lost: list[tuple[str, str, int]] = []
        budget = self.config.max_backlog
        for key, table in reversed(tables):
            if table.num_rows <= budget:
                kept.append((key, table))
                budget -= table.num_rows
            else:
                lost.append((key[0], f"{key[1]} rows (write failed)", table.num_rows))
        self._pending = kept[::-1]
        return lost

    def _merge_closed(self, final: bool) -> None:
        now_date, now_hour = partition_of(self._clock(), self.config.rotate)
        for folder, date, hour in sorted(self._open_hours):
            if final or (date, hour) < (now_date, now_hour):
                files.compact(folder, hour, self.config.row_group_rows)
                self._open_hours.discard((folder, date, hour))

    def _compact_leftovers(self) -> None:
        for folder in files.leftover_partitions(self.root):
            for hour in files.parts_of(folder):
                files.compact(folder, hour, self.config.row_group_rows)

    # --- outcomes (on the loop) -----------------------------------------------------------

    def _outcome(self, result: _Result) -> None:
        self.rows_written += result.rows
        self.bytes_written += result.bytes
        self.files_written += result.files
        for where, what, count in result.lost:
            key = (where, what)
            self._dropped[key] = self._dropped.get(key, 0) + count
            self.dropped += count
        now = time.monotonic()
        then, before = self._rate
        if now > then:
            self.rows_per_s = (self.rows_written - before) / (now - then)
        self._rate = (now, self.rows_written)
        if result.error is not None:
            self._write_failed(result.error)
        elif self._failing:
            self._failing = False
            text = f"recorder writing to {self.root} again"
            self._report("recorder_recovered", text, Severity.INFO)

    def _write_failed(self, exc: BaseException) -> None:
        self.write_errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if not self._failing:
            self._failing = True
            held = sum(t.num_rows for _, t in self._pending)
            text = (
                f"recorder cannot write to {self.root}: {self.last_error}; holding {held} rows "
                f"and retrying every {self.config.flush_interval:g}s (trading goes on)"
            )
            log.error("%s", text)
            self._report("recorder_error", text, Severity.ERROR)

    # --- health ---------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        queued = len(self._frames) + len(self._rest) + len(self._events) + len(self._gaps)
        return queued + sum(t.num_rows for _, t in self._pending)

    def health(self) -> RecorderHealth:
        return RecorderHealth(
            rows_per_s=self.rows_per_s,
            rows_written=self.rows_written,
            bytes_written=self.bytes_written,
            backlog=self.backlog,
            max_backlog=self.config.max_backlog,
            dropped=self.dropped,
            write_errors=self.write_errors,
            free_bytes=self.free_bytes,
            last_error=self.last_error if self._failing else "",
        )


def _untap_rest(module: Any, tap: Callable[..., None]) -> Callable[[], None]:
    def untap() -> None:
        if module.REST_TAP is tap:
            module.REST_TAP = None

    return untap


def _untap(conn: Any) -> Callable[[], None]:
    def untap() -> None:
        conn.tap = None

    return untap
