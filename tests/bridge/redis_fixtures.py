"""Redis fixtures for the bridge tests: the suite's own server, private servers, sample events.

The suite never relies on a Redis someone else started: the first test that needs Redis starts
the suite's own ``redis-server`` on a free port (:func:`shared_url`), stopped when the run ends.
Tests on it get a unique key prefix and everything under it is deleted afterwards. Tests that
kill Redis start their own ``redis-server`` on a free port (:class:`RedisServer`). Without
``redis-server`` installed the tests fail, naming the install command. Import the fixtures
into a test module by assignment (``redis_client = redis_fixtures.redis_client``).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from desk.bridge.codec import BusEvent
from desk.bridge.keys import RedisKeys
from desk.core import topics
from desk.core.enums import ConnectionState, Severity, Side
from desk.core.events import BookChanged, Candle, FeedStatus, SystemEvent, Ticker, Trade
from desk.core.orders import Fill, Liquidity, Order, OrderStatus, OrderType
from desk.signals.bots import BotEvent, BotSignal, SignalFate
from desk.signals.signal import Direction, Signal

INSTALL_HINT = (
    "redis-server is not installed: `make test` installs it (as root), "
    "or run `apt-get install redis-server`"
)
_shared: RedisServer | None = None


def shared_url() -> str:
    """The URL of the suite's own Redis, started on first use and killed when the run ends."""
    global _shared
    if _shared is None:
        server = RedisServer(Path(tempfile.mkdtemp(prefix="desk-redis-")))
        server.start()
        atexit.register(server.kill)
        _shared = server
    return _shared.url


async def wait_until_async(
    condition: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = ""
) -> None:
    """``tests.waiting.wait_until`` for a condition that must itself await (a Redis read)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server that a test may kill and start again on the same port and dir.

    ``durable`` turns on the append-only file with fsync on every write, so what Redis
    acknowledged survives a SIGKILL (the tests count events across a crash). ``extra_args``
    go to redis-server as they are (``["--aclfile", path]``); the server's ``default`` user
    must still be able to PING without a password (the start-up check uses it).
    """

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        durable: bool = False,
        extra_args: list[str] | None = None,
    ) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail(INSTALL_HINT)
        self.directory = directory
        self.port = port or free_port()
        self.durable = durable
        self.extra_args = list(extra_args or [])
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.durable
            else ["--appendonly", "no"]
        )
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *persistence,
                "--dir",
                str(self.directory),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started private server (no persistence), killed at the end."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client of the suite's own Redis (:func:`shared_url`)."""
    client = aioredis.Redis.from_url(shared_url(), socket_timeout=5)
    await client.ping()
    yield client
    await client.aclose()


@pytest.fixture
async def keys(redis_client: aioredis.Redis) -> AsyncIterator[RedisKeys]:
    """Names under a prefix unique to this test; every key under it is deleted afterwards."""
    names = RedisKeys(prefix=f"desktest-{uuid.uuid4().hex[:12]}")
    yield names
    doomed = [key async for key in redis_client.scan_iter(match=f"{names.prefix}:*")]
    if doomed:
        await redis_client.delete(*doomed)


