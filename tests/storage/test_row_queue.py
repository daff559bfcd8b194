"""The write-behind queue keeps its rows in order, gives back what was checked as checked, and
holds them in a form the garbage collector stops rescanning (a long backlog costs no pauses)."""

from __future__ import annotations

import gc

from desk.storage import statements
from desk.storage.row_queue import RowQueue
from desk.storage.statements import Checked


def test_rows_come_back_in_order_checked_as_they_went_in() -> None:
    queue = RowQueue()
    assert queue.append(statements.ORDER_EVENT, Checked((1, "a", "live", "0", ""))) == 1
    assert queue.append(statements.ORDER_EVENT, (2, "b", "live", "0", "")) == 2
    head = queue.head(5)
    assert [params for _, params in head] == [(1, "a", "live", "0", ""), (2, "b", "live", "0", "")]
    assert [type(params) for _, params in head] == [Checked, tuple]
    assert all(statement is statements.ORDER_EVENT for statement, _ in head)
    queue.drop(1)
    assert len(queue) == 1 and queue.head(1)[0][1][1] == "b"
    assert queue.take_all()[0][1][1] == "b"
    assert not queue and len(queue) == 0


def test_queued_rows_leave_the_collectors_view() -> None:
    queue = RowQueue()
    for i in range(100):
        queue.append(statements.ORDER_EVENT, Checked((i, f"c{i}", "live", "0", "")))
    gc.collect()
    assert not any(gc.is_tracked(params) for params in queue._params)
