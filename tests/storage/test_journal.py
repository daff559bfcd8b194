"""The order journal: an order is durable before the venue hears of it, without waiting for the
SQLite batch. kill -9 of a process that journalled orders SQLite never committed, then a
restart: every order that reached the venue is known again. Plus the file's own rules: a torn
line is skipped, the files stay small while orders keep coming, one process owns them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

from desk.core.enums import Side
from desk.core.orders import Order, OrderStatus, OrderType
from desk.storage.config import StorageConfig
from desk.storage.journal import JournalBusy, JournalError, OrderJournal
from desk.storage.sqlite import SqliteStore

ORDERS = 25

# A process with the real OMS and store, whose SQLite batch never commits (flush interval of an
# hour, a batch larger than all its rows): each order reaches the "venue" (a line in a file,
# written the moment the venue is called), and then the process waits to be killed.
CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from decimal import Decimal
    from desk.core.bus import Bus
    from desk.core.clock import LiveClock
    from desk.core.enums import Side
    from desk.core.orders import OrderRequest, OrderType
    from desk.execution.oms import OrderManager
    from desk.storage.config import StorageConfig
    from desk.storage.sqlite import SqliteStore

    db, venue_log, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Venue:
        name = "okx"
        def __init__(self):
            self.fd = os.open(venue_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        def set_report_handler(self, handler): pass
        async def connect(self): pass
        async def close(self): pass
        async def submit(self, request):
            os.write(self.fd, (request.client_order_id + "\\n").encode())
        async def cancel(self, cid, symbol): pass
        async def open_orders(self): return []
        async def balances(self): return {}

    async def main():
        store = SqliteStore(
            StorageConfig(sqlite_path=db, flush_interval=3600, batch_size=100000)
        )
        await store.open()
        oms = OrderManager(Bus(), store, Venue(), LiveClock())
        await oms.start()
        for i in range(count):
            oms.submit(OrderRequest(symbol="BTC-USDT", side=Side.BUY, order_type=OrderType.LIMIT,
                                    size=Decimal("0.01"), price=Decimal(60000 + i)))
        while oms._tasks:
            await asyncio.sleep(0.01)
        print("sent", store.rows_written, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def test_kill_9_after_orders_reached_the_venue_before_sqlite_committed_them(
    tmp_path: Path,
) -> None:
    db, venue_log = tmp_path / "desk.sqlite", tmp_path / "venue.log"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(venue_log), str(ORDERS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until every order reached the venue
        assert line.startswith("sent"), child.stderr.read() if child.stderr else line
    finally:
        child.send_signal(signal.SIGKILL)  # no flush, no close, no goodbye
        child.wait(30)
    at_venue = venue_log.read_text().split()
    assert len(at_venue) == ORDERS

    async def restart() -> tuple[int, dict[str, str]]:
        store = SqliteStore(StorageConfig(sqlite_path=str(db)))
        await store.open()
        rows = await store._fetch("SELECT client_order_id, status FROM orders", ())
        events = await store._fetch("SELECT reason FROM order_events", ())
        await store.close()
        assert {reason for (reason,) in events} == {"recovered from the order journal"}
        return store.journal_replayed, dict(rows)

    replayed, known = asyncio.run(restart())
    assert replayed == ORDERS
    assert set(at_venue) <= set(known), "an order reached the venue and was forgotten"
    assert set(known.values()) == {"pending_new"}  # left for reconciliation with the venue
    # The replay emptied the journal: a second restart finds nothing to replay.
    assert all(path.stat().st_size == 0 for path in OrderJournal(db).paths)


def _order(i: int, status: OrderStatus = OrderStatus.PENDING_NEW) -> Order:
    return Order(
        ts_exchange=0,
        ts_recv=1_000 + i,
        client_order_id=f"c{i}",
        venue_order_id="",
        symbol="BTC-USDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=Decimal(100),
        size=Decimal(1),
        filled=Decimal(0),
        avg_price=Decimal(0),
        status=status,
        bot_id="b1",
        venue="okx",
        reason="",
        created_ns=1_000 + i,
    )


async def test_a_replayed_order_never_overwrites_a_newer_state(tmp_path: Path) -> None:
    db = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(db)))
    await store.open()
    assert store.journal_order(_order(1), reduce_only=False, notional=Decimal(0), updated_ns=1)
    journal = OrderJournal(db)
    journalled = journal.paths[0].read_bytes()
    assert b'"c1"' in journalled
    store.record_order(
        _order(1, OrderStatus.FILLED), reduce_only=False, notional=Decimal(100), updated_ns=2
    )
    await store.flush()
    await store.close()
    # As after a crash between the commit and emptying the journal: its row is still there.
    journal.paths[0].write_bytes(journalled)

    again = SqliteStore(StorageConfig(sqlite_path=str(db)))
    await again.open()
    (stored,) = await again.load_orders()
    assert stored.order.status is OrderStatus.FILLED
    assert again.journal_replayed == 0
    await again.close()


def test_a_torn_last_line_is_skipped_and_the_rows_before_it_kept(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.paths[0].write_bytes(b'["a",1]\n["b",2]\n["c",')
    rows = journal.open()
    journal.close()
    assert rows == [("a", 1), ("b", 2)]
    assert journal.torn == 1


def test_the_files_stay_small_while_orders_keep_coming(tmp_path: Path) -> None:
    """Each commit covers the rows before it: the journal holds about one commit of rows,
    never all of them, though a row always arrives before the last one is committed."""
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()
    enqueued = settled = 0
    largest = 0
    for _ in range(1000):
        for _ in range(10):
            enqueued += 1
            journal.append(("order", enqueued), enqueued)
        journal.settled(settled)  # the commit of everything up to the last turn lands now
        settled = enqueued - 10
        largest = max(largest, journal.rows)
    journal.settled(enqueued)
    journal.settled(enqueued)
    assert largest <= 40
    assert journal.rows == 0
    assert all(OrderJournal._contents(path) == b"" for path in journal.paths)  # rows zeroed
    journal.close()
    assert all(path.stat().st_size == 0 for path in journal.paths)  # and the reserve given back


def test_one_process_owns_the_journal(tmp_path: Path) -> None:
    first = OrderJournal(tmp_path / "desk.sqlite")
    first.open()
    second = OrderJournal(tmp_path / "desk.sqlite")
    try:
        second.open()
        raise AssertionError("a second owner opened the journal")
    except JournalBusy:
        pass
    first.close()
    second.open()  # the owner is gone: now it may
    second.close()


async def test_a_store_whose_journal_is_owned_elsewhere_waits_for_commits(tmp_path: Path) -> None:
    db = tmp_path / "desk.sqlite"
    owner = OrderJournal(db)
    owner.open()
    store = SqliteStore(StorageConfig(sqlite_path=str(db)))
    await store.open()
    assert store.journal is None
    assert not store.journal_order(
        _order(1), reduce_only=False, notional=Decimal(0), updated_ns=1
    )  # queued only: the caller must wait for the commit
    await store.close()
    owner.close()


def test_fsync_journal_survives_like_the_plain_one(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "desk.sqlite", fsync=True)
    journal.open()
    journal.append(("x", 1), 1)
    journal.close()
    reopened = OrderJournal(tmp_path / "desk.sqlite")
    assert reopened.open() == [("x", 1)]
    reopened.close()


def test_a_row_after_a_torn_one_of_a_previous_run_is_kept(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.paths[0].write_bytes(b'["a",1]\n["b",')
    assert journal.open() == [("a", 1)]
    journal.append(("c", 3), 1)
    journal.close()
    again = OrderJournal(tmp_path / "desk.sqlite")
    assert again.open() == [("a", 1), ("c", 3)]
    assert again.torn == 1
    again.close()


def test_a_full_file_grows_and_keeps_every_row(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("desk.storage.journal.INITIAL_BYTES", 64)
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()
    rows = [("order", i, "x" * 20) for i in range(50)]
    for i, row in enumerate(rows, 1):
        journal.append(row, i)
    assert journal.paths[0].stat().st_size >= sum(len(repr(r)) for r in rows)
    journal.close()  # uncommitted rows stay, the unused reserve does not
    assert journal.paths[0].read_bytes().count(b"\n") == len(rows)
    again = OrderJournal(tmp_path / "desk.sqlite")
    assert again.open() == [tuple(r) for r in rows]
    again.close()


def test_a_full_disk_refuses_the_row_before_anything_is_written(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("desk.storage.journal.os.posix_fallocate", no_space)
    journal.prefault()  # readying the pages ahead never raises (the store's writer runs it)
    journal.prefault()
    assert caplog.text.count("could not ready the next rows' pages") == 1  # once, not per wake
    try:
        journal.append(("x", 1), 1)
        raise AssertionError("a row was taken without room for it")
    except JournalError:
        pass
    assert journal.rows == 0 and journal.appended == 0
    journal.close()
    assert OrderJournal(tmp_path / "desk.sqlite").open() == []


def test_a_row_is_in_the_file_as_soon_as_append_returns(tmp_path: Path) -> None:
    """What another process (or one reading after a kill -9) sees: no write call, no close."""
    journal = OrderJournal(tmp_path / "desk.sqlite")
    journal.open()
    journal.append(("x", 1), 1)
    assert OrderJournal._contents(journal.paths[0]) == b'["x",1]\n'
    journal.settled(1)  # committed: emptied in place
    assert OrderJournal._contents(journal.paths[0]) == b""
    journal.close()


def test_rows_of_any_length_come_back_as_written(tmp_path: Path) -> None:
    """A row's bytes are built in one buffer the journal reuses: a short row after a long one
    (and a row after a torn line of a previous run) is still exactly its own line."""
    path = tmp_path / "desk.sqlite"
    OrderJournal(path).paths[0].write_bytes(b'["old",1]\n["torn",')
    journal = OrderJournal(path)
    assert journal.open() == [("old", 1)]
    written = [("long", "x" * 500, 1), ("s", 2), ("mid", "y" * 40, None), ("t", 3)]
    for upto, row in enumerate(written, 1):
        journal.append(row, upto)
    data = journal.paths[0].read_bytes().rstrip(b"\0")
    journal.close()
    assert data.split(b"\n")[-1] == b""  # every row ends its line
    again = OrderJournal(path)
    assert again.open() == [("old", 1), *written]
    assert again.torn == 1  # the torn line of the first run, nothing of this one
    again.close()
