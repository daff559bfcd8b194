"""``desk data coverage``: what a recording tree holds, per venue / symbol / kind / day.

For each (venue, symbol, kind, date): the first and last receive time, rows, bytes on disk and
the gaps that touch it (gap rows of that symbol or of the whole connection): how many, and
their total duration (a disconnect lasts until the next connect of that connection, or the end
of the day's data). Only the time and symbol columns are read, never a payload. A file that is
not parquet, is damaged, or lacks the kind's columns is reported by name and skipped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from desk.storage.recording.files import hour_of
from desk.storage.recording.schema import SCHEMAS, TIME_COLUMNS


@dataclass
class CoverageRow:
    venue: str
    symbol: str
    kind: str
    date: str
    first_ns: int
    last_ns: int
    rows: int
    bytes: int
    gaps: int = 0
    gap_ns: int = 0


@dataclass
class Coverage:
    rows: list[CoverageRow]
    skipped: list[tuple[str, str]]  # (file, why)


def scan(root: Path) -> Coverage:
    """Read the tree under ``root`` (``FileNotFoundError`` when it does not exist)."""
    if not root.is_dir():
        raise FileNotFoundError(f"no recording at {root}")
    found: dict[tuple[str, str, str, str], CoverageRow] = {}
    gaps: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(root.glob("venue=*/kind=*/date=*/*.parquet")):
        venue, kind, date = (p.split("=", 1)[1] for p in path.parent.parts[-3:])
        if hour_of(path.name) is None:
            skipped.append((str(path), "not a recorder file name"))
            continue
        schema = SCHEMAS.get(kind)
        if schema is None:
            skipped.append((str(path), f"unknown kind {kind!r}"))
            continue
        time_col, scale = TIME_COLUMNS[kind]
        wanted = [time_col, "symbol"] + (["ts", "conn", "kind"] if kind == "gaps" else [])
        wanted = list(dict.fromkeys(wanted))
        try:
            missing = set(schema.names) - set(pq.read_schema(path).names)
            if missing:
                why = f"not a recorder {kind} file (no {', '.join(sorted(missing))} column)"
                skipped.append((str(path), why))
                continue
            table = pq.read_table(path, columns=wanted)
        except (OSError, pa.ArrowException) as exc:
            skipped.append((str(path), _why(exc)))
            continue
        size = path.stat().st_size
        _add_file(found, table, venue, kind, date, time_col, scale, size)
        if kind == "gaps":
            gaps.extend({"venue": venue, "date": date, **r} for r in table.to_pylist())
    _add_gaps(found, gaps)
    rows = sorted(found.values(), key=lambda r: (r.venue, r.symbol, r.kind, r.date))
    return Coverage(rows, skipped)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"unreadable parquet ({text[:200]})"


def _add_file(
    found: dict[tuple[str, str, str, str], CoverageRow],
    table: pa.Table,
    venue: str,
    kind: str,
    date: str,
    time_col: str,
    scale: int,
    size: int,
) -> None:
    if table.num_rows == 0:
        return
    grouped = table.group_by("symbol").aggregate(
        [(time_col, "min"), (time_col, "max"), (time_col, "count")]
    )
    total = table.num_rows
    for row in grouped.to_pylist():
        symbol = row["symbol"]
        count = row[f"{time_col}_count"]
        key = (venue, symbol, kind, date)
        first, last = row[f"{time_col}_min"] * scale, row[f"{time_col}_max"] * scale
        share = size * count // total  # a file's bytes, split by its rows per symbol
        entry = found.get(key)
        if entry is None:
            found[key] = CoverageRow(venue, symbol, kind, date, first, last, count, share)
        else:
            entry.first_ns = min(entry.first_ns, first)
            entry.last_ns = max(entry.last_ns, last)
            entry.rows += count
            entry.bytes += share


def _add_gaps(
    found: dict[tuple[str, str, str, str], CoverageRow], gaps: list[dict[str, Any]]
) -> None:
    """Count each gap row against the rows it touches; pair disconnects with connects.

    The same gap may be written by two recorders into one tree (a split desk's feed role and
    its ``desk record``, which both hear the feed's disconnects): counted once."""
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for gap in gaps:
        key = (gap["ts"], gap["venue"], gap["conn"], gap["symbol"], gap["kind"])
        if key not in seen:
            seen.add(key)
            unique.append(gap)
    gaps = sorted(unique, key=lambda g: g["ts"])
    open_since: dict[tuple[str, str], int] = {}
    spans: list[tuple[dict[str, Any], int]] = []
    for gap in gaps:
        conn = (gap["venue"], gap["conn"])
        if gap["kind"] == "connect":
            start = open_since.pop(conn, None)
            if start is not None:
                spans[start] = (spans[start][0], gap["ts"] - spans[start][0]["ts"])
            continue
        if gap["kind"] == "disconnect":
            open_since[conn] = len(spans)
        spans.append((gap, 0))
    ends = {(r.venue, r.date): r.last_ns for r in found.values()}
    for conn, index in open_since.items():  # never reconnected within the data
        gap = spans[index][0]
        end = max(ends.get((gap["venue"], gap["date"]), gap["ts"]), gap["ts"])
        spans[index] = (gap, end - gap["ts"])
        del conn
    for gap, duration in spans:
        for row in found.values():
            if row.venue != gap["venue"] or row.date != gap["date"] or row.kind == "gaps":
                continue
            if gap["symbol"] in ("", row.symbol):
                row.gaps += 1
                row.gap_ns += duration


def to_json(coverage: Coverage) -> str:
    return json.dumps(
        {
            "coverage": [asdict(r) for r in coverage.rows],
            "skipped": [{"file": f, "reason": why} for f, why in coverage.skipped],
        },
        indent=2,
    )


def to_text(coverage: Coverage) -> str:
    header = (
        f"{'venue':<9}{'symbol':<14}{'kind':<8}{'date':<11} {'first':>8} {'last':>8} "
        f"{'rows':>10} {'bytes':>9} {'gaps':>5} {'gap time':>9}"
    )
    lines = [header]
    for r in coverage.rows:
        lines.append(
            f"{r.venue:<9}{(r.symbol or '-'):<14}{r.kind:<8}{r.date:<11} "
            f"{_clock(r.first_ns):>8} {_clock(r.last_ns):>8} {r.rows:>10,} "
            f"{_size(r.bytes):>9} {r.gaps:>5} {r.gap_ns / 1e9:>8.1f}s"
        )
    if not coverage.rows:
        lines.append("(no recorded data)")
    for path, why in coverage.skipped:
        lines.append(f"skipped {path}: {why}")
    return "\n".join(lines)


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


__all__ = ["Coverage", "CoverageRow", "scan", "to_json", "to_text"]
