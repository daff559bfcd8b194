"""The order journal: an append-only file that makes an order durable before the venue sees it.

The OMS must never send an order that a crash could make it forget (the restarted desk would
not know it, and could send it again or miss its fills). Waiting for the write-behind batch to
commit costs a millisecond or more per order; copying the order's row into this file costs a
microsecond. The row still goes to SQLite through the write-behind queue; the journal only has
to hold it until that commit, and :meth:`SqliteStore.open` replays what it finds (rows SQLite
lacks are inserted, rows it has are left alone: SQLite's state is newer).

What "durable" means here: each file is mapped into memory (``mmap``, shared) over blocks
reserved beforehand (``posix_fallocate``), and a row is in the file once it is copied into the
mapping: the kernel's page cache belongs to the file, not to the process, so the row survives
the death of the process (kill -9, an OOM kill, a crash of the interpreter), exactly as a
``write`` would. A copy is not a system call: the order path neither waits for the kernel nor
lets go of the GIL (which another thread, the SQLite writer's, would take: the order then waits
for it to be handed back). It does not survive a power loss or a kernel crash unless ``fsync``
is set (an ``msync`` of the row per order, a disk flush: hundreds of microseconds to
milliseconds). That is the same class as SQLite's ``synchronous=NORMAL`` in WAL mode, which the
store uses: a power loss may cost its last commits too. Blocks are reserved before rows are
copied in, so a full disk refuses an order (:class:`JournalError`) instead of killing the process
with SIGBUS; the mapping grows (doubling) when a file is full.

Two files take turns so that the journal stays small while orders keep coming: rows go to the
active file; once every row of the other file is committed to SQLite it is emptied (its bytes
zeroed in place), and when the active one has rows and the other is empty they swap. Each file
holds about one commit's worth of orders. A file nobody needs is cut to nothing when the
journal closes.

A copy into a page the process has not written yet (or one the kernel has since written back to
disk, which makes it read-only again) traps into the kernel first: a page fault, about 10
microseconds, on one order in fifteen at full speed and on nearly every order of a quiet desk.
:meth:`OrderJournal.prefault` takes those faults ahead of time, off the order path: the store
calls it on each wake of its writer and soon after a row that brings the end near the pages made
ready (``wants_prefault``).

One line per row: the ``orders`` row as a JSON array (the parameters of
:data:`desk.storage.statements.ORDER`); the rows end at the first zero byte (the reserved,
unused rest of the file). A torn last line (the process died inside the copy) is skipped and
counted.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("desk.storage.journal")

_encoder = msgspec.json.Encoder()

INITIAL_BYTES = 1 << 20
"""Reserved per file at its first row: about 3,500 order rows (it doubles when full)."""
_PAGE = mmap.PAGESIZE
PREFAULT_BYTES = 1 << 15
"""How far past the last row :meth:`OrderJournal.prefault` readies pages: about 125 rows. It is
due again at half that, so one call faults in about four new pages (tens of microseconds on the
event loop, between orders), not many at once."""


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
        self._maps: list[mmap.mmap | None] = [None, None]
        self._size = [0, 0]  # bytes mapped (and reserved) of each file
        self._end = [0, 0]  # where each file's next row goes
        self._stale = [False, False]  # rows of a previous run in it, not yet emptied
        self._torn_tail = [False, False]  # its last row of a previous run has no line end
        self._active = 0
        self._rows = [0, 0]  # rows in each file
        self._upto = [0, 0]  # the store's rows_enqueued after each file's last row
        self._ready = [0, 0]  # where each file's pages made writable by prefault end
        self._prefault_error = ""
        self.appended = 0
        self.cleared = 0
        self.torn = 0
        self._line = bytearray()
        """One row's bytes, reused: encoded into in place (no new bytes object and copy per
        row for the line end), then copied into the mapping."""

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
        fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in self.paths]
        try:
            fcntl.flock(fds[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise JournalBusy(f"{self.paths[0]}: in use by another process ({exc})") from exc
        self._fds = fds
        found: list[tuple[Any, ...]] = []
        for index, path in enumerate(self.paths):
            data = self._contents(path)
            self._end[index] = len(data)  # new rows go after the old ones (replay empties it)
            self._stale[index] = bool(data)
            self._torn_tail[index] = bool(data) and not data.endswith(b"\n")
            found += self._read(path, data)
        return found

    @staticmethod
    def _contents(path: Path) -> bytes:
        """The file's rows: its bytes up to the reserved, zeroed rest."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return b""
        end = data.find(0)
        return data if end < 0 else data[:end]

    def _read(self, path: Path, data: bytes) -> list[tuple[Any, ...]]:
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
        index = self._active
        data = self._line
        if self._torn_tail[index]:
            data[:] = b"\n"  # a line of its own, after a torn one
            _encoder.encode_into(row, data, 1)
        else:
            _encoder.encode_into(row, data)  # the buffer is cut to the row's end
        data.append(10)  # b"\n"
        start = self._end[index]
        end = start + len(data)
        mapped = self._maps[index]
        try:
            if mapped is None or end > self._size[index]:
                mapped = self._grow(index, end)
            mapped[start:end] = data
            if self.fsync:
                page = start - start % _PAGE
                mapped.flush(page, end - page)
        except (OSError, ValueError) as exc:
            raise JournalError(f"{self.paths[index]}: {exc}") from exc
        self._end[index] = end
        self._torn_tail[index] = False
        self._rows[index] += 1
        self._upto[index] = upto
        self.appended += 1

    @property
    def wants_prefault(self) -> bool:
        """The rows came within half of :data:`PREFAULT_BYTES` of the end of the pages made
        ready in the active file: :meth:`prefault` is due."""
        index = self._active
        return self._end[index] > self._ready[index] - PREFAULT_BYTES // 2

    def prefault(self) -> None:
        """Make the pages the next rows go to present and writable now (the module docstring):
        a zero written over one of the reserved zeros past the last row in each (a write only,
        so one fault per page, not a read's and then a write's). Reserves and maps more of the
        file first when the rows are near its end. A failure (a full disk) is logged once and
        otherwise left to :meth:`append`, which refuses the order. Past the last row lie only
        the reserved zeros: the store empties both files at open, before its first prefault."""
        if not self._fds:
            return
        index = self._active
        start = self._end[index]
        stop = start + PREFAULT_BYTES
        try:
            mapped = self._maps[index]
            if mapped is None or stop > self._size[index]:
                mapped = self._grow(index, stop)
            mapped[start] = 0  # the row's own page, then each page after it
            for offset in range(start - start % _PAGE + _PAGE, stop, _PAGE):
                mapped[offset] = 0
        except (OSError, ValueError) as exc:
            if str(exc) != self._prefault_error:
                log.warning("%s: could not ready the next rows' pages: %s", self.paths[index], exc)
            self._prefault_error = str(exc)
            return
        self._prefault_error = ""
        self._ready[index] = stop

    def _grow(self, index: int, needed: int) -> mmap.mmap:
        """Reserve disk blocks for at least ``needed`` bytes and map them (a full disk raises
        here, before any row is copied, never as SIGBUS later)."""
        size = max(INITIAL_BYTES, self._size[index] * 2)
        while size < needed:
            size *= 2
        fd = self._fds[index]
        os.posix_fallocate(fd, 0, size)
        old = self._maps[index]
        self._maps[index] = mapped = mmap.mmap(fd, size)
        self._size[index] = size
        self._ready[index] = 0  # a new mapping: none of its pages is in yet
        if old is not None:
            old.close()
        return mapped

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
        """Empty one file whose rows SQLite holds: its rows zeroed in the mapping (no system
        call; a crash halfway leaves only rows a replay finds harmless), or, not mapped (rows
        of a previous run), the file cut to nothing."""
        end = self._end[index]
        mapped = self._maps[index]
        try:
            if mapped is not None:
                mapped[:end] = bytes(end)
                if self._stale[index]:  # anything of a previous run past the zeroed rows
                    mapped[end:] = bytes(self._size[index] - end)
            else:
                os.ftruncate(self._fds[index], 0)
        except (OSError, ValueError) as exc:  # the rows are in SQLite; replaying them is harmless
            log.warning("%s: could not empty the journal: %s", self.paths[index], exc)
            return
        if self._rows[index]:
            self.cleared += 1
        self._end[index] = 0
        self._rows[index] = 0
        self._upto[index] = 0
        self._stale[index] = False
        self._torn_tail[index] = False

    def close(self) -> None:
        """Unmap and close both files; one that holds no uncommitted row is cut to nothing."""
        for index, fd in enumerate(self._fds):
            mapped, self._maps[index] = self._maps[index], None
            try:
                if mapped is not None:
                    mapped.close()
                if not self._rows[index] and not self._stale[index]:
                    os.ftruncate(fd, 0)
                elif self._size[index]:
                    os.ftruncate(fd, self._end[index])  # its rows, without the reserve
            except (OSError, ValueError) as exc:
                log.warning("%s: %s", self.paths[index], exc)
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        self._size = [0, 0]
        self._end = [0, 0]
        self._ready = [0, 0]
