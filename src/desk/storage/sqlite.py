"""SQLite write-behind: callers enqueue records without waiting; one writer task batches them.

The hot path never touches the database: ``record_*`` only appends a row to an in-memory batch.
A single task commits batches of up to ``batch_size`` rows every ``flush_interval`` seconds in
one transaction (WAL mode, so readers never block the writer). Records are never dropped: if the
backlog passes ``queue_size`` it keeps growing and ``over_bound`` counts it, for the health screen.
``close()`` flushes everything before returning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from desk.config import StorageConfig
from desk.core.events import Candle, SystemEvent
from desk.storage import schema

log = logging.getLogger(__name__)

Row = tuple[str, tuple[Any, ...]]


class SqliteStore:
    """Owns the SQLite file and its one writer task."""

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.path = Path(config.sqlite_path)
        self._db: aiosqlite.Connection | None = None
        self._pending: deque[Row] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.rows_written = 0
        self.batches_written = 0
        self.over_bound = 0
        self.write_errors = 0
        self.last_flush_ms = 0.0

    @property
    def backlog(self) -> int:
        """Rows queued but not yet committed."""
        return len(self._pending)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.executescript(schema.SCHEMA)
        async with self._db.execute("SELECT version FROM schema_version") as cur:
            row = await cur.fetchone()
        if row is None:
            await self._db.execute(
                "INSERT INTO schema_version (version) VALUES (?)", (schema.SCHEMA_VERSION,)
            )
        elif row[0] != schema.SCHEMA_VERSION:
            await self._db.close()
            self._db = None
            raise RuntimeError(
                f"{self.path}: database schema version {row[0]}, this desk expects "
                f"{schema.SCHEMA_VERSION}"
            )
        await self._db.commit()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-writer")

    def _enqueue(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._closing and self._db is None:
            raise RuntimeError("SqliteStore is closed")
        self._pending.append((sql, params))
        if len(self._pending) > self.config.queue_size:
            self.over_bound += 1
        if len(self._pending) >= self.config.batch_size:
            self._wake.set()

    def record_candle(self, candle: Candle) -> None:
        if not candle.closed:
            return
        self._enqueue(
            schema.UPSERT_CANDLE,
            (
                candle.venue,
                candle.symbol,
                candle.timeframe,
                candle.end,
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                candle.volume,
                candle.quote_volume,
                candle.trades,
            ),
        )

    def record_system_event(self, event: Any) -> None:
        """Store a SystemEvent; other events on the system topic are ignored."""
        if not isinstance(event, SystemEvent):
            return
        ts = event.ts_recv or time.time_ns()
        self._enqueue(
            schema.INSERT_SYSTEM_EVENT,
            (ts, event.source, event.kind, str(event.severity), event.symbol, event.message),
        )

    def record_instrument(self, instrument: Any) -> None:
        """Upsert an instrument (any object with the Instrument fields)."""
        i = instrument
        self._enqueue(
            schema.UPSERT_INSTRUMENT,
            (
                i.venue,
                i.symbol,
                i.base,
                i.quote,
                i.tick_size,
                i.lot_size,
                i.min_size,
                i.state,
                time.time_ns(),
            ),
        )

    # ---- bots (DESIGN.md section 5); plain values, so storage does not import desk.signals ----

    def record_signal(
        self,
        *,
        bot_id: str,
        signal: Any,
        fate: str,
        recorded_ns: int,
        order_id: str = "",
    ) -> None:
        """Store one bot signal (any object with the Signal fields) and what became of it.

        ``indicators`` are stored as JSON (NaN as null).
        """
        s = signal
        self._enqueue(
            schema.INSERT_BOT_SIGNAL,
            (
                s.ts,
                recorded_ns,
                bot_id,
                s.symbol,
                s.timeframe,
                s.strategy,
                str(s.direction),
                float(s.strength),
                float(s.price),
                _json(s.indicators),
                s.reason,
                str(fate),
                order_id,
            ),
        )

    def record_bot_event(
        self, *, ts_ns: int, bot_id: str, kind: str, detail: dict[str, Any], actor: str
    ) -> None:
        """Store one change to a bot; ``detail`` as JSON, ``actor`` "operator" or "system"."""
        self._enqueue(schema.INSERT_BOT_EVENT, (ts_ns, bot_id, kind, _json(detail), actor))

    def upsert_bot(
        self, *, bot_id: str, config: dict[str, Any], state: str, mode: str, updated_ns: int
    ) -> None:
        """Insert or replace a bot's configuration and its last state and mode."""
        self._enqueue(schema.UPSERT_BOT, (bot_id, _json(config), str(state), str(mode), updated_ns))

    async def load_bots(self) -> list[dict[str, Any]]:
        """Every stored bot, oldest first: ``bot_id``, ``config`` (dict), ``state``, ``mode``,
        ``updated_ns``. Flushes queued writes first so it reads its own writes."""
        if self._db is None:
            raise RuntimeError("SqliteStore is not open")
        await self.flush()
        sql = "SELECT bot_id, config, state, mode, updated_ns FROM bots ORDER BY rowid"
        async with self._db.execute(sql) as cur:
            rows = await cur.fetchall()
        return [
            {
                "bot_id": bot_id,
                "config": msgspec.json.decode(config),
                "state": state,
                "mode": mode,
                "updated_ns": updated_ns,
            }
            for bot_id, config, state, mode, updated_ns in rows
        ]

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def flush(self) -> None:
        """Commit everything queued so far, in batches of ``batch_size`` rows."""
        while self._pending:
            count = min(len(self._pending), self.config.batch_size)
            batch = [self._pending.popleft() for _ in range(count)]
            await self._write(batch)

    async def _write(self, batch: list[Row]) -> None:
        assert self._db is not None
        started = time.perf_counter()
        try:
            for sql, rows in _group_by_statement(batch):
                await self._db.executemany(sql, rows)
            await self._db.commit()
        except Exception:
            # Keep the rows: put them back in front and let the next flush retry.
            self.write_errors += 1
            self._pending.extendleft(reversed(batch))
            log.exception("SQLite write of %d rows failed; will retry", len(batch))
            await asyncio.sleep(self.config.flush_interval)
            return
        self.rows_written += len(batch)
        self.batches_written += 1
        self.last_flush_ms = (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        """Stop the writer after committing every queued row."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._db is not None:
            await self.flush()
            await self._db.close()
            self._db = None


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _group_by_statement(batch: list[Row]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Runs of rows sharing one statement, in order, so each run is one executemany."""
    groups: list[tuple[str, list[tuple[Any, ...]]]] = []
    for sql, params in batch:
        if groups and groups[-1][0] == sql:
            groups[-1][1].append(params)
        else:
            groups.append((sql, [params]))
    return groups
