"""The write-behind queue: rows waiting for their commit, oldest first.

Under load the queue holds tens of thousands of rows (an order makes seven: its states, their
history, its fill), each for up to a flush interval. Held as ``(statement, params)`` pairs,
every row would be two objects CPython's cyclic garbage collector tracks and rescans at each
collection until the row is written: a pair holds a :class:`~desk.storage.statements.Statement`
(an object the collector must follow), and a :class:`~desk.storage.statements.Checked` row is a
tuple subclass, which it never lets go of. So the queue keeps the statements, the plain
parameter tuples and the "checked" marks side by side: a tuple of plain values leaves the
collector's view at the first collection it survives, and the statements are the same few
objects for every row. The pairs the writer works on are made when a batch is taken.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from desk.storage.statements import Checked, Statement

Row = tuple[Statement, tuple[Any, ...]]


class RowQueue:
    """A FIFO of rows (see the module docstring); ``len`` and truth as a deque's."""

    __slots__ = ("_checked", "_params", "_statements")

    def __init__(self) -> None:
        self._statements: deque[Statement] = deque()
        self._params: deque[tuple[Any, ...]] = deque()
        self._checked: deque[bool] = deque()

    def __len__(self) -> int:
        return len(self._statements)

    def __bool__(self) -> bool:
        return bool(self._statements)

    def append(self, statement: Statement, params: tuple[Any, ...]) -> int:
        """Queue one row; how many are queued now."""
        checked = type(params) is Checked
        statements = self._statements
        statements.append(statement)
        self._params.append(tuple(params) if checked else params)
        self._checked.append(checked)
        return len(statements)

    def head(self, count: int) -> list[Row]:
        """The oldest ``count`` rows, still queued (a :class:`Checked` row comes back as one)."""
        return [
            (statement, Checked(params) if checked else params)
            for statement, params, checked in zip(
                islice(self._statements, count),
                islice(self._params, count),
                islice(self._checked, count),
                strict=True,
            )
        ]

    def drop(self, count: int) -> None:
        """Forget the oldest ``count`` rows (committed)."""
        for queue in (self._statements, self._params, self._checked):
            for _ in range(count):
                queue.popleft()

    def take_all(self) -> list[Row]:
        """Every row, oldest first; the queue is empty after."""
        rows = self.head(len(self))
        for queue in (self._statements, self._params, self._checked):
            queue.clear()
        return rows
