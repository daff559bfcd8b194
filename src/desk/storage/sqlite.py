"""SQLite storage of desk's records: what each record becomes, and reading them back.

Callers enqueue records without waiting (``record_*``); the write-behind machinery
(write_behind.py) batches them into the file, puts bad rows aside in ``dead_letters``, retries
transient failures and gives up writing at ``close()``'s deadline, saving what is left to a file.

Orders and fills follow the same style. An order must be durable before the venue can know
it (after a crash the restarted OMS then knows every order it ever sent, and a resubmission
stays idempotent): :meth:`SqliteStore.journal_order` writes a new order to the order journal
(journal.py, microseconds) and queues it as usual; :meth:`SqliteStore.open` replays what a
crash left there. With the journal off, the OMS awaits :meth:`SqliteStore.wait_committed`
instead (in the task that sends the order).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import msgspec

from desk.core.events import Candle, SystemEvent
from desk.core.orders import Fill, Order, OrderStatus
from desk.storage import schema, statements
from desk.storage.order_rows import OrderRows
from desk.storage.rows import StoredOrder, fill_from_row, order_from_row
from desk.storage.write_behind import StorageUnavailable, WriteBehind

ZERO = Decimal(0)
_INF = float("inf")
_INT64_MIN, _INT64_END = statements.INT64_MIN, statements.INT64_END

__all__ = ["OPEN_STATUSES", "SqliteStore", "StorageUnavailable"]

OPEN_STATUSES = tuple(str(s) for s in OrderStatus if s.open)


class SqliteStore(WriteBehind):
    """desk's records in one SQLite file (see the module docstring and write_behind.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._order_rows = OrderRows()  # each order's row, built once per state change
        self._prefault_scheduled = False

    def record_candle(self, candle: Candle) -> None:
        if not candle.closed:
            return
        self._enqueue(
            statements.CANDLE,
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
            statements.SYSTEM_EVENT,
            (ts, event.source, event.kind, str(event.severity), event.symbol, event.message),
        )

    def record_instrument(self, instrument: Any) -> None:
        """Upsert an instrument (any object with the Instrument fields)."""
        i = instrument
        self._enqueue(
            statements.INSTRUMENT,
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
        ts, strength, price = s.ts, float(s.strength), float(s.price)
        row = (
            ts,
            recorded_ns,
            bot_id,
            s.symbol,
            s.timeframe,
            s.strategy,
            str(s.direction),
            strength,
            price,
            _json(s.indicators),  # valid JSON: encoded here
            s.reason,
            str(fate),
            order_id,
        )
        # The writer's checks, on the typed values (a signal a frame: the writer would check
        # each at its batch, a few microseconds a row, all of them in one go on the loop).
        sound = (
            type(ts) is int
            and _INT64_MIN <= ts < _INT64_END
            and type(recorded_ns) is int
            and _INT64_MIN <= recorded_ns < _INT64_END
            and -_INF < strength < _INF
            and 0 <= price < _INF
            and type(bot_id) is str
            and type(row[3]) is str
            and type(row[4]) is str
            and type(row[5]) is str
            and type(row[10]) is str
            and type(order_id) is str
        )
        self._enqueue(statements.BOT_SIGNAL, row, sound)

    def record_bot_event(
        self, *, ts_ns: int, bot_id: str, kind: str, detail: dict[str, Any], actor: str
    ) -> None:
        """Store one change to a bot; ``detail`` as JSON, ``actor`` "operator" or "system"."""
        self._enqueue(statements.BOT_EVENT, (ts_ns, bot_id, kind, _json(detail), actor))

    def upsert_bot(
        self, *, bot_id: str, config: dict[str, Any], state: str, mode: str, updated_ns: int
    ) -> None:
        """Insert or replace a bot's configuration and its last state and mode."""
        self._enqueue(statements.BOT, (bot_id, _json(config), str(state), str(mode), updated_ns))

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

    # ---- state that must survive a restart (execution: risk, breakers) ----

    def record_risk_state(
        self,
        *,
        component: str,
        state: str,
        reason: str,
        actor: str,
        since_ns: int,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Store a component's current state (``risk``, ``breaker:okx``), replacing the last.

        Written at once (the writer is woken), not at the next ``flush_interval``.
        """
        row = (component, str(state), reason, actor, since_ns, _json(detail or {}))
        self._enqueue(statements.RISK_STATE, row)
        self._wake.set()

    async def load_risk_states(self) -> dict[str, dict[str, Any]]:
        """Every stored component state: component -> ``state``, ``reason``, ``actor``,
        ``since_ns``, ``detail`` (dict)."""
        sql = "SELECT component, state, reason, actor, since_ns, detail FROM risk_state"
        return {
            component: {
                "state": state,
                "reason": reason,
                "actor": actor,
                "since_ns": since_ns,
                "detail": msgspec.json.decode(detail),
            }
            for component, state, reason, actor, since_ns, detail in await self._fetch(sql, ())
        }

    async def load_dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` rows put aside, oldest first: ``ts_ns``, ``table``, ``row``
        (dict), ``error``."""
        sql = "SELECT ts_ns, table_name, row, error FROM dead_letters ORDER BY id DESC LIMIT ?"
        rows = await self._fetch(sql, (limit,))
        return [
            {"ts_ns": ts, "table": table, "row": msgspec.json.decode(row), "error": error}
            for ts, table, row, error in reversed(rows)
        ]

    # ---- orders and fills (execution/oms.py) ----

    def record_order(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> None:
        """Insert or update an order's latest state (keyed by ``client_order_id``)."""
        row, sound = self._order_rows.plain(order, reduce_only, notional, updated_ns)
        self._enqueue(statements.ORDER, row, sound)

    def record_order_state(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> None:
        """:meth:`record_order`, then its history row as :meth:`record_order_event` would
        write it (at ``updated_ns``, with the order's status, filled and reason): one call, and
        the history row reuses the order row's text of the status and filled size."""
        row, sound = self._order_rows.plain(order, reduce_only, notional, updated_ns)
        self._enqueue(statements.ORDER, row, sound)
        self._enqueue_event(order, row, sound, updated_ns)

    def _enqueue_event(
        self, order: Order, row: tuple[Any, ...], sound: bool, updated_ns: int
    ) -> None:
        """The history row of ``order``'s state whose order row is ``row``."""
        reason = order.reason
        if sound and type(reason) is str:
            # The order row passed: filled is a finite Decimal >= 0 and updated_ns an int.
            event = (updated_ns, row[0], row[14], row[9], reason)
            self._enqueue(statements.ORDER_EVENT, event, True)
        else:
            self.record_order_event(
                ts_ns=updated_ns,
                client_order_id=order.client_order_id,
                status=str(order.status),
                filled=order.filled,
                reason=reason,
            )

    def journal_order(
        self, order: Order, *, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> bool:
        """:meth:`record_order_state` (both rows queued), and first the order row to the order
        journal, so that it survives a crash of this process from now on. False (only queued)
        when the journal is off: the caller must then :meth:`wait_committed`. Raises
        :class:`~desk.storage.journal.JournalError` (nothing queued) if the write failed."""
        row, sound = self._order_rows.plain(order, reduce_only, notional, updated_ns)
        journal = self.journal
        journalled = False
        if journal is not None and journal.is_open:
            if self._closing and self._db is None:
                raise RuntimeError("SqliteStore is closed")
            journal.append(row, self.rows_enqueued + 1)
            journalled = True
            if not self._prefault_scheduled and journal.wants_prefault:
                # After what is due already (this order's send among it), not before; once,
                # however many orders come before it runs.
                self._prefault_scheduled = True
                asyncio.get_running_loop().call_later(0, self._prefault_journal)
        self._enqueue(statements.ORDER, row, sound)
        self._enqueue_event(order, row, sound, updated_ns)
        return journalled

    def _prefault_journal(self) -> None:
        self._prefault_scheduled = False
        if self.journal is not None:
            self.journal.prefault()

    def record_order_event(
        self, *, ts_ns: int, client_order_id: str, status: str, filled: Decimal, reason: str
    ) -> None:
        """Append one state change of an order to its history."""
        row = (ts_ns, client_order_id, str(status), str(filled), reason)
        sound = _at_least(filled, ZERO) and type(ts_ns) is int and type(reason) is str
        self._enqueue(statements.ORDER_EVENT, row, sound)

    def record_fill(self, fill: Fill) -> None:
        """Store a fill; another with the same (venue, client_order_id, trade_id) is ignored."""
        f = fill
        row = (
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
        )
        sound = _above(f.price, ZERO) and _above(f.size, ZERO) and _finite(f.fee)
        self._enqueue(statements.FILL, row, sound)

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


def _finite(value: Any) -> bool:
    return type(value) is Decimal and value.is_finite()


def _at_least(value: Any, floor: Decimal) -> bool:
    return type(value) is Decimal and value.is_finite() and value >= floor


def _above(value: Any, floor: Decimal) -> bool:
    return type(value) is Decimal and value.is_finite() and value > floor


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
