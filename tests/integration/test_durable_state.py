"""A halt (or a reduce) outlives the engine: kill -9 a real ``desk engine``, start it again on
the same SQLite file, and it comes back in the state it left; nothing new reaches the venue
until an operator resumes, and then the bots trade again. Bots' paused and manual modes come
back too.

Real parts only: the simulator runs as its own process (``desk sim-server``, so it outlives the
engine like an exchange would), the engine is a ``desk engine`` process, the operator's
commands go through the engine's command path over the suite's own Redis (signed, as a UI
sends them), and the checks read the engine's SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from desk.bridge.keys import RedisKeys
from desk.clients.redis import RedisClient
from desk.config import RedisConfig
from desk.core.commands import (
    Command,
    CommandAck,
    Halt,
    PauseBot,
    ResumeTrading,
    SetBotMode,
    SubmitOrder,
)
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.execution.credentials import Credentials
from desk.execution.venues.okx_wire import rest_headers
from desk.sim.accounts import SIM_CREDENTIALS
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys

SECRET = "durable-state-secret-0123456789"
HOLDER = "durable-test-operator"
TIMEOUT = 120.0
DESK = (sys.executable, "-m", "desk.cli")
SIM_ARGS = ("--seed", "11", "--steps-per-second", "400")
CREDS = Credentials(
    api_key=SIM_CREDENTIALS.api_key,
    secret=SIM_CREDENTIALS.secret,
    passphrase=SIM_CREDENTIALS.passphrase,
)


def _bot(bot_id: str, fast: int = 2, slow: int = 3) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "strategy": "ma_crossover",
        "symbol": "BTC-USDT",
        "timeframe": "1s",
        "size": 0.01,
        "params": {"fast": fast, "slow": slow},
    }


class Desk:
    """A simulator process, and engine processes started on one config and one SQLite file."""

    def __init__(self, tmp: Path, prefix: str) -> None:
        self.tmp = tmp
        self.db = tmp / "engine.sqlite"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redis = RedisConfig(
            enabled=True,
            url=redis_fixtures.shared_url(),
            key_prefix=prefix,
            lease_ttl=3.0,
            ack_timeout=30.0,
        )
        self.sim: subprocess.Popen[bytes] | None = None
        self.engine: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start_sim(self) -> None:
        self.sim = subprocess.Popen(
            [*DESK, "sim-server", "--port", str(self.port), "--venues", "okx", *SIM_ARGS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _poll(lambda: _answers(self.base + "/api/v5/public/time"), "the simulator", [self.sim])

    def config(self, bots: list[dict[str, Any]], risk: dict[str, Any] | None = None) -> Path:
        base = f"ws://127.0.0.1:{self.port}/ws/v5"
        data: dict[str, Any] = {
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
                    "rest_url": self.base,
                }
            },
            "storage": {"sqlite_path": str(self.db), "flush_interval": 0.05},
            "redis": {
                "enabled": True,
                "url": self.redis.url,
                "key_prefix": self.redis.key_prefix,
                "lease_ttl": self.redis.lease_ttl,
            },
            "bots": bots,
        }
        if risk:
            data["execution"] = {"risk": risk}
        self.runs += 1
        path = self.tmp / f"run{self.runs}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def start_engine(self, config: Path) -> int:
        """Start ``desk engine``; returns the last system event id before it started."""
        before = self.last_event_id()
        log = (self.tmp / f"engine{self.runs}.log").open("wb")
        self.engine = subprocess.Popen(
            [*DESK, "engine", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DESK_COMMAND_SECRET": SECRET},
        )
        _poll(
            lambda: self.events("started", "engine", after=before),
            "the engine started",
            self.procs(),
        )
        return before

    def kill_engine(self) -> None:
        assert self.engine is not None
        self.engine.send_signal(signal.SIGKILL)  # no flush, no goodbye
        self.engine.wait(30)
        self.engine = None

    def stop_engine(self) -> int:
        assert self.engine is not None
        self.engine.send_signal(signal.SIGINT)
        code = self.engine.wait(60)
        self.engine = None
        return code

    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in (self.sim, self.engine) if p is not None]

    def close(self) -> None:
        for proc in self.procs():
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

    # -- reading the engine's SQLite file (read-only, as another process would) --

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []

    def last_event_id(self) -> int:
        return (self.rows("SELECT MAX(id) FROM system_events") or [(0,)])[0][0] or 0

    def events(self, kind: str, source: str | None = None, after: int = 0) -> list[str]:
        sql = "SELECT message FROM system_events WHERE kind = ? AND id > ?"
        params: tuple[Any, ...] = (kind, after)
        if source is not None:
            sql += " AND source = ?"
            params += (source,)
        return [m for (m,) in self.rows(sql + " ORDER BY id", params)]

    def risk_state(self) -> tuple[str, str, str] | None:
        found = self.rows("SELECT state, reason, actor FROM risk_state WHERE component = 'risk'")
        return found[0] if found else None

    def orders_since(self, since_ns: int) -> list[tuple[str, str, int, str, str]]:
        return self.rows(
            "SELECT bot_id, status, reduce_only, reason, client_order_id FROM orders "
            "WHERE created_ns > ? ORDER BY created_ns",
            (since_ns,),
        )

    def refused_signals_since(self, bot_id: str, since_ns: int) -> int:
        found = self.rows(
            "SELECT COUNT(*) FROM bot_signals WHERE bot_id = ? AND recorded_ns > ? "
            "AND fate = 'filtered_risk'",
            (bot_id, since_ns),
        )
        return found[0][0] if found else 0

    def venue_order_ids(self) -> set[str]:
        venue = _get(self.base, "/api/v5/trade/orders-history?instType=SPOT&limit=1000")
        venue += _get(self.base, "/api/v5/trade/orders-pending?instType=SPOT")
        return {o["clOrdId"] for o in venue}

    # -- the operator, over Redis --

    async def command(self, *commands: Command) -> list[CommandAck]:
        """Send commands as an attached UI does; every one must be accepted."""
        client = RedisClient(self.redis, holder_id=HOLDER, attach_timeout=60.0)
        await client.start()
        acks = []
        try:
            deadline = time.monotonic() + 30
            while not client.has_control and not await client.acquire_control():
                assert time.monotonic() < deadline, f"no control lease: {client.control_status}"
                await asyncio.sleep(0.1)
            for command in commands:
                ack = await client.execute(command)
                assert ack.accepted, f"{type(command).__name__} refused: {ack.reason}"
                acks.append(ack)
        finally:
            await client.stop()
        return acks

    async def client(self) -> RedisClient:
        client = RedisClient(self.redis, holder_id=HOLDER, attach_timeout=60.0)
        await client.start()
        return client


@pytest.fixture
def desk(tmp_path: Path, keys: RedisKeys, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("DESK_COMMAND_SECRET", SECRET)
    desk = Desk(tmp_path, keys.prefix)
    desk.start_sim()
    try:
        yield desk
    finally:
        desk.close()


async def test_a_halt_survives_kill_9_and_only_a_resume_trades_again(desk: Desk) -> None:
    config = desk.config([_bot("eager"), _bot("held", 3, 5), _bot("hand", 3, 6)])
    desk.start_engine(config)
    _poll(
        lambda: desk.rows("SELECT 1 FROM orders WHERE status = 'filled'"),
        "a bot's fill",
        desk.procs(),
    )
    await desk.command(
        PauseBot(bot_id="held"),
        SetBotMode(bot_id="hand", mode="manual"),
        Halt(reason="durable test", flatten=True),
    )
    desk.kill_engine()  # at once: the acknowledged halt must already be on disk
    assert desk.risk_state() == ("halted", "durable test", HOLDER)
    sent_before = desk.venue_order_ids()

    restart_ns = time.time_ns()
    started_after = desk.start_engine(config)
    (restored,) = desk.events("risk_restored", after=started_after)
    assert restored.startswith("halted restored from the last run: durable test")
    # The bot keeps signalling, and every order it asks for is refused by the restored halt.
    _poll(
        lambda: desk.refused_signals_since("eager", restart_ns) >= 1,
        "a signal of the eager bot refused by the halt",
        desk.procs(),
    )
    # Its order row is committed by the write-behind writer a little later (a batch or
    # catch_up_interval after the signal's): wait for it rather than race it.
    new_orders = _poll(
        lambda: desk.orders_since(restart_ns), "the refused order, committed", desk.procs()
    )
    assert new_orders and all(status == "rejected" for _, status, *_ in new_orders), new_orders
    assert all("halted: durable test" in reason for *_, reason, _ in new_orders)
    assert desk.venue_order_ids() == sent_before, "an order reached the venue while halted"
    assert dict(desk.rows("SELECT bot_id, mode FROM bots")) == {
        "eager": "auto",
        "held": "paused",
        "hand": "manual",
    }

    client = await desk.client()
    try:
        await wait_until(lambda: client.health().risk_restored, 30, "the restored halt")
        assert client.trading().risk_state == "halted"
        modes = {b.bot_id: b.mode for b in client.bots().bots}
        assert modes == {"eager": "auto", "held": "paused", "hand": "manual"}
    finally:
        await client.stop()

    resume_ns = time.time_ns()
    await desk.command(ResumeTrading())
    assert desk.risk_state() == ("active", "resumed", HOLDER)
    _poll(
        lambda: [o for o in desk.orders_since(resume_ns) if o[1] != "rejected"],
        "an order of the eager bot after the resume",
        desk.procs(),
    )
    traded = {bot_id for bot_id, status, *_ in desk.orders_since(resume_ns) if status != "rejected"}
    assert traded == {"eager"}  # the paused and the manual bot stay out
    assert desk.stop_engine() == 0


async def test_reducing_survives_kill_9_and_only_reduces_until_a_resume(desk: Desk) -> None:
    # 1. A position to reduce: a manual buy on a desk with no limits in the way.
    plain = desk.config([])
    desk.start_engine(plain)
    client = await desk.client()
    try:
        await wait_until(lambda: bool(client.book("BTC-USDT").asks), 60, "a BTC-USDT book")
    finally:
        await client.stop()
    buy = OrderRequest(
        symbol="BTC-USDT", side=Side.BUY, order_type=OrderType.MARKET, size=Decimal("0.01")
    )
    await desk.command(SubmitOrder(request=buy))
    _poll(lambda: desk.rows("SELECT 1 FROM fills"), "the manual fill", desk.procs())
    assert desk.stop_engine() == 0

    # 2. A gross exposure limit the position is over: the monitor moves to REDUCING.
    strict = desk.config(
        [_bot("eager")], risk={"max_gross_exposure_pct": "0.01", "trim_interval_s": 3600}
    )
    desk.start_engine(strict)
    _poll(lambda: (desk.risk_state() or ("",))[0] == "reducing", "REDUCING stored", desk.procs())
    desk.kill_engine()
    state, reason, actor = desk.risk_state() or ("", "", "")
    assert (state, actor) == ("reducing", "risk monitor") and "gross exposure" in reason

    # 3. Back on limits the position is well within: still REDUCING, because it was restored.
    restart_ns = time.time_ns()
    started_after = desk.start_engine(desk.config([_bot("eager")]))
    (restored,) = desk.events("risk_restored", after=started_after)
    assert restored.startswith("reducing restored from the last run: gross exposure")
    _poll(
        lambda: desk.refused_signals_since("eager", restart_ns) >= 1,
        "a signal of the eager bot refused while reducing",
        desk.procs(),
    )
    assert desk.risk_state() == (state, reason, actor)
    for bot_id, status, reduce_only, why, _ in desk.orders_since(restart_ns):
        # only trims of the held position go out; the bot's new risk is refused
        assert reduce_only or status == "rejected", (bot_id, status, why)
        if bot_id == "eager":
            assert status == "rejected" and "reducing" in why

    resume_ns = time.time_ns()
    await desk.command(ResumeTrading())
    assert (desk.risk_state() or ("",))[0] == "active"
    _poll(
        lambda: [o for o in desk.orders_since(resume_ns) if o[0] == "eager" and o[1] != "rejected"],
        "an order of the eager bot after the resume",
        desk.procs(),
    )
    assert desk.stop_engine() == 0


# -- helpers ----------------------------------------------------------------------------------


def _poll(
    condition: Callable[[], object],
    what: str,
    procs: list[subprocess.Popen[bytes]],
    timeout: float = TIMEOUT,
) -> Any:
    """Wait for ``condition`` (a blocking check of processes and files) or fail, naming it."""
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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def _get(base: str, path: str) -> list[dict[str, Any]]:
    headers = rest_headers(CREDS, "GET", path, "", time.time_ns() // 1_000_000, False)
    with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers)) as reply:
        body = json.loads(reply.read())
    assert body["code"] == "0", body
    return body["data"]
