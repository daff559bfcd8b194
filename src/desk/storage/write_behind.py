"""The write-behind machinery under :class:`~desk.storage.sqlite.SqliteStore`: one queue, one
writer task, batches, retries and the close deadline.

The hot path never touches the database: a ``record_*`` call only appends a row to the queue.
A single task commits batches of up to ``batch_size`` rows every ``flush_interval`` seconds in
one transaction (WAL mode, so readers never block the writer), or as soon as a batch is full;
once awake it writes what was queued then, and rows that arrive meanwhile wait for the next
full batch or ``catch_up_interval`` (a commit per turn of the loop would cost both threads at
every order).
A batch is one trip to SQLite's thread: its statements and the commit (writer.py). Records are
never dropped: if the backlog passes ``queue_size`` it keeps growing and ``over_bound`` counts
it, for the health screen.

Nothing blocks the queue (writer.py has the rules): a row with a bad value or one SQLite refuses
is put aside in ``dead_letters`` with the reason, and the rows around it land; each kind of bad
row raises one system event per ``event_interval`` (not one per row). A transient error (the
file locked by another connection, disk I/O) keeps the batch at the head of the queue and
retries it with a growing pause (one event per outage, another when writes resume).

``close()`` flushes what it can within ``close_timeout``: stopping always ends. Rows it could not
write are appended to ``<sqlite file>.unwritten.jsonl`` beside the database, and their count is
logged and returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from desk.core.enums import Severity
from desk.core.events import SystemEvent
from desk.core.excerpt import excerpt
from desk.storage import schema, statements
from desk.storage.config import StorageConfig
from desk.storage.journal import JournalBusy, OrderJournal
from desk.storage.row_queue import RowQueue
from desk.storage.statements import Statement
from desk.storage.thread_priority import run_as_background
from desk.storage.writer import (
    BatchResult,
    DeadLetter,
    EventThrottle,
    describe,
    run_in_thread,
    spill,
    write_batch,
)

log = logging.getLogger("desk.storage.sqlite")

MAX_RETRY_DELAY_S = 5.0
"""The longest pause between two tries of a batch that failed for a transient reason."""

OUTAGE = "write failure"
"""The throttle key of transient write failures (table names are the keys of bad rows)."""


class StorageUnavailable(RuntimeError):
    """Queued rows could not be written in time (the database stayed locked or unwritable)."""


class WriteBehind:
    """Owns the SQLite file, the queue of rows and the one writer task.

    ``report`` receives the store's own system events (a bad row put aside, writes failing and
    resuming); the engine publishes them on the bus (which stores them here too). Without it the
    store records them itself.
    """

    def __init__(
        self, config: StorageConfig, report: Callable[[SystemEvent], None] | None = None
    ) -> None:
        self.config = config
        self.path = Path(config.sqlite_path)
        self._report = report
        self._db: aiosqlite.Connection | None = None
        self._pending = RowQueue()
        self._batch_size = config.batch_size
        self._queue_size = config.queue_size
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._deadline = 0.0
        self.rows_written = 0
        self.rows_settled = 0
        """Rows done with: written, or put aside as dead letters (what wait_committed counts)."""
        self.batches_written = 0
        self.over_bound = 0
        self.write_errors = 0
        self.dead_letters = 0
        self.unwritten = 0
        """Rows ``close()`` could not write before its deadline (saved to ``unwritten_path``)."""
        self.unwritten_path: Path | None = None
        self.last_flush_ms = 0.0
        self.rows_enqueued = 0
        self.last_error = ""
        self._retry_delay = 0.0
        self._outage_since: float | None = None
        self._outage_failures = 0
        self._throttle = EventThrottle(config.event_interval)
        # (rows that must be settled, future) per waiter, smallest target first: a commit wakes
        # only the waiters it satisfies, so thousands of waiting orders cost one pop each.
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_ids = itertools.count()
        self.journal: OrderJournal | None = (
            OrderJournal(self.path, fsync=config.journal_fsync) if config.order_journal else None
        )
        self.journal_replayed = 0
        """Orders the last open() found only in the journal (a crash before their commit)."""

    @property
    def backlog(self) -> int:
        """Rows queued but not yet committed."""
        return len(self._pending)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, timeout=self.config.busy_timeout)
        try:
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            if self.config.writer_sched_batch:
                refused = await run_in_thread(self._db, run_as_background)
                if refused:
                    log.info("SQLite's writer thread keeps its scheduling: %s", refused)
            await self._prepare_schema(self._db)
            await self._replay_journal(self._db)
        except BaseException:
            if self.journal is not None:
                self.journal.close()
            await self._db.close()
            self._db = None
            raise
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-writer")

    async def _prepare_schema(self, db: aiosqlite.Connection) -> None:
        """Create a new file's schema, migrate an older one, refuse a newer one.

        The schema's statements all say IF NOT EXISTS, so running it again after the
        migrations restores any table or index a file has lost.
        """
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT version FROM schema_version") as cur:
            row = await cur.fetchone()
        if row is None:
            await db.executescript(schema.SCHEMA)
            await db.execute(
                "INSERT INTO schema_version (version) VALUES (?)", (schema.SCHEMA_VERSION,)
            )
            await db.commit()
            return
        version = row[0]
        if version > schema.SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: database schema version {version}, this desk expects "
                f"{schema.SCHEMA_VERSION}"
            )
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            await db.executescript(
                f"BEGIN;\n{schema.MIGRATIONS[target]}\n"
                f"UPDATE schema_version SET version = {target};\nCOMMIT;"
            )
            log.info("%s: schema migrated from version %d to %d", self.path, target - 1, target)
        await db.executescript(schema.SCHEMA)

    async def _replay_journal(self, db: aiosqlite.Connection) -> None:
        """Insert the orders a previous run journalled but did not commit, then empty the
        journal. An order SQLite already has keeps SQLite's (newer) row."""
        if self.journal is None:
            return
        try:
            rows = self.journal.open()
        except JournalBusy as exc:
            log.warning("order journal off, orders wait for their commit instead: %s", exc)
            self.journal = None
            return
        inserted = 0
        for row in rows:
            problem = statements.ORDER.problem(row)
            if problem:
                log.error("%s: journal row refused (%s): %r", self.path, problem, row)
                continue
            cursor = await db.execute(schema.INSERT_ORDER_IF_ABSENT, row)
            if cursor.rowcount == 1:
                inserted += 1
                # (ts_ns, client_order_id, status, filled, reason) from the orders row
                event = (row[18], row[0], row[14], row[9], "recovered from the order journal")
                await db.execute(statements.ORDER_EVENT.sql, event)
        await db.commit()
        self.journal.clear()
        self.journal.prefault()  # the first orders' pages
        self.journal_replayed = inserted
        if inserted:
            log.warning(
                "%s: %d orders recovered from the order journal (not committed before a crash)",
                self.path,
                inserted,
            )

    def _enqueue(
        self, statement: Statement, params: tuple[Any, ...], checked: bool = False
    ) -> None:
        """Queue one row (``checked``: see :meth:`RowQueue.append`). The writer is woken when
        the queue reaches a batch; it then writes until the queue is empty, and otherwise wakes
        every ``flush_interval`` anyway, so reaching it is enough (no call per row past it)."""
        if self._closing and self._db is None:
            raise RuntimeError("SqliteStore is closed")
        queued = self._pending.append(statement, params, checked)
        self.rows_enqueued += 1
        if queued > self._queue_size:
            self.over_bound += 1
        if queued == self._batch_size:
            self._wake.set()

    async def wait_committed(self, upto: int | None = None) -> None:
        """Return once every row recorded before this call (or the first ``upto`` rows ever
        recorded, see ``rows_enqueued``) is settled: committed, or put aside as a dead letter.

        Wakes the writer at once rather than waiting for ``flush_interval``.
        """
        if self._db is None:
            raise RuntimeError("SqliteStore is not open")
        target = self.rows_enqueued if upto is None else upto
        if self.rows_settled >= target:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target, next(self._waiter_ids), future))
        self._wake.set()
        await future

    # ---- the writer ----

    async def _run(self) -> None:
        while not self._closing:
            if self._retry_delay:
                # Backing off after a transient failure: only close() cuts the pause short.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._retry_delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._next_wait())
            self._wake.clear()
            if self._closing:
                break
            # One turn of the loop first: the rows of everything that is ready to run join this
            # commit instead of each paying for a transaction of its own.
            await asyncio.sleep(0)
            if self.journal is not None:  # pages the kernel wrote back are read-only again
                self.journal.prefault()
            woken_at = self.rows_enqueued
            try:
                while self._pending and not self._closing:
                    if self.rows_settled >= woken_at and len(self._pending) < self._batch_size:
                        # Rows queued since the wake wait for the next one (a full batch, or
                        # catch_up_interval): chasing them would commit a few rows at every
                        # turn of the loop under a steady stream, each commit costing both
                        # threads (and the event loop's its share of every order's time).
                        break
                    if not await self._write_next():
                        break
                self._report_held()
            except Exception:  # a bug of ours must not stop every later write
                log.exception("SQLite writer: unexpected error; carrying on")
                self._retry_delay = max(self._retry_delay, self.config.flush_interval)
        await self._final_flush()

    def _next_wait(self) -> float:
        """How long the writer sleeps unless woken: ``flush_interval``, or, with rows left that
        came while the last batch was written, ``catch_up_interval``."""
        config = self.config
        if self._pending:
            return min(config.flush_interval, config.catch_up_interval)
        return config.flush_interval

    async def _final_flush(self) -> None:
        """Write what is queued until the close deadline; a try is only started while there is
        time for it to wait out a lock (``busy_timeout``)."""
        while self._pending:
            if self._deadline - time.monotonic() <= self.config.busy_timeout:
                return
            if not await self._write_next():
                pause = min(self._retry_delay, self._deadline - time.monotonic())
                if pause > 0:
                    await asyncio.sleep(pause)

    async def flush(self) -> None:
        """Commit everything queued so far, in batches of ``batch_size`` rows.

        A transient failure is retried (with the writer's pause) for up to ``close_timeout``;
        past that :class:`StorageUnavailable` is raised and the rows stay queued.
        """
        give_up = time.monotonic() + self.config.close_timeout
        while self._pending:
            if await self._write_next():
                continue
            if time.monotonic() >= give_up:
                raise StorageUnavailable(
                    f"{self.path}: {len(self._pending)} rows not written: {self.last_error}"
                )
            await asyncio.sleep(min(self._retry_delay, max(0.0, give_up - time.monotonic())))

    async def _write_next(self) -> bool:
        """Write the batch at the head of the queue; False (rows kept) on a transient failure.

        The batch leaves the queue only once it is committed, so a failure or a cancellation
        (close's deadline) loses nothing.
        """
        # Preparing a batch (folding, checking, grouping its rows) takes the event loop's
        # thread for up to a millisecond: let what is already due run first (an order that
        # was just journalled goes to its venue before, not after).
        await asyncio.sleep(0)
        async with self._lock:
            if not self._pending or self._db is None:
                return True
            count = min(len(self._pending), self.config.batch_size)
            batch = self._pending.columns(count)
            started = time.perf_counter()
            try:
                result = await write_batch(self._db, batch, time.time_ns())
            except Exception as exc:
                self._failed(exc, count)
                return False
            self._pending.drop(count)
            self._committed(result, count, started)
            return True

    def _committed(self, result: BatchResult, count: int, started: float) -> None:
        self.rows_written += result.written
        self.rows_settled += count
        self.batches_written += 1
        self.last_flush_ms = (time.perf_counter() - started) * 1000
        if self._outage_since is not None:
            lasted = time.monotonic() - self._outage_since
            self._event(
                "write_recovered",
                f"SQLite writes resumed after {lasted:.1f}s "
                f"({self._outage_failures} failed tries; nothing lost)",
                Severity.INFO,
            )
            self._outage_since = None
            self._outage_failures = 0
        self._retry_delay = 0.0
        for letter in result.dead:
            self._dead_letter(letter, saved=True)
        if result.unsaved:
            try:
                path = spill(self.path, ((d.statement, d.params, d.error) for d in result.unsaved))
            except OSError as exc:
                path = None
                log.error(
                    "SQLite: %d rows could not be saved anywhere: %s", len(result.unsaved), exc
                )
            for letter in result.unsaved:
                self._dead_letter(letter, saved=False, path=path)
        if self.journal is not None:
            self.journal.settled(self.rows_settled)
        self._release_waiters()

    def _failed(self, exc: BaseException, count: int) -> None:
        self.write_errors += 1
        self._outage_failures += 1
        self.last_error = describe(exc)
        base = self.config.flush_interval
        self._retry_delay = min(max(base, self._retry_delay * 2), MAX_RETRY_DELAY_S)
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.error(
                "SQLite write of %d rows failed (%s); kept and retried", count, self.last_error
            )
        else:
            log.debug("SQLite write still failing: %s", self.last_error)
        if self._throttle.offer(OUTAGE):
            self._event(
                "write_failed",
                f"SQLite write failed: {self.last_error}; {len(self._pending)} rows kept, "
                f"retrying with a growing pause (at most {MAX_RETRY_DELAY_S:g}s)",
                Severity.ERROR,
            )

    def _dead_letter(self, letter: DeadLetter, *, saved: bool, path: Path | None = None) -> None:
        self.dead_letters += 1
        count = self._throttle.offer(letter.table)
        if not count:
            return
        where = "in dead_letters" if saved else f"in {path or 'the log'} (dead_letters refused it)"
        more = f" (and {count - 1} more since the last report)" if count > 1 else ""
        message = f"a row for {letter.table} was put aside {where}: {letter.error}{more}"
        log.warning("%s", message)
        self._event("dead_letter", message, Severity.WARNING)

    def _report_held(self) -> None:
        """Counts the throttle held back, once their interval is over."""
        for key, count in self._throttle.due().items():
            if key == OUTAGE:
                if self._outage_since is not None:
                    message = f"SQLite writes still failing ({count} more): {self.last_error}"
                    self._event("write_failed", message, Severity.ERROR)
                continue
            message = f"{count} more rows for {key} were put aside in dead_letters"
            log.warning("%s", message)
            self._event("dead_letter", message, Severity.WARNING)

    def _event(self, kind: str, message: str, severity: Severity) -> None:
        event = SystemEvent(
            ts_exchange=0,
            ts_recv=time.time_ns(),
            source="storage",
            kind=kind,
            message=excerpt(message, 500, quote=False),
            severity=severity,
        )
        if self._report is not None:
            try:
                self._report(event)
            except Exception:  # the event is lost, not the rows: say so in the log
                log.exception("SQLite: could not report %s: %s", kind, message)
        elif self._db is not None:
            row = (event.ts_recv, event.source, event.kind, str(severity), "", event.message)
            self._enqueue(statements.SYSTEM_EVENT, row)

    def _release_waiters(self, error: BaseException | None = None) -> None:
        waiters = self._waiters
        while waiters and (error is not None or waiters[0][0] <= self.rows_settled):
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def close(self) -> int:
        """Stop the writer after committing what it can within ``close_timeout``.

        Always returns by then (plus, at worst, one write's ``busy_timeout``). Rows not written
        are appended to ``unwritten_path`` and logged; returns how many.
        """
        if self._closing and self._db is None:
            return self.unwritten
        self._closing = True
        self._deadline = time.monotonic() + self.config.close_timeout
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=self.config.close_timeout)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await self._task
                except Exception:
                    log.exception("SQLite writer failed")
            self._task = None
        for key, count in self._throttle.held().items():
            log.warning("SQLite: %d more %s not reported as events", count, key)
        self._save_unwritten()
        if self.journal is not None:
            if not self._pending and not self.unwritten:
                self.journal.clear()  # everything is in SQLite; else the next open replays it
            self.journal.close()
        if self._db is not None:
            db, self._db = self._db, None
            try:
                await asyncio.wait_for(db.close(), self.config.busy_timeout + 1.0)
            except Exception as exc:
                log.warning("SQLite close: %s", describe(exc))
        self._release_waiters(RuntimeError("SqliteStore closed before the rows were committed"))
        return self.unwritten

    def _save_unwritten(self) -> None:
        if not self._pending:
            return
        rows = self._pending.take_all()
        self.unwritten += len(rows)
        reason = self.last_error or f"not written within close_timeout {self.config.close_timeout}s"
        try:
            self.unwritten_path = spill(self.path, ((st, p, reason) for st, p in rows))
            where = f"saved to {self.unwritten_path}"
        except OSError as exc:
            where = f"and could not be saved to a file either ({describe(exc)})"
        log.error(
            "SQLite: %d rows could not be written before the %gs deadline (%s); %s",
            len(rows),
            self.config.close_timeout,
            reason,
            where,
        )
