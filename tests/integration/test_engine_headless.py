"""`desk engine` runs headless on the simulator, persists to SQLite and stops cleanly with 0."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

DESK = str(Path(sys.executable).parent / "desk")


def _write_config(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "engine.sqlite"
    config = tmp_path / "sim.yaml"
    config.write_text(
        f"""
system: {{mode: sim, log_level: INFO, status_interval: 0.5}}
trading:
  symbols: [BTC-USDT, ETH-USDT, SOL-USDT]
  timeframes: [1s, 3s, 1m]
  channels: [trades, books, tickers]
storage: {{sqlite_path: {db}}}
simulator: {{enabled: true, port: 0, seed: 3, steps_per_second: 400}}
"""
    )
    return config, db


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def test_engine_runs_for_its_duration_and_flushes_everything(tmp_path: Path) -> None:
    config, db = _write_config(tmp_path)
    proc = subprocess.run(
        [DESK, "engine", "--config", str(config), "--duration", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "msg/s" in proc.stderr  # the periodic status line
    assert _count(db, "SELECT COUNT(*) FROM instruments") == 3
    assert _count(db, "SELECT COUNT(*) FROM candles WHERE timeframe = '1s'") >= 3
    assert _count(db, "SELECT COUNT(*) FROM system_events WHERE kind = 'connected'") >= 1
    assert _count(db, "SELECT COUNT(*) FROM system_events WHERE kind = 'stopped'") == 1
    # Right-aligned 1s candles: every stamp is a whole second.
    assert _count(db, "SELECT COUNT(*) FROM candles WHERE end_ns % 1000000000 != 0") == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_engine_stops_cleanly_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    config, db = _write_config(tmp_path)
    proc = subprocess.Popen(
        [DESK, "engine", "--config", str(config)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # wait for a status line that shows books on all three symbols
        if "books 3/3" in line:
            break
        assert time.monotonic() < deadline, "engine never reported its books ready"
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == 0
    assert _count(db, "SELECT COUNT(*) FROM system_events WHERE kind = 'stopped'") == 1


def test_a_bad_config_is_refused_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "trading:\n  timeframes: [1m, 2x]\nstorage: {sqlite_path: %s}\n"
        % (tmp_path / "never.sqlite")
    )
    proc = subprocess.run(
        [DESK, "engine", "--config", str(bad), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "$.trading.timeframes[1]: bad timeframe '2x'" in proc.stderr
    assert not (tmp_path / "never.sqlite").exists()
