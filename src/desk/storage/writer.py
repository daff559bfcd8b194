"""One batch of rows -> one SQLite transaction, whatever is wrong with some of its rows.

* A row whose values fail their statement's checks (statements.py) is not sent to SQLite: it
  becomes a dead letter (``dead_letters``: the table, the row as JSON, the reason, the time).
* The valid rows go in with one ``executemany`` per run of rows of one statement. If SQLite
  refuses that (a constraint, a value it cannot bind), the transaction is rolled back and the
  rows are written again one by one: each statement is atomic in SQLite (a failed statement
  backs out its own changes and leaves the transaction open), so the rows before and after a
  bad one land and the bad one becomes a dead letter with SQLite's reason.
* A transient error (database locked or busy, disk I/O, disk full) rolls the transaction back
  and is raised: nothing of the batch is written, and the caller keeps the rows and retries.

The store (sqlite.py) owns the queue, the retries and the deadline; this module owns the rules.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from desk.core.excerpt import EXCERPT_CHARS, excerpt
from desk.storage.statements import DEAD_LETTER, Statement

# SQLite primary result codes that say "try again later", not "this row is wrong".
_TRANSIENT_CODES = frozenset(
    {
        5,  # SQLITE_BUSY
        6,  # SQLITE_LOCKED
        7,  # SQLITE_NOMEM
        10,  # SQLITE_IOERR
        13,  # SQLITE_FULL
        14,  # SQLITE_CANTOPEN
        15,  # SQLITE_PROTOCOL
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's trouble (retry later) rather than a row's."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code >= 0:
        return (code & 0xFF) in _TRANSIENT_CODES
    message = str(exc).lower()
    return any(word in message for word in ("locked", "busy", "disk i/o", "disk is full"))


def describe(exc: BaseException) -> str:
    return excerpt(f"{type(exc).__name__}: {exc}", quote=False)


def _jsonable(value: Any, limit: int | None) -> Any:
    """A value JSON can carry: non-finite floats and odd types as strings, long strings cut."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).hex()
    elif not isinstance(value, str):
        value = repr(value)
    return value if limit is None else excerpt(value, limit, quote=False)


