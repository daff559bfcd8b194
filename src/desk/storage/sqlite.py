"""SQLite write-behind: callers enqueue records without waiting; one writer task batches them.

The hot path never touches the database: ``record_*`` only appends a row to an in-memory batch.
A single task commits batches of up to ``batch_size`` rows every ``flush_interval`` seconds in
one transaction (WAL mode, so readers never block the writer). Records are never dropped: if the
backlog passes ``queue_size`` it keeps growing and ``over_bound`` counts it, for the health screen.
``close()`` flushes everything before returning.

Orders and fills follow the same style. The one exception to "never wait" is
:meth:`SqliteStore.wait_committed`, which the OMS awaits (off the hot path, in the task that
sends an order) so that an order is on disk before the venue can know it: after a crash the
restarted OMS then knows every order it ever sent, and a resubmission stays idempotent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from desk.core.events import Candle, SystemEvent
from desk.core.orders import Fill, Order, OrderStatus
from desk.storage import schema
from desk.storage.config import StorageConfig
from desk.storage.rows import StoredOrder, fill_from_row, order_from_row

log = logging.getLogger(__name__)

Row = tuple[str, tuple[Any, ...]]

OPEN_STATUSES = tuple(str(s) for s in OrderStatus if s.open)


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
        self.rows_enqueued = 0
        # (rows that must be written, future) per waiter, smallest target first: a commit wakes
        # only the waiters it satisfies, so thousands of waiting orders cost one pop each.
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_ids = itertools.count()

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
        self.rows_enqueued += 1
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

    # ---- orders and fills (execution/oms.py) ----

    def record_order(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> None:
        """Insert or update an order's latest state (keyed by ``client_order_id``)."""
        o = order
        self._enqueue(
            schema.UPSERT_ORDER,
            (
                o.client_order_id,
                o.venue_order_id,
                o.venue,
                o.bot_id,
                o.symbol,
                str(o.side),
                str(o.order_type),
                None if o.price is None else str(o.price),
                str(o.size),
                str(o.filled),
                str(o.avg_price),
                str(notional),
                str(o.fee),
                o.fee_ccy,
                str(o.status),
                o.reason,
                int(reduce_only),
                o.created_ns,
                updated_ns,
            ),
        )

    def record_order_event(
        self, *, ts_ns: int, client_order_id: str, status: str, filled: Decimal, reason: str
    ) -> None:
        """Append one state change of an order to its history."""
        self._enqueue(
            schema.INSERT_ORDER_EVENT, (ts_ns, client_order_id, str(status), str(filled), reason)
        )

    def record_fill(self, fill: Fill) -> None:
        """Store a fill; another with the same (venue, client_order_id, trade_id) is ignored."""
        f = fill
        self._enqueue(
            schema.INSERT_FILL,
            (
                f.ts_exchange,
                f.ts_recv,
                f.venue,
                f.client_order_id,
                f.trade_id,
                f.venue_order_id,
                f.bot_id,
                f.symbol,
                str(f.side),
                str(f.price),
                str(f.size),
                str(f.fee),
                f.fee_ccy,
                str(f.liquidity),
            ),
        )

    async def load_open_orders(self) -> list[StoredOrder]:
        """Every order not in a terminal state, oldest first (what a restart must know)."""
        marks = ", ".join("?" for _ in OPEN_STATUSES)
        return await self._load_orders(
            f"WHERE status IN ({marks}) ORDER BY created_ns, rowid", OPEN_STATUSES
        )

    async def load_orders(
        self, *, since_ns: int = 0, limit: int | None = None
    ) -> list[StoredOrder]:
        """Orders created at or after ``since_ns``, oldest first; the newest ``limit`` if given."""
        if limit is None:
            return await self._load_orders(
                "WHERE created_ns >= ? ORDER BY created_ns, rowid", (since_ns,)
            )
        rows = await self._load_orders(
            "WHERE created_ns >= ? ORDER BY created_ns DESC, rowid DESC LIMIT ?", (since_ns, limit)
        )
        rows.reverse()
        return rows

    async def load_order_events(self, client_order_id: str) -> list[dict[str, Any]]:
        """One order's state changes, oldest first (ts_ns, status, filled, reason)."""
        sql = (
            "SELECT ts_ns, status, filled, reason FROM order_events "
            "WHERE client_order_id = ? ORDER BY id"
        )
        rows = await self._fetch(sql, (client_order_id,))
        return [
            {"ts_ns": ts, "status": OrderStatus(st), "filled": Decimal(filled), "reason": reason}
            for ts, st, filled, reason in rows
        ]

    async def load_fills(self, *, since_ns: int = 0, limit: int | None = None) -> list[Fill]:
        """Fills received at or after ``since_ns`` in the order they were stored (the order they
        were applied); the newest ``limit`` if given."""
        sql = f"SELECT {schema.FILL_COLUMNS} FROM fills WHERE ts_recv >= ?"
        if limit is None:
            rows = await self._fetch(sql + " ORDER BY id", (since_ns,))
        else:
            rows = await self._fetch(sql + " ORDER BY id DESC LIMIT ?", (since_ns, limit))
            rows.reverse()
        return [fill_from_row(row) for row in rows]

    async def _load_orders(self, where: str, params: tuple[Any, ...]) -> list[StoredOrder]:
        rows = await self._fetch(f"SELECT {schema.ORDER_COLUMNS} FROM orders {where}", params)
        return [order_from_row(row) for row in rows]

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """Read after flushing queued writes, so a caller reads its own writes."""
        if self._db is None:
            raise RuntimeError("SqliteStore is not open")
        await self.flush()
        async with self._db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def wait_committed(self, upto: int | None = None) -> None:
        """Return once every row recorded before this call (or the first ``upto`` rows ever
        recorded, see ``rows_enqueued``) is committed.

        Wakes the writer at once rather than waiting for ``flush_interval``.
        """
        if self._db is None:
            raise RuntimeError("SqliteStore is not open")
        target = self.rows_enqueued if upto is None else upto
        if self.rows_written >= target:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target, next(self._waiter_ids), future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            # One turn of the loop first: the rows of everything that is ready to run join this
            # commit instead of each paying for a transaction of its own.
            await asyncio.sleep(0)
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
        self._release_waiters()

    def _release_waiters(self, error: BaseException | None = None) -> None:
        waiters = self._waiters
        while waiters and (error is not None or waiters[0][0] <= self.rows_written):
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

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
        self._release_waiters(RuntimeError("SqliteStore closed before the rows were committed"))


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
