"""Finding and reading a recording's parquet files (the recorder's layout, hive partitions).

``{root}/venue={venue}/kind={kind}/date={YYYY-MM-DD}/*.parquet`` (``*.tmp`` files are hours still
being written and are ignored). ``root`` may also be a ``venue=`` or ``kind=`` folder, or one
parquet file. A file that pyarrow cannot read, or that lacks the columns asked for, is skipped
and named in ``Scan.skipped`` (path and reason), so one bad file loses nothing else.

Raw schema (``kind=raw``): ``recv_ns`` int64, ``venue``, ``conn``, ``stream`` (``ws`` or
``rest:<path>``), ``channel``, ``symbol`` strings, ``payload`` binary (the frame as received).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAW_COLUMNS = ("recv_ns", "venue", "conn", "stream", "channel", "symbol", "payload")
_PART_RE = re.compile(r"^(venue|kind|date)=(.+)$")
NS_PER_DAY = 86_400 * 1_000_000_000


class RecordingError(ValueError):
    """The path is not a usable recording; the message says what is missing and where."""


@dataclass(frozen=True)
class DataFile:
    """One parquet file and the partition values its path names."""

    path: Path
    venue: str
    kind: str
    date: str


@dataclass
class Scan:
    """What was read: a pyarrow table (None when nothing) and the files skipped, with why."""

    table: Any
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _partitions(path: Path) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in path.parts:
        match = _PART_RE.match(part)
        if match:
            parts[match.group(1)] = match.group(2)
    return parts


def list_files(root: str | Path, kind: str, venue: str | None = None) -> list[DataFile]:
    """Every finished parquet file of ``kind`` (and ``venue``) under ``root``, sorted by path.

    ``RecordingError`` when ``root`` does not exist.
    """
    root = Path(root)
    if not root.exists():
        raise RecordingError(f"{root}: no such file or directory")
    candidates = [root] if root.is_file() else sorted(root.rglob("*.parquet"))
    files = []
    for path in candidates:
        parts = _partitions(path.resolve())
        if parts.get("kind", kind) != kind:
            continue
        if venue is not None and parts.get("venue", venue) != venue:
            continue
        found_venue = parts.get("venue", venue or "")
        files.append(DataFile(path, found_venue, parts.get("kind", kind), parts.get("date", "")))
    return files


def date_in_range(date: str, start_ns: int | None, end_ns: int | None) -> bool:
    """Whether a ``date=YYYY-MM-DD`` partition can hold rows in ``[start_ns, end_ns]``."""
    if not date:
        return True
    try:
        day = dt.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return True  # not a date we understand: read it and filter by rows
    lo = int(day.timestamp()) * 1_000_000_000
    if end_ns is not None and lo > end_ns:
        return False
    return not (start_ns is not None and lo + NS_PER_DAY <= start_ns)


def read_tables(
    files: list[DataFile],
    columns: tuple[str, ...],
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Scan:
    """Read ``columns`` of ``files`` (dates outside the range skipped unread) into one table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    scan = Scan(table=None)
    tables = []
    for data_file in files:
        if not date_in_range(data_file.date, start_ns, end_ns):
            continue
        try:
            table = pq.read_table(data_file.path, columns=list(columns))
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            scan.skipped.append((data_file.path, _reason(exc)))
            continue
        tables.append(table)
        scan.files.append(data_file.path)
    if tables:
        try:
            scan.table = pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowException as exc:
            raise RecordingError(f"files with clashing schemas: {_reason(exc)}") from None
    return scan


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'unreadable'}"[:300]


def read_raw(
    root: str | Path,
    venue: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Scan:
    """The raw frames of ``venue`` under ``root``; ``RecordingError`` when there are none."""
    files = list_files(root, "raw", venue)
    if not files:
        raise RecordingError(
            f"{root}: no raw recording of {venue} "
            f"(expected venue={venue}/kind=raw/date=YYYY-MM-DD/*.parquet)"
        )
    scan = read_tables(files, RAW_COLUMNS, start_ns, end_ns)
    if scan.table is None and scan.skipped:
        named = "; ".join(f"{p}: {why}" for p, why in scan.skipped)
        raise RecordingError(f"{root}: no readable raw file of {venue} ({named})")
    return scan
