"""The order journal: an append-only file that makes an order durable before the venue sees it.

The OMS must never send an order that a crash could make it forget (the restarted desk would
not know it, and could send it again or miss its fills). Waiting for the write-behind batch to
commit costs a millisecond or more per order; one ``os.write`` of the order's row to this file
costs microseconds. The row still goes to SQLite through the write-behind queue; the journal
only has to hold it until that commit, and :meth:`SqliteStore.open` replays what it finds
(rows SQLite lacks are inserted, rows it has are left alone: SQLite's state is newer).

What "durable" means here: a row is in the file once ``os.write`` returns, so it survives the
death of the process (kill -9, an OOM kill, a crash of the interpreter): the kernel's page cache
belongs to the file, not to the process. It does not survive a power loss or a kernel crash
unless ``fsync`` is set (an ``os.fdatasync`` per order, a disk flush: hundreds of microseconds
to milliseconds). That is the same class as SQLite's ``synchronous=NORMAL`` in WAL mode, which
the store uses: a power loss may cost its last commits too.

Two files take turns so that the journal stays small while orders keep coming: rows go to the
active file; once every row of the other file is committed to SQLite it is emptied, and when the
active one has rows and the other is empty they swap. Each file holds about one commit's worth
of orders.

One line per row: the ``orders`` row as a JSON array (the parameters of
:data:`desk.storage.statements.ORDER`). A torn last line (the process died inside ``write``,
which a regular file makes very unlikely) is skipped and counted.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("desk.storage.journal")

_encoder = msgspec.json.Encoder()


class JournalError(OSError):
    """An order could not be written to the journal (the order must not be sent)."""


class JournalBusy(OSError):
    """Another live process has this database's journal open (it owns it; replaying or
    emptying it here would lose its orders)."""


class OrderJournal:
    """Two append-only files of order rows beside the SQLite file (see the module docstring)."""

    def __init__(self, database: Path, *, fsync: bool = False) -> None:
        self.paths = (
            database.with_name(f"{database.name}.orders-journal.0"),
            database.with_name(f"{database.name}.orders-journal.1"),
        )
        self.fsync = fsync
        self._fds: list[int] = []
        self._active = 0
        self._rows = [0, 0]  # rows in each file
        self._upto = [0, 0]  # the store's rows_enqueued after each file's last row
        self.appended = 0
        self.cleared = 0
        self.torn = 0

    @property
    def is_open(self) -> bool:
        return bool(self._fds)

    @property
    def rows(self) -> int:
        """Rows in the journal not yet known to be committed to SQLite."""
        return self._rows[0] + self._rows[1]

    def open(self) -> list[tuple[Any, ...]]:
        """Open both files; the rows a previous run left in them (to replay), oldest first.

        Raises :class:`JournalBusy` while another live process holds them (a lock the kernel
        drops when that process dies, however it dies).
        """
        fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) for p in self.paths]
        try:
            fcntl.flock(fds[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise JournalBusy(f"{self.paths[0]}: in use by another process ({exc})") from exc
        self._fds = fds
        found: list[tuple[Any, ...]] = []
        for path in self.paths:
            found += self._read(path)
        return found

    def _read(self, path: Path) -> list[tuple[Any, ...]]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        rows: list[tuple[Any, ...]] = []
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                self.torn += 1
                log.warning("%s line %d: not a journal row, skipped: %s", path, number, exc)
                continue
            if not isinstance(row, list):
                self.torn += 1
                log.warning("%s line %d: not a journal row, skipped", path, number)
                continue
            rows.append(tuple(row))
        return rows

    def append(self, row: tuple[Any, ...], upto: int) -> None:
        """Write one row; on return it survives the death of this process (with ``fsync``, a
        power loss too). ``upto``: the store's ``rows_enqueued`` once the row is queued for
        SQLite. Raises :class:`JournalError` if the row could not be written."""
        if not self._fds:
            raise JournalError("the order journal is not open")
        fd = self._fds[self._active]
        data = _encoder.encode(row) + b"\n"
        try:
            written = os.write(fd, data)
            while written < len(data):  # a regular file writes it all unless the disk is full
                more = os.write(fd, data[written:])
                if more == 0:
                    raise OSError("no space written")
                written += more
            if self.fsync:
                os.fdatasync(fd)
        except OSError as exc:
            raise JournalError(f"{self.paths[self._active]}: {exc}") from exc
        self._rows[self._active] += 1
        self._upto[self._active] = upto
        self.appended += 1

    def settled(self, rows_settled: int) -> None:
        """SQLite now holds the store's first ``rows_settled`` rows: empty what it covers."""
        if not self._fds:
            return
        other = 1 - self._active
        if self._rows[other] and rows_settled >= self._upto[other]:
            self._truncate(other)
        if self._rows[self._active] and not self._rows[other]:
            if rows_settled >= self._upto[self._active]:
                self._truncate(self._active)
            else:
                self._active = other  # new rows go to the empty file; this one waits its commit

    def clear(self) -> None:
        """Empty both files (their rows are in SQLite)."""
        if not self._fds:
            return
        for index in (0, 1):
            self._truncate(index)

    def _truncate(self, index: int) -> None:
        try:
            os.ftruncate(self._fds[index], 0)
        except OSError as exc:  # the rows are in SQLite; replaying them again is harmless
            log.warning("%s: could not empty the journal: %s", self.paths[index], exc)
            return
        if self._rows[index]:
            self.cleared += 1
        self._rows[index] = 0
        self._upto[index] = 0

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
