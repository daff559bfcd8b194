"""The recorder's files: atomic part files, compaction of an hour's parts, listing.

A flush writes one part file per partition and hour (``HH.part-{writer}-{n}.parquet``); when
the hour is over its parts (and any earlier ``HH.parquet``) are merged into ``HH.parquet``. A
merged file names the parts it holds in its metadata (``desk.parts``), so parts left behind by
a crash between the rename and the deletes are recognised and removed, never counted twice.
Compaction takes a per-partition ``flock``: two recorders on one tree never merge the same hour
at once. Nothing here touches the event loop: the recorder calls it in a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from desk.storage.recording.schema import FINAL_SUFFIX, PART_MARK, TMP_SUFFIX

PARTS_KEY = b"desk.parts"
COMPRESSION = "zstd"


def partition_dir(root: Path, venue: str, kind: str, date: str) -> Path:
    return root / f"venue={venue}" / f"kind={kind}" / f"date={date}"


def write_atomic(
    table: pa.Table, path: Path, row_group_rows: int, metadata: dict[bytes, bytes] | None = None
) -> int:
    """Write ``table`` to ``path`` as zstd parquet: ``.{name}.tmp``, fsync, rename; returns
    the bytes written. The tmp file is removed when anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TMP_SUFFIX}")
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression=COMPRESSION, row_group_size=row_group_rows)
            handle.flush()
            os.fsync(handle.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return size


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def part_name(hour: str, writer: str, n: int) -> str:
    return f"{hour}{PART_MARK}{writer}-{n:06d}{FINAL_SUFFIX}"


def hour_of(name: str) -> str | None:
    """``"07"`` for ``07.parquet`` and ``07.part-....parquet``; None for anything else."""
    if not name.endswith(FINAL_SUFFIX) or name.startswith("."):
        return None
    head = name[: -len(FINAL_SUFFIX)]
    hour = head.split(PART_MARK, 1)[0]
    return hour if len(hour) == 2 and hour.isdigit() else None


def parts_of(folder: Path) -> dict[str, list[Path]]:
    """The part files in ``folder`` by hour."""
    found: dict[str, list[Path]] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(folder.iterdir()):
            if PART_MARK in entry.name:
                hour = hour_of(entry.name)
                if hour is not None:
                    found.setdefault(hour, []).append(entry)
    return found


def leftover_partitions(root: Path) -> Iterator[Path]:
    """Every partition folder under ``root`` that holds part files."""
    if not root.is_dir():
        return
    for folder in sorted(root.glob("venue=*/kind=*/date=*")):
        if folder.is_dir() and parts_of(folder):
            yield folder


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".compact.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def compact(folder: Path, hour: str, row_group_rows: int) -> int:
    """Merge ``hour``'s parts (and its earlier ``HH.parquet``) into ``HH.parquet``; returns
    the parts merged. A part already named by ``HH.parquet`` (a crash after the rename) is only
    deleted. An unreadable part is left in place, renamed ``*.bad`` out of readers' way."""
    with _locked(folder):
        parts = parts_of(folder).get(hour, [])
        if not parts:
            return 0
        final = folder / f"{hour}{FINAL_SUFFIX}"
        tables: list[pa.Table] = []
        merged: list[str] = []
        if final.exists():
            old = pq.read_table(final)
            merged = json.loads((old.schema.metadata or {}).get(PARTS_KEY, b"[]"))
            tables.append(old.replace_schema_metadata(None))
        done = set(merged)
        stale = [p for p in parts if p.name in done]
        fresh: list[Path] = []
        for part in parts:
            if part.name in done:
                continue
            try:
                tables.append(pq.read_table(part).replace_schema_metadata(None))
            except (OSError, pa.ArrowException):
                os.replace(part, part.with_name(part.name + ".bad"))
                continue
            fresh.append(part)
        if fresh:
            table = pa.concat_tables(tables, promote_options="default")
            names = json.dumps([*merged, *(p.name for p in fresh)]).encode()
            write_atomic(table, final, row_group_rows, {PARTS_KEY: names})
        for part in (*stale, *fresh):
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        return len(fresh)
