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
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from desk.core.excerpt import EXCERPT_CHARS, excerpt
from desk.storage.statements import DEAD_LETTER, Checked, Statement

Row = tuple[Statement, tuple[Any, ...]]

"""Strings of outside data in a dead letter or an event are cut to this, with their length."""

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


def split_valid(batch: Iterable[Row]) -> tuple[list[Row], list[DeadLetter]]:
    """The rows that pass their checks, in order, and the ones that do not."""
    good: list[Row] = []
    dead: list[DeadLetter] = []
    for statement, params in batch:
        if type(params) is Checked:  # held to the checks when it was built
            good.append((statement, params))
            continue
        problem = statement.problem(params)
        if problem:
            dead.append(DeadLetter(statement, params, problem))
        else:
            good.append((statement, params))
    return good, dead


async def write_batch(db: aiosqlite.Connection, batch: list[Row], now_ns: int) -> BatchResult:
    """Write ``batch`` in one transaction (see the module docstring); raises transient errors
    with nothing written."""
    good, dead = split_valid(latest_only(batch))
    try:
        await _execute_runs(db, good)
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
        return BatchResult(written=len(good), unsaved=dead)
    return BatchResult(written=len(good), dead=dead)


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


async def _execute_runs(db: aiosqlite.Connection, rows: list[Row]) -> None:
    """Each run of one statement as INSERTs of :data:`ROWS_PER_INSERT` rows, the rest one by one.

    The rows go in in their order, as with one INSERT each. SQLite's thread takes the GIL back
    after each statement it steps through, to bind the next one's values: a statement per row
    means a hand-over of the GIL per row, and each can hold up the event loop's thread (an order
    on its way to the venue). A statement per 32 rows hands it over 32 times less often, and
    SQLite runs fewer statements. Two forms per statement only (32 rows, one row), so SQLite's
    cache of prepared statements keeps them all.
    """
    for statement, params in _runs(rows):
        size = ROWS_PER_INSERT
        full = len(params) - len(params) % size
        if full:
            flat = chain.from_iterable
            chunks = [tuple(flat(params[i : i + size])) for i in range(0, full, size)]
            await db.executemany(multi_row_sql(statement.sql, size), chunks)
        if full < len(params):
            await db.executemany(statement.sql, params[full:])


async def _execute_each(
    db: aiosqlite.Connection, rows: list[Row]
) -> tuple[list[Row], list[DeadLetter]]:
    """Each row on its own; a transient error is raised (after a rollback)."""
    written: list[Row] = []
    refused: list[DeadLetter] = []
    for statement, params in rows:
        try:
            await db.execute(statement.sql, params)
        except Exception as exc:
            if is_transient(exc):
                await _rollback(db)
                raise
            refused.append(DeadLetter(statement, params, f"SQLite refused it: {describe(exc)}"))
        else:
            written.append((statement, params))
    return written, refused


async def _rollback(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except sqlite3.Error:
        pass  # nothing to roll back, or the connection is gone: the next write will say


def latest_only(batch: list[Row]) -> list[Row]:
    """``batch`` with the rows of a ``latest_by`` statement folded per key: the last row of a
    key (each is the whole latest state; the earlier ones would be overwritten in the same
    transaction) in the place of the first (so a new row is inserted in its turn: rowids keep
    the order rows came in). Checked and written are only the rows that count."""
    latest: dict[tuple[Statement, Any], Row] = {}
    folded = False
    for row in batch:
        statement, params = row
        key = statement.latest_by
        if key is not None and len(params) > key:
            folded |= (statement, params[key]) in latest
            latest[statement, params[key]] = row
    if not folded:
        return batch
    out: list[Row] = []
    for row in batch:
        statement, params = row
        key = statement.latest_by
        if key is None or len(params) <= key:
            out.append(row)
            continue
        last = latest.pop((statement, params[key]), None)
        if last is not None:  # the first row of its key: the last one goes here
            out.append(last)
    return out


def _runs(rows: list[Row]) -> list[tuple[Statement, list[tuple[Any, ...]]]]:
    """The rows of each statement, in their order, so each statement is one executemany.

    The OMS interleaves statements (an order row, its history row, a fill ...): one call per
    run of one statement would be one call to SQLite's thread per row. Regrouping is safe
    inside the one transaction: each statement writes its own table, no table's rows depend on
    another's (no triggers, no foreign keys), and the rows of one statement keep their order
    (autoincrement ids follow the order they came in).
    """
    groups: dict[Statement, list[tuple[Any, ...]]] = {}
    for statement, params in rows:
        group = groups.get(statement)
        if group is None:
            groups[statement] = [params]
        else:
            group.append(params)
    return list(groups.items())


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
