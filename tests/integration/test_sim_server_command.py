"""`desk sim-server` runs the simulator as its own process, as a user would start it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from websockets.asyncio.client import connect

DESK = str(Path(sys.executable).parent / "desk")


def _start(*extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [DESK, "sim-server", "--port", "0", "--seed", "5", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(urls) < 3:
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, "sim-server never printed its URLs"
        match = re.match(r"OKX (public WebSocket|business WebSocket|REST): (\S+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
    return proc, urls


async def test_sim_server_prints_urls_serves_okx_and_stops_on_sigint() -> None:
    proc, urls = _start()
    try:
        assert urls["public WebSocket"].startswith("ws://127.0.0.1:")
        assert urls["public WebSocket"].endswith("/ws/v5/public")
        async with connect(urls["public WebSocket"]) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "op": "subscribe",
                        "args": [{"channel": "books", "instId": "BTC-USDT"}],
                    }
                )
            )
            ack = json.loads(await ws.recv())
            assert ack["event"] == "subscribe" and ack["id"] == "1" and ack["connId"]
            push = json.loads(await ws.recv())
            assert push["action"] == "snapshot" and push["data"][0]["prevSeqId"] == -1
            async with aiohttp.ClientSession() as http:
                fault = f"{urls['REST']}/sim/faults/malformed_frame"
                async with http.post(fault, json={}) as response:
                    assert (await response.json())["ok"] is True
                bad = f"{urls['REST']}/sim/faults/no_such_fault"
                async with http.post(bad, json={}) as response:
                    assert response.status == 400
            frames = [await ws.recv() for _ in range(50)]
            assert any(not _is_json(f) for f in frames), "the malformed frame never arrived"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def _is_json(frame: str | bytes) -> bool:
    try:
        json.loads(frame)
    except ValueError:
        return False
    return True


async def test_history_hours_sets_how_much_history_a_client_finds_at_start() -> None:
    """A client back-filling a chart finds ``--history-hours`` of 1m candles (here 2 h: 120
    closed bars and the one in progress), not the default day's."""
    proc, urls = _start("--history-hours", "2", "--venues", "okx")
    try:
        url = f"{urls['REST']}/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=300"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            rows = (await response.json())["data"]
        assert 120 <= len(rows) <= 122
        stamps = [int(r[0]) for r in rows]
        assert stamps == sorted(stamps, reverse=True)  # newest first, as OKX answers
        assert stamps[0] - stamps[-1] == (len(rows) - 1) * 60_000
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
