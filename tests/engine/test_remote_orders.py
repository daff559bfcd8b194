"""The bots role's order sink: a signal's order reaches the executor as a signed command, its
answer is counted, a refusal becomes a bot event, and Redis being away loses no order silently."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from desk.bridge.command_receiver import CommandReceiver
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import make_client
from desk.bridge.signing import Keyring
from desk.clients.client import CommandAck
from desk.config import DeskConfig, parse_config
from desk.core import topics
from desk.core.bus import Bus
from desk.core.commands import Command, SubmitOrder
from desk.engine.redis_link import command_stream_config
from desk.engine.remote_orders import RemoteOrderSink
from desk.signals.bots import BotConfig, BotEvent
from desk.signals.signal import Direction, Signal
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import RedisServer, free_port, shared_url
from tests.waiting import wait_until

SECRET = "remote-orders-test-secret-0123456789"
BOT = BotConfig(
    bot_id="b1", strategy="ma_crossover", symbol="BTC-USDT", timeframe="1m", size=0.01,
    params={"fast": 2, "slow": 3},
)  # fmt: skip
redis_client = redis_fixtures.redis_client


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_COMMAND_SECRET", SECRET)


def config_for(url: str, prefix: str) -> DeskConfig:
    return parse_config({"redis": {"enabled": True, "url": url, "key_prefix": prefix}})


def signal(n: int, direction: Direction) -> Signal:
    return Signal(
        ts=1_700_000_000_000_000_000 + n, symbol="BTC-USDT", timeframe="1m",
        direction=direction, strength=1.0, price=60000.0, indicators={}, reason="test",
        strategy="ma_crossover",
    )  # fmt: skip


class Executor:
    """The executor's side: a receiver that answers every SubmitOrder as told."""

    def __init__(self, config: DeskConfig, accept: bool = True) -> None:
        self.applied: list[Command] = []
        self.accept = accept
        self.receiver = CommandReceiver(
            make_client(config.redis.url), RedisKeys(config.redis.key_prefix), self.apply,
            "executor", SECRET.encode(), config=command_stream_config(config),
            lease_exempt_prefix="bots:",
        )  # fmt: skip

    async def apply(self, command: Command) -> CommandAck:
        self.applied.append(command)
        reason = "" if self.accept else "risk: position limit"
        return CommandAck(command="submit_order", accepted=self.accept, reason=reason)


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    name = f"desktest-orders-{uuid.uuid4().hex[:10]}"
    yield name
    doomed = [key async for key in redis_client.scan_iter(match=f"{name}:*")]
    if doomed:
        await redis_client.delete(*doomed)


async def started(config: DeskConfig, bus: Bus) -> RemoteOrderSink:
    sink = RemoteOrderSink(config, bus, Keyring(SECRET.encode(), config.redis.key_prefix))
    await sink.start()
    return sink


async def test_a_signal_becomes_one_signed_order_the_executor_applies(prefix: str) -> None:
    config = config_for(shared_url(), prefix)
    executor = Executor(config)
    executor.receiver.start()
    sink = await started(config, Bus())
    try:
        await wait_until(lambda: sink._sender is not None and sink._sender.listening)
        order_id = sink.submit(BOT, signal(1, Direction.LONG))
        await wait_until(lambda: sink.sent == 1, what="the executor's receipt")
        (command,) = executor.applied
        assert isinstance(command, SubmitOrder)
        assert command.request.client_order_id == order_id
        assert command.request.size == sink._expected[("b1", "BTC-USDT")]
        assert sink.submit(BOT, signal(2, Direction.LONG)) == ""  # already there: no order
        sink.submit(BOT, signal(3, Direction.SHORT))
        await wait_until(lambda: sink.sent == 2, what="the second receipt")
        assert [c.request.side for c in executor.applied] == ["buy", "sell"]  # type: ignore[attr-defined]
    finally:
        await sink.stop()
        await executor.receiver.stop()


async def test_a_refused_order_is_a_bot_event_and_the_position_is_read_again(
    prefix: str,
) -> None:
    config = config_for(shared_url(), prefix)
    executor = Executor(config, accept=False)
    executor.receiver.start()
    bus = Bus()
    events: list[Any] = []
    bus.subscribe(topics.bot_signals("b1"), events.append)
    sink = await started(config, bus)
    try:
        sink.submit(BOT, signal(1, Direction.LONG))
        await wait_until(lambda: sink.refused == 1, what="the refusal")
        (event,) = events
        assert isinstance(event, BotEvent) and event.kind == "order_refused"
        assert "position limit" in event.detail["error"]
        assert ("b1", "BTC-USDT") not in sink._expected
    finally:
        await sink.stop()
        await executor.receiver.stop()


async def test_with_redis_away_an_order_is_refused_not_lost_and_orders_flow_once_it_is_back(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, port=free_port())
    config = parse_config(
        {"redis": {"enabled": True, "url": server.url, "key_prefix": "desk", "ack_timeout": 1}}
    )
    bus = Bus()
    events: list[Any] = []
    bus.subscribe(topics.bot_signals("b1"), events.append)
    sink = await started(config, bus)
    executor = Executor(config)
    try:
        sink.submit(BOT, signal(1, Direction.LONG))
        await wait_until(lambda: sink.refused == 1, what="refused while Redis is away")
        assert events and events[0].kind == "order_refused"
        server.start()
        executor.receiver.start()
        sink.submit(BOT, signal(2, Direction.LONG))
        await wait_until(lambda: sink.sent == 1, what="an order once Redis is back")
        await wait_until(lambda: sink._sender is not None and sink._sender.can_send_now)
        sink.submit(BOT, signal(3, Direction.SHORT))  # now written at once
        await wait_until(lambda: sink.sent == 2, what="the order sent at once")
    finally:
        await sink.stop()
        await executor.receiver.stop()
        server.kill()
