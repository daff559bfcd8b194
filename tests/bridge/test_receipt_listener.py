"""A sender whose ack stream is always being read: commands written at once, receipts filed as
they come, forged ones still refused, nothing lost while its connection is away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from desk.bridge.command_receiver import CommandReceiver
from desk.bridge.commands_stream import CommandSender, CommandStreamConfig, CommandTimeout
from desk.bridge.keys import RedisKeys
from desk.bridge.receipt_listener import ReceiptListener
from desk.bridge.redis_publisher import make_client
from desk.bridge.resp import RespConnection, params_of
from desk.clients.client import CommandAck
from desk.core.commands import Command, StartBot
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import RedisServer, shared_url
from tests.waiting import wait_until

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys

SECRET = b"a-test-secret-of-32-bytes-length"
CONFIG = CommandStreamConfig(block_ms=50, ack_timeout_s=10)


class Applied(list[Command]):
    async def apply(self, command: Command) -> CommandAck:
        self.append(command)
        return CommandAck(command="start_bot", accepted=True)


@pytest.fixture
async def stack(keys: RedisKeys) -> AsyncIterator[list[object]]:
    """What a test started (receivers, listeners, connections), stopped at the end."""
    started: list[object] = []
    yield started
    for thing in reversed(started):
        if isinstance(thing, RespConnection):
            thing.close()
        else:
            await thing.stop()  # type: ignore[attr-defined]


def start_receiver(url: str, keys: RedisKeys, applied: Applied) -> CommandReceiver:
    receiver = CommandReceiver(make_client(url), keys, applied.apply, "c1", SECRET, config=CONFIG)
    receiver.start()
    return receiver


async def listening_sender(url: str, keys: RedisKeys, stack: list[object]) -> CommandSender:
    client = make_client(url)
    sender = CommandSender(client, keys, "bots:test", SECRET, config=CONFIG)
    await sender.prepare()
    conn = await RespConnection.open(*params_of(client))
    sender.send_over(conn)
    listener = ReceiptListener(sender, *params_of(client), block_ms=200)
    listener.start()
    stack += [conn, listener]
    await wait_until(lambda: sender.listening, what="the listener parked")
    return sender


async def test_a_command_sent_at_once_is_answered_through_the_listener(
    keys: RedisKeys, stack: list[object]
) -> None:
    applied = Applied()
    stack.append(start_receiver(shared_url(), keys, applied))
    sender = await listening_sender(shared_url(), keys, stack)

    command_id, written = sender.send_now(StartBot(bot_id="b1"))  # no await: already written
    await written
    receipt = await sender.wait_ack(command_id)
    assert receipt.accepted and applied == [StartBot(bot_id="b1")]
    second_id, _ = sender.send_now(StartBot(bot_id="b2"))
    assert (await asyncio.wait_for(sender.expect(second_id), 10)).accepted


async def test_a_forged_receipt_is_refused_while_listening_and_the_real_one_awaited(
    redis_client: aioredis.Redis, keys: RedisKeys, stack: list[object]
) -> None:
    sender = await listening_sender(shared_url(), keys, stack)
    command_id, written = sender.send_now(StartBot(bot_id="b1"))
    await written
    forged = b'{"command_id": "' + command_id.encode() + b'", "accepted": true}'
    await redis_client.xadd(sender.ack_stream, {"receipt": forged})
    await wait_until(lambda: sender.forged_receipts == 1, what="the forgery refused")
    with pytest.raises(CommandTimeout):  # nobody applied it, and the forgery did not count
        await sender.wait_ack(command_id, timeout_s=0.3)

    applied = Applied()
    stack.append(start_receiver(shared_url(), keys, applied))
    late_id, _ = sender.send_now(StartBot(bot_id="b2"))
    assert (await sender.wait_ack(late_id)).accepted  # the real receipt still gets through


async def test_receipts_written_while_the_listener_was_away_are_read_when_it_is_back(
    tmp_path: Path, stack: list[object]
) -> None:
    server = RedisServer(tmp_path, durable=True)
    server.start()
    names = RedisKeys(prefix="desk")
    try:
        sender = await listening_sender(server.url, names, stack)
        server.kill()
        await wait_until(lambda: not sender.listening, what="the listener noticed")
        server.start()
        applied = Applied()
        stack.append(start_receiver(server.url, names, applied))
        command_id = await sender.send(StartBot(bot_id="b1"))  # the slow way: its conn is gone
        assert (await sender.wait_ack(command_id)).accepted
        await wait_until(lambda: sender.listening, what="the listener back")
    finally:
        for thing in reversed(stack):
            if not isinstance(thing, RespConnection):
                await thing.stop()  # type: ignore[attr-defined]
        stack.clear()
        server.kill()
