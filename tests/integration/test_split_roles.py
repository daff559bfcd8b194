"""A split desk: ``desk feed``, ``desk bots`` and ``desk executor`` as three processes.

They meet on a private redis-server, and trade on a ``desk sim-server`` process: the feed reads
its market data, the bots get closed candles from Redis pub/sub and send their orders as signed
commands, the executor takes mids from the feed's book views and trades on the simulator's
private API. A bot's signal must become an order filled on the simulator, in the executor's
SQLite.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from desk.bridge.commands_stream import CommandReceipt, CommandSender
from desk.bridge.keys import RedisKeys
from desk.clients.redis import RedisClient
from desk.config import RedisConfig
from desk.core.commands import CancelAll, PauseBot
from tests.bridge.redis_fixtures import RedisServer, free_port

SECRET = "split-roles-secret-0123456789"
TIMEOUT = 60.0


def _wait(condition: Any, timeout: float, what: str, procs: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.args} exited with {proc.returncode} waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _config(tmp: Path, role: str, sim_port: int, redis_url: str) -> Path:
    base = f"ws://127.0.0.1:{sim_port}/ws/v5"
    data = {
        "system": {"mode": "sim", "status_interval": 60, "log_level": "INFO"},
        "trading": {
            "symbols": ["BTC-USDT"],
            "timeframes": ["1s"],
            "channels": ["trades", "books"],
        },
        "exchanges": {
            "okx": {
                "ws_public_url": f"{base}/public",
                "ws_business_url": f"{base}/business",
                "ws_private_url": f"{base}/private",
                "rest_url": f"http://127.0.0.1:{sim_port}",
            }
        },
        "storage": {"sqlite_path": str(tmp / f"{role}.sqlite"), "flush_interval": 0.05},
        "redis": {"enabled": True, "url": redis_url, "key_prefix": "split"},
        "bots": [
            {
                "bot_id": "eager",
                "strategy": "ma_crossover",
                "symbol": "BTC-USDT",
                "timeframe": "1s",
                "size": 0.01,
                "params": {"fast": 2, "slow": 3},
            }
        ],
    }
    path = tmp / f"{role}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _desk(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DESK_COMMAND_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "desk.cli", *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def _filled_bot_orders(db: Path) -> list[tuple[str, str, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(
                "SELECT client_order_id, status, filled FROM orders "
                "WHERE bot_id = 'eager' AND status = 'filled'"
            ).fetchall()
    except sqlite3.Error:
        return []


def _sent_order_ids(db: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute(
                "SELECT order_id FROM bot_signals WHERE bot_id = 'eager' AND fate = 'sent'"
            ).fetchall()
    except sqlite3.Error:
        return set()
    return {row[0] for row in rows}


def _bot_events(db: Path, kind: str) -> list[tuple[str]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(
                "SELECT actor FROM bot_events WHERE bot_id = 'eager' AND kind = ?", (kind,)
            ).fetchall()
    except sqlite3.Error:
        return []


async def _operator_commands(url: str) -> tuple[CommandReceipt, CommandReceipt]:
    """A UI's way in: hold the control lease, send signed commands, wait for the receipts."""
    redis = aioredis.Redis.from_url(url)
    keys = RedisKeys("split")
    try:
        sender = CommandSender(redis, keys, "ui:test", SECRET.encode(), holder_id="operator-ui")
        lease = await sender.lease("acquire", timeout_s=30)  # granted by the executor
        assert lease.accepted, lease.reason
        pause = await sender.request(PauseBot(bot_id="eager"), timeout_s=30)
        cancel = await sender.request(CancelAll(), timeout_s=30)
        return pause, cancel
    finally:
        await redis.aclose()


async def _attached_event_sources(url: str) -> set[str]:
    config = RedisConfig(enabled=True, url=url, key_prefix="split")
    client = RedisClient(config, holder_id="watcher", auto_control=False)
    await client.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            sources = {e.source for e in client.events_since(0, limit=1000)}
            if {"feed", "bots", "executor"} <= sources:
                return sources
            await asyncio.sleep(0.1)
        return sources
    finally:
        await client.stop()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in reversed(started):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(started):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_a_bot_signal_becomes_an_order_filled_through_three_processes(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        sim_port = free_port()
        procs.append(
            _desk(
                [
                    "sim-server",
                    "--port",
                    str(sim_port),
                    "--venues",
                    "okx",
                    "--seed",
                    "5",
                    "--steps-per-second",
                    "400",
                ],
                tmp_path / "sim.log",
            )
        )
        _wait(
            lambda: "OKX REST" in (tmp_path / "sim.log").read_text(errors="replace"),
            TIMEOUT,
            "the simulator",
            procs,
        )
        for role in ("feed", "executor", "bots"):
            config = _config(tmp_path, role, sim_port, redis.url)
            procs.append(_desk([role, "--config", str(config)], tmp_path / f"{role}.log"))

        filled = _wait(
            lambda: _filled_bot_orders(tmp_path / "executor.sqlite"),
            TIMEOUT,
            "a bot order filled in the executor's SQLite",
            procs,
        )
        assert Decimal(filled[0][2]) == Decimal("0.01")
        # The bots process recorded the signal that sent it (its SQLite is written behind).
        _wait(
            lambda: filled[0][0] in _sent_order_ids(tmp_path / "bots.sqlite"),
            TIMEOUT,
            "the sent signal in the bots' SQLite",
            procs,
        )
        # An operator's commands reach the process that owns them: bots commands the bots,
        # order commands the executor (each answered once).
        pause, cancel = asyncio.run(_operator_commands(redis.url))
        assert pause.accepted, pause.reason
        assert cancel.accepted and "canceled" in cancel.detail, cancel
        _wait(
            lambda: _bot_events(tmp_path / "bots.sqlite", "mode"),
            TIMEOUT,
            "the pause recorded by the bots process",
            procs,
        )
        assert _bot_events(tmp_path / "bots.sqlite", "mode")[0] == ("operator-ui",)
        # An attached UI sees the system events of all three processes.
        sources = asyncio.run(_attached_event_sources(redis.url))
        assert {"feed", "bots", "executor"} <= sources, sources
        # Each role stops cleanly on SIGTERM.
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            assert proc.wait(timeout=30) == 0, proc.args
    except BaseException:
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        redis.kill()
