"""kill -9 of a recording process: every finalised file stays readable, at most about a flush
interval is lost, and the next recorder merges the parts the dead one left."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from desk.storage.recording.config import RecorderConfig
from desk.storage.recording.recorder import Recorder
from tests.storage.recording.support import parquet_files, read_kind, rows_in
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[3]
FLUSH_S = 0.3


def _parts(root: Path) -> list[Path]:
    return [p for p in parquet_files(root) if ".part-" in p.name and "kind=raw" in str(p)]


async def test_kill_9_leaves_readable_files_and_loses_at_most_a_flush(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.recording.recording_child", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        await wait_until(lambda: len(_parts(root)) >= 5, 90, "five flushed parts")
    finally:
        killed_ns = time.time_ns()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    await asyncio.sleep(0)
    left = parquet_files(root)
    assert left, "nothing was recorded"
    for path in left:  # every finalised file reads, whatever the moment of the kill
        pq.read_table(path)
    raw = read_kind(root, "raw")
    newest = int(raw["recv_ns"].max())
    # what arrived after the last completed flush is lost: about one flush interval (the
    # bound is wide so a busy machine's late flush does not fail it)
    assert killed_ns - newest < (FLUSH_S + 10.0) * 1e9
    parts_rows = sum(rows_in(p) for p in _parts(root))
    before = len(raw)

    recorder = Recorder(RecorderConfig(enabled=True, path=str(root)))
    await recorder.start()  # merges what the dead one left
    await recorder.stop()
    assert parts_rows > 0 and not _parts(root)
    assert len(read_kind(root, "raw")) == before  # merged, nothing lost or doubled