def row_json(
    statement: Statement, params: tuple[Any, ...], limit: int | None = EXCERPT_CHARS
) -> str:
    """The row as a JSON object of column -> value (see :func:`_jsonable`)."""
    named = statement.as_dict(params)
    return msgspec.json.encode({k: _jsonable(v, limit) for k, v in named.items()}).decode()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A row put aside, and why."""

    statement: Statement
    params: tuple[Any, ...]
    error: str

    @property
    def table(self) -> str:
        return self.statement.table

    def values(self, ts_ns: int) -> tuple[Any, ...]:
        return (
            ts_ns,
            self.table,
            row_json(self.statement, self.params),
            excerpt(self.error, quote=False),
        )


@dataclass(slots=True)
class BatchResult:
    """What one committed batch did: rows stored, rows put aside.

    ``unsaved`` are dead letters the ``dead_letters`` table itself refused (they go to a file).
    """

    written: int
    dead: list[DeadLetter] = field(default_factory=list)
    unsaved: list[DeadLetter] = field(default_factory=list)


Columns = tuple[list[Statement], list[tuple[Any, ...]], list[bool]]
"""A batch as the queue holds it (row_queue.py): each row's statement, its parameters, and
whether its builder held it to the checks already."""


Groups = dict[Statement, list[tuple[Any, ...]]]
"""A batch's rows to write, per statement, each statement's rows in their order."""


def prepare(batch: Columns) -> tuple[Groups, list[DeadLetter]]:
    """The rows to write, grouped per statement, and the ones put aside (their checks failed).

    The rows of a ``latest_by`` statement are folded per key first: the last row of a key (each
    is the whole latest state; the earlier ones would be overwritten in the same transaction)
    in the place of the first (so a new row is inserted in its turn: rowids keep the order rows
    came in). Checked are only the rows that count, and not those whose builder checked them.

    Grouped, each statement is one executemany: the OMS interleaves statements (an order row,
    its history row, a fill ...), and one call per run of one statement would be one call to
    SQLite's thread per row. Regrouping is safe inside the one transaction: each statement
    writes its own table, no table's rows depend on another's (no triggers, no foreign keys),
    and the rows of one statement keep their order (autoincrement ids follow the order they
    came in). Two passes over the batch, on the event loop's thread: this runs for every row.
    """
    if all(batch[2]):
        groups = _group_checked(batch)
        if groups is not None:
            return groups, []
    rows: list[tuple[Statement, tuple[Any, ...], bool]] = []
    first: dict[tuple[Statement, Any], int] = {}  # (statement, key) -> where its row goes
    append = rows.append
    for statement, params, checked in zip(*batch, strict=True):
        key = statement.latest_by
        if key is not None and len(params) > key:
            at = first.setdefault((statement, params[key]), len(rows))
            if at < len(rows):
                rows[at] = (statement, params, checked)
                continue
        append((statement, params, checked))
    groups: Groups = {}
    dead: list[DeadLetter] = []
    for statement, params, checked in rows:
        if not checked:
            problem = statement.problem(params)
            if problem:
                dead.append(DeadLetter(statement, params, problem))
                continue
        group = groups.get(statement)
        if group is None:
            groups[statement] = [params]
        else:
            group.append(params)
    return groups, dead


def _group_checked(batch: Columns) -> Groups | None:
    """:func:`prepare` of a batch whose rows were all checked already (the usual one): one
    pass. A ``latest_by`` statement's rows go through a dict by key, which keeps where a key
    came first and takes each later row of it: the last row in the place of the first. None
    for a row without its key (the two-pass way deals with it)."""
    groups: dict[Statement, Any] = {}
    for statement, params in zip(batch[0], batch[1], strict=True):
        key = statement.latest_by
        group = groups.get(statement)
        if key is None:
            if group is None:
                groups[statement] = [params]
            else:
                group.append(params)
        elif len(params) <= key:
            return None
        elif group is None:
            groups[statement] = {params[key]: params}
        else:
            group[params[key]] = params
    for statement, group in groups.items():
        if type(group) is dict:
            groups[statement] = list(group.values())
    return groups


def _count(groups: Groups) -> int:
    return sum(map(len, groups.values()))


async def write_batch(db: aiosqlite.Connection, batch: Columns, now_ns: int) -> BatchResult:
    """Write ``batch`` in one transaction (see the module docstring); raises transient errors
    with nothing written."""
    good, dead = prepare(batch)
    try:
        await _execute_runs(db, good, commit=not dead)
        if not dead:
            return BatchResult(written=_count(good))
    except Exception as exc:
        await _rollback(db)
        if is_transient(exc):
            raise
        good, refused = await _execute_each(db, good)
        dead += refused
    try:
        if dead:
            await db.executemany(DEAD_LETTER.sql, [letter.values(now_ns) for letter in dead])
        await db.commit()
    except Exception as exc:
        await _rollback(db)
        if is_transient(exc) or not dead:
            raise
        # The dead_letters table itself refused: store the good rows, hand the rest back.
        await _execute_runs(db, good)
        await db.commit()
        return BatchResult(written=_count(good), unsaved=dead)
    return BatchResult(written=_count(good), dead=dead)


ROWS_PER_INSERT = 32
"""Rows bound to one INSERT (``VALUES (...), (...), ...``; 32 x 19 order columns stays under
SQLite's oldest limit of 999 parameters)."""

_VALUES = re.compile(r"VALUES\s*\((?:\s*\?\s*,)*\s*\?\s*\)")
_multi_sql: dict[tuple[str, int], str] = {}


def multi_row_sql(sql: str, rows: int) -> str:
    """``sql`` (an INSERT of one row of ``?``) for ``rows`` rows at once."""
    key = (sql, rows)
    found = _multi_sql.get(key)
    if found is None:
        match = _VALUES.search(sql)
        if match is None:
            raise ValueError(f"not a one-row INSERT: {sql!r}")
        one = match.group(0)[len("VALUES") :].strip()
        values = "VALUES " + ", ".join([one] * rows)
        found = _multi_sql[key] = sql[: match.start()] + values + sql[match.end() :]
    return found


async def _execute_runs(db: aiosqlite.Connection, groups: Groups, *, commit: bool = False) -> None:
    """Each statement's rows as INSERTs of :data:`ROWS_PER_INSERT` rows, the rest one by one;
    then, with ``commit``, the commit: all in one call to SQLite's thread.

    The rows go in in their order, as with one INSERT each. SQLite's thread takes the GIL back
    after each statement it steps through, to bind the next one's values: a statement per row
    means a hand-over of the GIL per row, and each can hold up the event loop's thread (an order
    on its way to the venue). A statement per 32 rows hands it over 32 times less often, and
    SQLite runs fewer statements. Two forms per statement only (32 rows, one row), so SQLite's
    cache of prepared statements keeps them all. The parameters are laid out here, on the event
    loop's thread; SQLite's thread only binds and steps (one trip there and back per batch, not
    one per statement: each trip waits for the other thread to be scheduled).
    """
    plan: list[tuple[str, list[tuple[Any, ...]]]] = []
    for statement, params in groups.items():
        size = ROWS_PER_INSERT
        full = len(params) - len(params) % size
        if full:
            flat = chain.from_iterable
            chunks = [tuple(flat(params[i : i + size])) for i in range(0, full, size)]
            plan.append((multi_row_sql(statement.sql, size), chunks))
        if full < len(params):
            plan.append((statement.sql, params[full:]))
    await run_in_thread(db, _execute_plan, db, plan, commit)


def _execute_plan(
    db: aiosqlite.Connection, plan: list[tuple[str, list[tuple[Any, ...]]]], commit: bool
) -> None:
    """On SQLite's thread: every statement of ``plan`` (and the commit)."""
    conn = db._conn  # the sqlite3 connection, on its own thread
    for sql, params in plan:
        conn.executemany(sql, params)
    if commit:
        conn.commit()


async def run_in_thread(db: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on the connection's own thread, after what is queued there.

    aiosqlite runs every call on that thread this way; it has no public name for it.
    """
    return await db._execute(fn, *args)


async def _execute_each(
    db: aiosqlite.Connection, groups: Groups
) -> tuple[Groups, list[DeadLetter]]:
    """Each row on its own; a transient error is raised (after a rollback)."""
    written: Groups = {}
    refused: list[DeadLetter] = []
    for statement, rows in groups.items():
        for params in rows:
            try:
                await db.execute(statement.sql, params)
            except Exception as exc:
                if is_transient(exc):
                    await _rollback(db)
                    raise
                problem = f"SQLite refused it: {describe(exc)}"
                refused.append(DeadLetter(statement, params, problem))
            else:
                written.setdefault(statement, []).append(params)
    return written, refused


async def _rollback(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except sqlite3.Error:
        pass  # nothing to roll back, or the connection is gone: the next write will say


def spill(database: Path, rows: Iterable[tuple[Statement, tuple[Any, ...], str]]) -> Path:
    """Append rows SQLite did not take to a JSON-lines file beside the database (full values:
    this is what is left of them). One line per row: table, row, error. The file's path."""
    path = database.with_name(f"{database.name}.unwritten.jsonl")
    with path.open("a", encoding="utf-8") as out:
        for statement, params, error in rows:
            line = {
                "ts_ns": time.time_ns(),
                "table": statement.table,
                "row": msgspec.json.decode(row_json(statement, params, limit=None)),
                "error": error,
            }
            out.write(msgspec.json.encode(line).decode() + "\n")
    return path


class EventThrottle:
    """At most one report per key per ``interval_s``: the first at once; later ones are counted
    and the count goes out with the next report (or with :meth:`due` once the interval is over).
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def offer(self, key: str, now: float | None = None) -> int:
        """How many occurrences to report now (this one included), 0 to stay quiet."""
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return 0
        self._last[key] = now
        return self._held.pop(key, 0) + 1

    def due(self, now: float | None = None) -> dict[str, int]:
        """Held counts whose interval is over (they are reported now and reset)."""
        now = time.monotonic() if now is None else now
        out = {}
        for key, count in list(self._held.items()):
            if now - self._last.get(key, -math.inf) >= self.interval_s:
                out[key] = count
                self._last[key] = now
                del self._held[key]
        return out

    def held(self) -> dict[str, int]:
        """Counts not yet reported."""
        return dict(self._held)
