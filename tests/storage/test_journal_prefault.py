"""The order journal readies its next pages off the order path (``OrderJournal.prefault``): the
pages the next rows are copied into are in the process's page table before those rows come, so
an order's copy does not stop in a page fault. Checked with the kernel's own view of the
mapping (/proc/self/pagemap: bit 63, "page present"), and that readying never changes a row."""

from __future__ import annotations

import asyncio
import ctypes
import mmap
import struct
from decimal import Decimal
from pathlib import Path

from desk.storage import journal as journal_module
from desk.storage.config import StorageConfig
from desk.storage.journal import PREFAULT_BYTES, OrderJournal
from desk.storage.sqlite import SqliteStore
from tests.storage.test_journal import _order

PAGE = mmap.PAGESIZE


def present_pages(journal: OrderJournal, start: int, stop: int) -> list[bool]:
    """Whether each page of the active file's mapping in [start, stop) is in the page table."""
    mapped = journal._maps[journal._active]
    assert mapped is not None
    view = ctypes.c_char.from_buffer(mapped)  # the mapping's address (released below)
    base = ctypes.addressof(view)
    del view
    first, last = (base + start) // PAGE, (base + stop - 1) // PAGE
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(first * 8)
        data = pagemap.read((last - first + 1) * 8)
    return [bool(entry >> 63) for (entry,) in struct.iter_unpack("<Q", data)]


def test_prefault_brings_in_the_pages_the_next_rows_go_to(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()
    journal.append(("first", 1), 1)  # maps the file; the pages past this row are not in
    assert journal.wants_prefault
    assert not any(present_pages(journal, PAGE, PREFAULT_BYTES))
    journal.prefault()
    assert all(present_pages(journal, 0, PREFAULT_BYTES))
    assert not journal.wants_prefault
    journal.close()


def test_rows_near_the_end_of_the_ready_pages_ask_for_more(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()
    journal.prefault()
    row = ("order", "x" * 200)
    written = 0
    while not journal.wants_prefault:
        journal.append(row, written + 1)
        written += 1
    end = journal._end[journal._active]
    assert PREFAULT_BYTES // 2 < end <= PREFAULT_BYTES // 2 + 256  # as soon as it is due
    journal.prefault()
    assert all(present_pages(journal, end, end + PREFAULT_BYTES))
    journal.close()
    again = OrderJournal(tmp_path / "desk.sqlite")
    assert again.open() == [row] * written  # readying rewrote none of them
    again.close()


def test_prefault_near_the_end_of_the_file_reserves_more_before_a_row_needs_it(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(journal_module, "INITIAL_BYTES", PREFAULT_BYTES)
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()
    journal.append(("a", 1), 1)
    assert journal.paths[0].stat().st_size == PREFAULT_BYTES
    journal.prefault()  # the next rows would pass the file's end
    assert journal.paths[0].stat().st_size == 2 * PREFAULT_BYTES
    journal.append(("b", 2), 2)
    journal.close()
    again = OrderJournal(tmp_path / "desk.sqlite")
    assert again.open() == [("a", 1), ("b", 2)]
    again.close()


async def test_the_store_readies_the_journal_at_open_and_after_orders(tmp_path: Path) -> None:
    store = SqliteStore(StorageConfig(sqlite_path=str(tmp_path / "desk.sqlite")))
    await store.open()
    journal = store.journal
    assert journal is not None
    assert all(present_pages(journal, 0, PREFAULT_BYTES))  # before the first order
    i = 0
    while journal._end[journal._active] <= PREFAULT_BYTES // 2:  # into the second half
        i += 1
        store.journal_order(_order(i), reduce_only=False, notional=Decimal(0), updated_ns=i)
    calls = []
    prefault = journal.prefault
    journal.prefault = lambda: calls.append(1) or prefault()  # type: ignore[method-assign]
    for j in range(i + 1, i + 50):  # orders keep coming before the loop turns
        store.journal_order(_order(j), reduce_only=False, notional=Decimal(0), updated_ns=j)
    # journal_order saw it due and asked the loop for one prefault after what is due already
    assert journal.wants_prefault
    end = journal._end[journal._active]
    assert not all(present_pages(journal, end, end + PREFAULT_BYTES))
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(calls) == 1  # one, not one per order
    assert not journal.wants_prefault
    assert all(present_pages(journal, end, end + PREFAULT_BYTES))
    await store.close()