def sample_events() -> list[tuple[str, BusEvent]]:
    """One event of every bus event type, with the topic it is published on."""
    t = 1_700_000_000_000_000_000
    signal_ = Signal(
        ts=t,
        symbol="BTC-USDT",
        timeframe="1m",
        direction=Direction.LONG,
        strength=0.75,
        price=65000.5,
        indicators={"rsi": 28.5},
        reason="RSI 28.5 below 30",
        strategy="rsi_mean_reversion",
    )
    order = Order(
        ts_exchange=t,
        ts_recv=t + 1,
        client_order_id="b1x0001",
        venue_order_id="9001",
        symbol="BTC-USDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=Decimal("65000.1"),
        size=Decimal("0.010"),
        filled=Decimal("0.004"),
        avg_price=Decimal("65000.1"),
        status=OrderStatus.PARTIALLY_FILLED,
        bot_id="b1",
        venue="okx",
        fee=Decimal("0.0000026"),
        fee_ccy="BTC",
    )
    fill = Fill(
        ts_exchange=t,
        ts_recv=t + 2,
        client_order_id="b1x0001",
        venue_order_id="9001",
        trade_id="77",
        symbol="BTC-USDT",
        side=Side.BUY,
        price=Decimal("65000.1"),
        size=Decimal("0.004"),
        fee=Decimal("-0.0000001"),
        fee_ccy="BTC",
        liquidity=Liquidity.MAKER,
        bot_id="b1",
        venue="okx",
    )
    market = topics.market_data("BTC-USDT")
    return [
        (
            market,
            Trade(
                ts_exchange=t,
                ts_recv=t + 5,
                venue="okx",
                symbol="BTC-USDT",
                trade_id="1",
                price=65000.5,
                size=0.1,
                side=Side.SELL,
                count=2,
            ),
        ),
        (
            market,
            Ticker(
                ts_exchange=t,
                ts_recv=t,
                venue="okx",
                symbol="BTC-USDT",
                last=65000.5,
                last_size=0.1,
                bid=65000.0,
                bid_size=1.5,
                ask=65001.0,
                ask_size=2.0,
                open_24h=64000.0,
                high_24h=66000.0,
                low_24h=63000.0,
                volume_24h=1234.5,
                volume_quote_24h=80_000_000.0,
            ),
        ),
        (
            market,
            BookChanged(
                ts_exchange=t,
                ts_recv=t,
                venue="okx",
                symbol="BTC-USDT",
                seq_id=42,
                snapshot=True,
                best_bid=65000.0,
                best_ask=65001.0,
            ),
        ),
        (
            market,
            Candle(
                ts_exchange=t,
                ts_recv=t,
                venue="okx",
                symbol="BTC-USDT",
                timeframe="1m",
                end=t,
                open=1.0,
                high=2.0,
                low=0.5,
                close=1.5,
                volume=10.0,
                quote_volume=15.0,
                trades=7,
                closed=True,
            ),
        ),
        (
            topics.SYSTEM_EVENTS,
            FeedStatus(
                ts_exchange=0,
                ts_recv=t,
                venue="okx",
                connection="public",
                state=ConnectionState.CONNECTED,
            ),
        ),
        (
            topics.SYSTEM_EVENTS,
            SystemEvent(
                ts_exchange=0,
                ts_recv=t,
                source="okx",
                kind="gap",
                message="seq gap 41 -> 43",
                severity=Severity.WARNING,
                symbol="BTC-USDT",
            ),
        ),
        (topics.trade_updates("b1"), order),
        (topics.trade_updates("b1"), fill),
        (
            topics.bot_signals("b1"),
            BotEvent(
                ts_exchange=0,
                ts_recv=t,
                bot_id="b1",
                kind="mode",
                detail={"mode": "paused"},
                actor="operator",
            ),
        ),
        (
            topics.bot_signals("b1"),
            BotSignal(
                ts_exchange=t,
                ts_recv=t,
                bot_id="b1",
                signal=signal_,
                fate=SignalFate.SENT,
                order_id="b1x0001",
            ),
        ),
    ]


def numbered_fill(n: int, bot_id: str = "b1") -> Fill:
    """A distinct fill per ``n`` (trade id = n), for counting on the trade-updates stream."""
    return Fill(
        ts_exchange=n,
        ts_recv=n,
        client_order_id=f"c{n}",
        venue_order_id=f"v{n}",
        trade_id=str(n),
        symbol="BTC-USDT",
        side=Side.BUY,
        price=Decimal("100.5"),
        size=Decimal("0.001"),
        fee=Decimal("0"),
        fee_ccy="USDT",
        liquidity=Liquidity.TAKER,
        bot_id=bot_id,
        venue="okx",
    )


def numbered_trade(n: int) -> Trade:
    return Trade(
        ts_exchange=n,
        ts_recv=n,
        venue="okx",
        symbol="BTC-USDT",
        trade_id=str(n),
        price=100.0,
        size=1.0,
        side=Side.BUY,
    )
