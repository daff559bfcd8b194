"""The recorder's files without a feed: bounded backlog with a gap marker, hourly merging,
and the coverage report skipping what is not a recording (by name)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from desk.cli import main
from desk.storage.recording import files
from desk.storage.recording.config import RecorderConfig
from desk.storage.recording.recorder import Recorder
from tests.storage.recording.support import parquet_files, read_kind, rows_in

HOUR_NS = 3_600_000_000_000
T0 = 1_796_371_200_000_000_000  # 2026-12-04 08:00:00 UTC


def _frame(symbol: str, n: int) -> bytes:
    return (
        b'{"arg":{"channel":"trades","instId":"'
        + symbol.encode()
        + b'"},"data":[{"tradeId":"'
        + str(n).encode()
        + b'"}]}'
    )


class _Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def test_a_full_backlog_drops_new_frames_and_says_so_in_a_gap_row(tmp_path: Path) -> None:
    config = RecorderConfig(enabled=True, path=str(tmp_path), max_backlog=5, kinds=("raw",))
    recorder = Recorder(config, clock=_Clock(T0))
    for n in range(12):
        recorder.frame_tap("okx", _frame("BTC-USDT", n), T0 + n)
    assert recorder.backlog == 5
    await recorder.stop()
    raw = read_kind(tmp_path, "raw")
    assert list(raw["recv_ns"]) == [T0 + n for n in range(5)]  # the first five, untouched
    assert raw["payload"][0] == _frame("BTC-USDT", 0)
    gaps = read_kind(tmp_path, "gaps")
    assert list(gaps["kind"]) == ["dropped"]
    assert gaps["detail"][0].startswith("7 raw frames dropped")
    assert recorder.dropped == 7


async def test_parts_of_a_closed_hour_are_merged_and_a_crashed_runs_parts_at_start(
    tmp_path: Path,
) -> None:
    clock = _Clock(T0)
    config = RecorderConfig(enabled=True, path=str(tmp_path), kinds=("raw",))
    recorder = Recorder(config, clock=clock)
    for n in range(3):
        recorder.frame_tap("okx", _frame("ETH-USDT", n), T0 + n)
        await recorder.flush()
    folder = files.partition_dir(tmp_path, "okx", "raw", "2026-12-04")
    assert len(files.parts_of(folder)["08"]) == 3  # the open hour: one part per flush
    clock.now = T0 + HOUR_NS
    recorder.frame_tap("okx", _frame("ETH-USDT", 9), T0 + HOUR_NS)
    await recorder.flush()  # the 08 hour is closed now
    assert (folder / "08.parquet").exists() and "08" not in files.parts_of(folder)
    assert rows_in(folder / "08.parquet") == 3
    # a crash leaves the 09 part behind (no stop); the next recorder merges it at start
    again = Recorder(config, clock=clock)
    await again.start()
    await again.stop()
    assert sorted(p.name for p in parquet_files(tmp_path)) == ["08.parquet", "09.parquet"]
    assert rows_in(folder / "09.parquet") == 1


async def test_a_merged_part_left_by_a_crash_is_not_counted_twice(tmp_path: Path) -> None:
    folder = files.partition_dir(tmp_path, "okx", "raw", "2026-12-04")
    config = RecorderConfig(enabled=True, path=str(tmp_path), kinds=("raw",))
    recorder = Recorder(config, clock=_Clock(T0))
    recorder.frame_tap("okx", _frame("BTC-USDT", 1), T0)
    await recorder.flush()
    part = files.parts_of(folder)["08"][0]
    kept = part.read_bytes()
    files.compact(folder, "08", 1024)
    part.write_bytes(kept)  # the crash: renamed 08.parquet, but the part not yet deleted
    files.compact(folder, "08", 1024)
    assert [p.name for p in parquet_files(tmp_path)] == ["08.parquet"]
    assert rows_in(folder / "08.parquet") == 1


async def test_coverage_reports_a_corrupt_and_a_foreign_file_by_name_and_skips_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = RecorderConfig(enabled=True, path=str(tmp_path), kinds=("raw",))
    recorder = Recorder(config, clock=_Clock(T0))
    for n in range(4):
        recorder.frame_tap("okx", _frame("BTC-USDT", n), T0 + n * 1_000_000_000)
    await recorder.stop()
    folder = files.partition_dir(tmp_path, "okx", "raw", "2026-12-04")
    (folder / "10.parquet").write_bytes(b"PAR1 this is not parquet at all")
    pq.write_table(pa.table({"x": [1, 2]}), folder / "11.parquet")  # someone else's file

    assert main(["data", "coverage", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [row] = report["coverage"]
    assert (row["venue"], row["symbol"], row["kind"], row["rows"]) == ("okx", "BTC-USDT", "raw", 4)
    assert row["last_ns"] - row["first_ns"] == 3_000_000_000
    skipped = {Path(s["file"]).name for s in report["skipped"]}
    assert skipped == {"10.parquet", "11.parquet"}

    assert main(["data", "coverage", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "BTC-USDT" in text and f"skipped {folder / '10.parquet'}" in text
    assert main(["data", "coverage", str(tmp_path / "nothing")]) == 2


def test_a_gap_two_recorders_wrote_into_one_tree_counts_once() -> None:
    """A split desk's feed role and ``desk record`` both hear the feed's disconnect."""
    from desk.storage.recording.coverage import CoverageRow, _add_gaps

    row = CoverageRow("okx", "BTC-USDT", "trades", "2026-12-04", 0, 100, 50, 1000)
    found = {("okx", "BTC-USDT", "trades", "2026-12-04"): row}
    drop = {"venue": "okx", "conn": "okx-public", "symbol": "", "date": "2026-12-04"}
    gaps = [
        {**drop, "ts": 10, "kind": "disconnect"},
        {**drop, "ts": 10, "kind": "disconnect"},  # the other recorder's copy
        {**drop, "ts": 40, "kind": "connect"},
        {**drop, "ts": 40, "kind": "connect"},
    ]
    _add_gaps(found, gaps)
    assert (row.gaps, row.gap_ns) == (1, 30)
