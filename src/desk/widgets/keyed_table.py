"""A DataTable with fixed-width columns that is updated by row key, one changed cell at a time.

Sampled tables (feeds, queues, process) keep their shape and change a few numbers per refresh.
Re-measuring a column (``update_width=True``) or clearing the table at 10 Hz costs a relayout
every time; this keeps the last value of every cell and touches only cells whose text changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widgets import DataTable


@dataclass(frozen=True, slots=True)
class Column:
    """``drop``: 0 = always shown; higher numbers are dropped first when the table is narrow
    (only ``FitTable`` drops columns)."""

    key: str
    label: str
    width: int
    right: bool = False
    drop: int = 0


Cell = str | Text


class KeyedTable(DataTable[Cell], can_focus=False):
    """Subclasses set ``COLUMNS``; callers hand ``show`` every row by key, each time."""

    COLUMNS: ClassVar[Sequence[Column]] = ()
    # Whether rows must appear in the order ``show`` is given them (a stream, newest on top):
    # a new row that does not go at the bottom then rebuilds the table (DataTable only appends).
    ORDERED: ClassVar[bool] = False

    def __init__(
        self, *, id: str | None = None, show_header: bool = True, cursor: bool = False
    ) -> None:
        """``cursor``: a row cursor a person moves (the table must also be able to focus)."""
        super().__init__(
            id=id,
            show_header=show_header,
            show_cursor=cursor,
            cursor_type="row" if cursor else "none",
            zebra_stripes=False,
        )
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self.cell_updates = 0

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for column in self.COLUMNS:
            label = Text(column.label, justify="right" if column.right else "left")
            self.add_column(label, width=column.width, key=column.key)

    def show(self, rows: Mapping[str, Sequence[str | Text]]) -> None:
        """Make the table hold exactly ``rows`` (key -> cell texts in column order)."""
        if self.ORDERED and not _appends(list(self._cells), list(rows)):
            self._rebuild_in_order()
        for key in [key for key in self._cells if key not in rows]:
            self.remove_row(key)
            del self._cells[key]
        for key, values in rows.items():
            cells = tuple(
                self._cell(column, value)
                for column, value in zip(self.COLUMNS, values, strict=True)
            )
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            else:
                self._update_changed(key, old, cells)
            self._cells[key] = cells

    def _rebuild_in_order(self) -> None:
        """Empty the rows (not the columns); ``show`` then adds them all in the new order."""
        self.clear()
        self._cells.clear()

    def _update_changed(self, key: str, old: tuple[Cell, ...], new: tuple[Cell, ...]) -> None:
        for column, before, after in zip(self.COLUMNS, old, new, strict=True):
            if not _same(before, after):
                self.update_cell(key, column.key, after)
                self.cell_updates += 1

    @staticmethod
    def _cell(column: Column, value: str | Text) -> Cell:
        if isinstance(value, Text):
            if column.right:
                value.justify = "right"
            return value
        return Text(value, justify="right") if column.right else value

    def cell_text(self, row_key: str, column_key: str) -> str:
        """The plain text shown in one cell (what tests and people read)."""
        index = [column.key for column in self.COLUMNS].index(column_key)
        cell = self._cells[row_key][index]
        return cell.plain if isinstance(cell, Text) else cell


def _appends(old: list[str], new: list[str]) -> bool:
    """Whether ``new`` keeps the kept keys in their order with new keys only after them."""
    kept = set(new)
    survivors = [key for key in old if key in kept]
    return new[: len(survivors)] == survivors


def _same(before: Cell, after: Cell) -> bool:
    """Equal text and styling (rich's Text equality ignores the base style)."""
    if isinstance(before, Text) and isinstance(after, Text):
        return (
            before.plain == after.plain
            and before.style == after.style
            and before.spans == after.spans
        )
    return before == after


class FitTable(KeyedTable):
    """A keyed table whose columns drop (highest ``drop`` first) when its width cannot hold them.

    Rows come as column key -> cell for every column in ``ALL_COLUMNS``; only the columns that
    fit are kept, so an 80-column terminal shows the essentials and a wide one shows all.
    """

    ALL_COLUMNS: ClassVar[Sequence[Column]] = ()
    CELL_PADDING = 2  # DataTable pads every cell by one on each side

    def __init__(
        self, *, id: str | None = None, show_header: bool = True, cursor: bool = False
    ) -> None:
        super().__init__(id=id, show_header=show_header, cursor=cursor)
        self.COLUMNS = tuple(self.ALL_COLUMNS)
        self._records: dict[str, Mapping[str, Cell]] = {}

    def fitting_columns(self, width: int) -> tuple[Column, ...]:
        """The columns that fit in ``width`` cells, dropping the most droppable first."""
        chosen = list(self.ALL_COLUMNS)
        while len(chosen) > 1 and sum(c.width + self.CELL_PADDING for c in chosen) > width:
            worst = max(chosen, key=lambda c: c.drop)
            if worst.drop == 0:
                break
            chosen.remove(worst)
        return tuple(chosen)

    def on_resize(self) -> None:
        if self.size.width:
            self._fit(self.size.width)

    def _fit(self, width: int) -> None:
        columns = self.fitting_columns(width)
        if columns == tuple(self.COLUMNS):
            return
        cursor = self.cursor_row
        self.COLUMNS = columns
        self.clear(columns=True)
        self._cells.clear()
        self._add_columns()
        self.show_records(self._records)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))

    def show_records(self, rows: Mapping[str, Mapping[str, Cell]]) -> None:
        """Make the table hold exactly ``rows`` (key -> column key -> cell)."""
        self._records = dict(rows)
        self.show({key: [record[c.key] for c in self.COLUMNS] for key, record in rows.items()})

    def selected_key(self) -> str | None:
        """The row key under the cursor, or None for an empty table."""
        if not self.row_count or not self.show_cursor:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        return str(self.ordered_rows[row].key.value)
