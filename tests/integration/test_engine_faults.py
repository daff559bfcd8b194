"""`desk engine` against a simulator that throws every fault it knows at it, value corruptions
included: the engine keeps going, ends with exit 0, its books ready, and nothing absurd or huge
reaches its log or its SQLite file.

Both are real processes (`desk sim-server`, `desk engine --config ... --duration ...`), faults go
in over the simulator's HTTP surface (``POST /sim/faults/{name}``). The engine is stopped with
SIGINT once its status line shows the books ready again after the last fault (the same clean stop
as the end of ``--duration``, which is only the backstop here: a wait on a condition, not on a
guess of how long a busy machine needs).
"""

from __future__ import annotations

import json
import math
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from desk.sim.faults import VALUE_FAULTS

DESK = str(Path(sys.executable).parent / "desk")
SYMBOLS = ("BTC-USDT", "ETH-USDT")
BACKSTOP_S = 600
STATUS = re.compile(
    r"books (\d+)/(\d+) .* reconnects (\d+) gaps (\d+) resyncs (\d+) cksum (\d+) decode (\d+)"
)
LINE_LIMIT = 2000  # a log line quoting a frame: 200 characters of it and the reason
CONNECTION_FAULTS: list[tuple[str, dict[str, object]]] = [
    ("malformed_frame", {}),
    ("truncated_frame", {}),
    ("stall", {"seconds": 1.0}),
    ("maintenance_notice", {"close_after": 0.5}),
    ("drop_connections", {}),
    ("drop_private", {}),
    ("fail_orders", {"count": 1}),
]
STREAM_FAULTS = ("sequence_gap", "bad_checksum", "duplicate_trades")


def test_every_fault_and_value_corruption_leaves_the_engine_running_and_its_books_ready(
    tmp_path: Path,
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen(
        [DESK, "sim-server", "--port", str(port), "--venues", "okx", "--seed", "3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _answers(base + "/api/v5/public/time"), 60, "the simulator")
        config, db = _write_config(tmp_path, port)
        log = tmp_path / "engine.log"
        with log.open("w") as err:
            engine = subprocess.Popen(
                [DESK, "engine", "--config", str(config), "--duration", str(BACKSTOP_S)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            _wait(lambda: _ready_after(log, 0), 120, "the engine's books")
            _inject_everything(base)
            after = len(_statuses(log))
            _wait(lambda: _recovered_after(log, after), 120, "books ready after the faults")
            engine.send_signal(signal.SIGINT)
            assert engine.wait(timeout=60) == 0
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=30)

    text = log.read_text(errors="replace")
    final = [line for line in text.splitlines() if "final status:" in line]
    assert final, "the engine logged its final status"
    books = STATUS.search(final[-1])
    assert books is not None and books.group(1) == books.group(2) == str(len(SYMBOLS))
    assert int(books.group(7)) >= len(VALUE_FAULTS) * 3, "every corrupted push was refused"
    assert int(books.group(3)) >= 1 and int(books.group(5)) >= 1
    assert max(len(line) for line in text.splitlines()) < LINE_LIMIT, "no 200 kB log line"
    assert "Traceback" not in text
    _assert_storage_is_sane(db)


def _inject_everything(base: str) -> None:
    """Each value corruption on each channel of one symbol, the stream faults on both, then
    the connection faults; a corruption waits for its push before the next one on that stream."""
    for name in VALUE_FAULTS:
        for channel in ("trades", "books", "tickers"):
            _post(base, name, {"inst_id": SYMBOLS[0], "channel": channel})
        _wait(lambda: not _get(base, "/sim/faults")["pending"], 60, f"{name} to go out")
    for name in STREAM_FAULTS:
        for inst in SYMBOLS:
            _post(base, name, {"inst_id": inst})
    for name, body in CONNECTION_FAULTS:
        _post(base, name, body)
    injected = _get(base, "/sim/faults")["injected"]
    assert set(injected) >= set(VALUE_FAULTS) | set(STREAM_FAULTS) | {
        n for n, _ in CONNECTION_FAULTS
    }


def _assert_storage_is_sane(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        candles = conn.execute(
            "SELECT open, high, low, close, volume, quote_volume FROM candles"
        ).fetchall()
        events = conn.execute("SELECT kind, message FROM system_events").fetchall()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        dead = (
            conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
            if "dead_letters" in tables
            else 0
        )
    assert candles, "candles were stored"
    for open_, high, low, close, volume, quote in candles:
        prices = (open_, high, low, close)
        assert all(isinstance(p, float) and math.isfinite(p) and 0 < p < 1e12 for p in prices)
        assert low <= min(open_, close) and max(open_, close) <= high
        assert volume >= 0 and quote >= 0 and math.isfinite(quote)
    kinds = {kind for kind, _ in events}
    assert {"decode_error", "resync"} <= kinds
    assert max(len(message) for _, message in events) < LINE_LIMIT
    assert dead == 0, "no row had to be put aside"


# --- helpers --------------------------------------------------------------------------------


def _write_config(tmp_path: Path, port: int) -> tuple[Path, Path]:
    db = tmp_path / "engine.sqlite"
    config = tmp_path / "desk.yaml"
    host = f"127.0.0.1:{port}"
    config.write_text(
        f"""
system: {{mode: sim, status_interval: 0.5}}
trading:
  symbols: [{", ".join(SYMBOLS)}]
  timeframes: [1s, 1m]
  channels: [trades, books, tickers]
exchanges:
  okx:
    ws_public_url: ws://{host}/ws/v5/public
    ws_business_url: ws://{host}/ws/v5/business
    ws_private_url: ws://{host}/ws/v5/private
    rest_url: http://{host}
storage: {{sqlite_path: {db}}}
"""
    )
    return config, db


def _statuses(log: Path) -> list[re.Match[str]]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [m for m in map(STATUS.search, text.splitlines()) if m is not None]


def _ready_after(log: Path, skip: int) -> bool:
    return any(m.group(1) == m.group(2) != "0" for m in _statuses(log)[skip:])


def _recovered_after(log: Path, skip: int) -> bool:
    """Settled after the faults: the last status lines since them (at least a few, so the
    delayed close of the maintenance notice has come and gone) show every book ready, the same
    number of reconnects (one or more) and every corrupted push refused."""
    recent = _statuses(log)[skip + 1 :][-4:]
    return len(recent) == 4 and all(
        m.group(1) == m.group(2) != "0"
        and int(m.group(3)) >= 1
        and m.group(3) == recent[-1].group(3)
        and int(m.group(7)) >= len(VALUE_FAULTS) * 3
        for m in recent
    )


def _post(base: str, name: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"{base}/sim/faults/{name}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert json.loads(reply.read()) == {"ok": True}, name


def _get(base: str, path: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(base + path, timeout=10) as reply:
        return json.loads(reply.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
