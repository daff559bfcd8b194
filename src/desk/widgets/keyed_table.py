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
    key: str
    label: str
    width: int
    right: bool = False


Cell = str | Text


class KeyedTable(DataTable[Cell], can_focus=False):
    """Subclasses set ``COLUMNS``; callers hand ``show`` every row by key, each time."""

    COLUMNS: ClassVar[Sequence[Column]] = ()

    def __init__(self, *, id: str | None = None, show_header: bool = True) -> None:
        super().__init__(
            id=id,
            show_header=show_header,
            show_cursor=False,
            cursor_type="none",
            zebra_stripes=False,
        )
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self.cell_updates = 0

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            label = Text(column.label, justify="right" if column.right else "left")
            self.add_column(label, width=column.width, key=column.key)

    def show(self, rows: Mapping[str, Sequence[str | Text]]) -> None:
        """Make the table hold exactly ``rows`` (key -> cell texts in column order)."""
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


def _same(before: Cell, after: Cell) -> bool:
    """Equal text and styling (rich's Text equality ignores the base style)."""
    if isinstance(before, Text) and isinstance(after, Text):
        return (
            before.plain == after.plain
            and before.style == after.style
            and before.spans == after.spans
        )
    return before == after
