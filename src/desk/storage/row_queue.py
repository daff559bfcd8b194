"""The write-behind queue: rows waiting for their commit, oldest first.

Under load the queue holds tens of thousands of rows (an order makes seven: its states, their
history, its fill), each for up to a flush interval. Held as ``(statement, params)`` pairs,
every row would be two objects CPython's cyclic garbage collector tracks and rescans at each
collection until the row is written: a pair holds a :class:`~desk.storage.statements.Statement`
(an object the collector must follow), and a :class:`~desk.storage.statements.Checked` row is a
tuple subclass, which it never lets go of. So the queue keeps the statements, the plain
parameter tuples and the "checked" marks side by side: a tuple of plain values leaves the
collector's view at the first collection it survives, and the statements are the same few
objects for every row. The writer takes a batch as the three columns (writer.py ``prepare``).

A builder that held its row to the statement's checks says so with ``checked`` (or hands a
:class:`~desk.storage.statements.Checked` row): the writer does not check it again.
"""

from __future__ import annotations

from typing import Any

from desk.storage.statements import Checked, Statement

Row = tuple[Statement, tuple[Any, ...]]
Columns = tuple[list[Statement], list[tuple[Any, ...]], list[bool]]


class RowQueue:
    """A FIFO of rows (see the module docstring); ``len`` and truth as a list's.

    Three lists side by side from ``_start`` on: a batch is three slices, and dropping it
    moves ``_start`` (the lists are cut once half of them is dropped rows), so neither takes a
    Python step per row.
    """

    __slots__ = ("_checked", "_compact_at", "_params", "_start", "_statements")

    def __init__(self, compact_at: int = 4096) -> None:
        self._compact_at = compact_at
        """Dropped rows are cut from the lists once there are this many and they are half."""
        self._statements: list[Statement] = []
        self._params: list[tuple[Any, ...]] = []
        self._checked: list[bool] = []
        self._start = 0

    def __len__(self) -> int:
        return len(self._statements) - self._start

    def __bool__(self) -> bool:
        return len(self._statements) > self._start

    def append(self, statement: Statement, params: tuple[Any, ...], checked: bool = False) -> int:
        """Queue one row (``checked``: held to its statement's checks already, as a
        :class:`Checked` row is); how many are queued now."""
        if type(params) is Checked:
            params = tuple(params)
            checked = True
        statements = self._statements
        statements.append(statement)
        self._params.append(params)
        self._checked.append(checked)
        return len(statements) - self._start

    def columns(self, count: int) -> Columns:
        """The oldest ``count`` rows, still queued: their statements, parameters and checked
        marks (what the writer works on)."""
        start = self._start
        end = start + count
        return self._statements[start:end], self._params[start:end], self._checked[start:end]

    def head(self, count: int) -> list[Row]:
        """The oldest ``count`` rows, still queued (a :class:`Checked` row comes back as one)."""
        statements, params, checked = self.columns(count)
        return [
            (statement, Checked(values) if is_checked else values)
            for statement, values, is_checked in zip(statements, params, checked, strict=True)
        ]

    def drop(self, count: int) -> None:
        """Forget the oldest ``count`` rows (committed)."""
        start = self._start = min(self._start + count, len(self._statements))
        if start >= self._compact_at and 2 * start >= len(self._statements):
            for column in (self._statements, self._params, self._checked):
                del column[:start]
            self._start = 0

    def take_all(self) -> list[Row]:
        """Every row, oldest first; the queue is empty after."""
        rows = self.head(len(self))
        for column in (self._statements, self._params, self._checked):
            column.clear()
        self._start = 0
        return rows
