"""``desk replay PATH`` and ``desk engine --replay PATH`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from desk.cli import main

DESK = str(Path(sys.executable).parent / "desk")


@pytest.mark.asyncio
async def test_replay_prints_its_urls_serves_the_recording_and_stops_on_sigint(
    recording: Path,
) -> None:
    proc = subprocess.Popen(
        [DESK, "replay", str(recording), "--speed", "max", "--port", "0", "--symbols", "BTC-USDT"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "public WebSocket" not in urls:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "desk replay never printed its URLs"
            match = re.match(r"OKX (public WebSocket|business WebSocket|REST): (\S+)", line)
            if match:
                urls[match.group(1)] = match.group(2)
        async with connect(urls["public WebSocket"], close_timeout=1) as ws:  # unread pushes
            args = [{"channel": "books", "instId": "BTC-USDT"}]
            await ws.send(json.dumps({"id": "1", "op": "subscribe", "args": args}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert ack["event"] == "subscribe" and ack["arg"] == args[0]
            first = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert first["action"] == "snapshot" and first["arg"] == args[0]
            while not line.startswith("replay finished:"):  # the client keeps reading
                line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
                assert line, "desk replay ended without saying the replay finished"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_bad_paths_are_refused_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "missing")]) == 2
    assert "bad recording" in capsys.readouterr().err
    assert main(["--replay", str(tmp_path)]) == 2
    assert "no raw recording of okx" in capsys.readouterr().err


def test_engine_replays_skips_a_corrupt_file_by_name_and_announces_the_end(
    recording: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "rec"
    shutil.copytree(recording, copy)
    bad = next((copy / "venue=okx" / "kind=raw").iterdir()) / "01.parquet"
    bad.write_bytes(b"not parquet at all")
    run = subprocess.run(
        [DESK, "engine", "--replay", str(copy), "--replay-speed", "max", "--duration", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"skipped {bad}" in run.stderr
    with sqlite3.connect(tmp_path / "data" / "replay.sqlite") as db:
        events = db.execute("SELECT source, kind, message FROM system_events").fetchall()
        candles = db.execute("SELECT COUNT(*) FROM candles").fetchone()[0]
    assert any(k == "skipped_file" and str(bad) in m for s, k, m in events if s == "replay")
    assert any(k == "finished" for s, k, _m in events if s == "replay")
    assert candles > 0
