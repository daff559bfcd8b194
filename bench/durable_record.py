"""What it costs to make one order durable before it is sent: the options side by side.

Each option records N order rows one at a time (each must be durable before the next "send"):

* journal: the row copied into the memory-mapped order journal (storage/journal.py; no system
  call; survives kill -9), its pages readied ahead as the store does (``prefault``); then the
  same without that (a page fault each time the rows reach a new page), and both again with
  the file written back to disk before each row, as the kernel does to a quiet desk's journal
  between its orders (a written-back page is read-only until the next fault);
* journal + fsync: the same with an ``msync`` of the row per order (survives a power loss too);
* os.write (reference): one ``os.write`` of the same bytes to an append-only file, what the
  journal did before it was mapped (survives kill -9 too, a system call per order);
* sqlite sync insert: a blocking INSERT + COMMIT per row on a second WAL connection with
  ``synchronous=NORMAL`` (survives kill -9; on the event loop it would block it, and it
  contends for the write lock with the write-behind writer);
* write-behind wait: the row queued on the real store, then ``wait_committed`` for it (what
  the OMS did before the journal: a batch commit through aiosqlite's thread per wait).

A system call also lets go of the GIL: with the write-behind writer's thread busy, the order
path may then wait until that thread hands it back (bench/tick_to_order.py shows that part);
a copy into the mapping never lets go of it.

Figures only; nothing is asserted.

    .venv/bin/python bench/durable_record.py [--n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec

from desk.core.enums import Side
from desk.core.orders import Order, OrderStatus, OrderType
from desk.storage import schema
from desk.storage.config import StorageConfig
from desk.storage.journal import OrderJournal
from desk.storage.order_rows import order_row
from desk.storage.sqlite import SqliteStore


def order(i: int) -> Order:
    return Order(
        ts_exchange=0, ts_recv=i, client_order_id=f"bench{i}", venue_order_id="",
        symbol="BTC-USDT", side=Side.BUY, order_type=OrderType.LIMIT, price=Decimal("60000.1"),
        size=Decimal("0.001"), filled=Decimal(0), avg_price=Decimal(0),
        status=OrderStatus.PENDING_NEW, bot_id="b1", venue="okx", reason="", created_ns=i,
    )  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def journal(
    tmp: Path, n: int, fsync: bool, *, readied: bool = True, written_back: bool = False
) -> list[float]:
    """``readied``: :meth:`OrderJournal.prefault` runs between rows when due, as the store runs
    it; ``written_back``: the file is written back to disk before each row (what the kernel's
    flusher does to a quiet desk's journal between its orders)."""
    name = f"j{int(fsync)}{int(readied)}{int(written_back)}.sqlite"
    j = OrderJournal(tmp / name, fsync=fsync)
    j.open()
    file = os.open(j.paths[0], os.O_RDONLY)  # rows stay in file 0: nothing is settled
    if readied:
        j.prefault()
    out = []
    for i in range(n):
        row = order_row(order(i), False, Decimal(0), i)
        if written_back:
            os.fsync(file)
        if readied and (j.wants_prefault or written_back):
            j.prefault()
        t0 = time.perf_counter_ns()
        j.append(row, i + 1)
        out.append((time.perf_counter_ns() - t0) / 1000)
    os.close(file)
    j.close()
    return out


def plain_write(tmp: Path, n: int) -> list[float]:
    fd = os.open(tmp / "plain.journal", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    encode = msgspec.json.Encoder().encode
    out = []
    for i in range(n):
        row = order_row(order(i), False, Decimal(0), i)
        t0 = time.perf_counter_ns()
        os.write(fd, encode(row) + b"\n")
        out.append((time.perf_counter_ns() - t0) / 1000)
    os.close(fd)
    return out


def sqlite_sync(tmp: Path, n: int) -> list[float]:
    db = sqlite3.connect(tmp / "sync.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema.SCHEMA)
    out = []
    for i in range(n):
        row = order_row(order(i), False, Decimal(0), i)
        t0 = time.perf_counter_ns()
        db.execute("BEGIN")
        db.execute(schema.UPSERT_ORDER, row)
        db.execute("COMMIT")
        out.append((time.perf_counter_ns() - t0) / 1000)
    db.close()
    return out


async def write_behind(tmp: Path, n: int) -> list[float]:
    store = SqliteStore(StorageConfig(sqlite_path=str(tmp / "wb.sqlite"), order_journal=False))
    await store.open()
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        store.record_order(order(i), reduce_only=False, notional=Decimal(0), updated_ns=i)
        await store.wait_committed()
        out.append((time.perf_counter_ns() - t0) / 1000)
    await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    quiet = max(args.n // 10, 50)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        runs = {
            "journal (mapped copy; survives kill -9)": journal(tmp, args.n, False),
            "  its pages not readied (no prefault)": journal(tmp, args.n, False, readied=False),
            "  written back before each row": journal(tmp, quiet, False, written_back=True),
            "  the same, not readied": journal(tmp, quiet, False, readied=False, written_back=True),
            "journal + fsync (power loss too)": journal(tmp, quiet, True),
            "os.write of the row (reference)": plain_write(tmp, args.n),
            "sqlite sync INSERT+COMMIT, WAL NORMAL": sqlite_sync(tmp, args.n),
            "write-behind queue + wait_committed": asyncio.run(write_behind(tmp, args.n)),
        }
    print("one order row made durable, microseconds per order:")
    for label, values in runs.items():
        print(f"  {label:39s}: p50 {pct(values, 0.5):8.1f}  p99 {pct(values, 0.99):8.1f}")


if __name__ == "__main__":
    main()
