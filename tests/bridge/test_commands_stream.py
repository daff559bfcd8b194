"""Commands over a Redis Stream: signed, acknowledged, never applied twice, refused when forged."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from desk.bridge.codec import encode
from desk.bridge.command_receiver import CommandReceiver
from desk.bridge.commands_stream import (
    CommandSender,
    CommandStreamConfig,
    MissingCommandSecret,
    sign,
)
from desk.bridge.keys import COMMAND_GROUP, RedisKeys
from desk.bridge.security import RefusalReporter
from desk.clients.client import CommandAck
from desk.core.commands import Command, StartBot
from desk.core.enums import Severity
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import shared_url
from tests.waiting import wait_until

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys

SECRET = b"a-test-secret-of-32-bytes-length"
CONFIG = CommandStreamConfig(claim_idle_s=0.05, claim_every_s=0.0, block_ms=20, ack_timeout_s=10)


class Engine:
    """Stands in for the engine's command handler; counts each bot's starts in Redis too."""

    def __init__(self, redis: aioredis.Redis, keys: RedisKeys) -> None:
        self.applied: list[Command] = []
        self._redis = redis
        self._keys = keys

    async def apply(self, command: Command) -> CommandAck:
        self.applied.append(command)
        assert isinstance(command, StartBot)
        await self._redis.incr(effect_key(self._keys, command.bot_id))
        return CommandAck(command="start_bot", accepted=True)


def effect_key(keys: RedisKeys, bot_id: str) -> str:
    return f"{keys.prefix}:effect:{bot_id}"


async def effects(redis: aioredis.Redis, keys: RedisKeys, bot_id: str) -> int:
    return int(await redis.get(effect_key(keys, bot_id)) or 0)


@pytest.fixture
async def receivers(keys: RedisKeys) -> AsyncIterator[list[CommandReceiver]]:
    """Receivers a test started, stopped before its keys are deleted."""
    started: list[CommandReceiver] = []
    yield started
    for receiver in started:
        await receiver.stop()


def start(receivers: list[CommandReceiver], receiver: CommandReceiver) -> CommandReceiver:
    receivers.append(receiver)
    receiver.start()
    return receiver


async def test_a_signed_command_is_applied_once_and_acknowledged(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    engine = Engine(redis_client, keys)
    start(receivers, CommandReceiver(redis_client, keys, engine.apply, "c1", SECRET, config=CONFIG))
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)

    receipt = await sender.request({"cmd": "start_bot", "bot_id": "b1"})
    assert receipt.accepted and receipt.reason == ""
    receipt = await sender.request(StartBot(bot_id="b2"))
    assert receipt.accepted
    assert engine.applied == [StartBot(bot_id="b1"), StartBot(bot_id="b2")]
    assert await redis_client.xpending(keys.commands_stream, COMMAND_GROUP) == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_a_duplicate_entry_of_one_command_is_applied_once(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    engine = Engine(redis_client, keys)
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)
    command_id = await sender.send(StartBot(bot_id="b1"))
    entry = (await redis_client.xrange(keys.commands_stream))[0][1]
    await redis_client.xadd(keys.commands_stream, entry)  # the same signed entry, twice
    receiver = start(
        receivers, CommandReceiver(redis_client, keys, engine.apply, "c1", SECRET, config=CONFIG)
    )
    assert (await sender.wait_ack(command_id)).accepted
    await wait_until(lambda: receiver.duplicates == 1, what="the duplicate to be acknowledged")
    assert await effects(redis_client, keys, "b1") == 1


@pytest.mark.parametrize("secret", [None, b"not-the-shared-secret-at-all!!"], ids=["none", "wrong"])
async def test_unsigned_or_badly_signed_commands_are_refused(
    redis_client: aioredis.Redis,
    keys: RedisKeys,
    receivers: list[CommandReceiver],
    secret: bytes | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = Engine(redis_client, keys)
    events: list[tuple[str, str, str, Severity]] = []
    reporter = RefusalReporter(lambda *event: events.append(event))
    receiver = start(
        receivers,
        CommandReceiver(
            redis_client, keys, engine.apply, "c1", SECRET, config=CONFIG, report=reporter
        ),
    )
    lax = CommandStreamConfig(require_signature=False, ack_timeout_s=10)
    forger = CommandSender(redis_client, keys, "intruder", secret, config=lax)

    await forger.send(StartBot(bot_id="b1"))
    await wait_until(lambda: receiver.bad_signatures == 1, what="the forgery to be refused")

    assert engine.applied == []
    assert await effects(redis_client, keys, "b1") == 0
    # Its sender is unproven: no receipt, so no ack stream is created under its name...
    assert not await redis_client.exists(keys.acks_stream("intruder"))
    assert (await redis_client.xpending(keys.commands_stream, COMMAND_GROUP))["pending"] == 0
    # ...but a security event names the sender and the reason.
    [(source, kind, message, severity)] = events
    assert (source, kind, severity) == ("security", "bad_signature", Severity.WARNING)
    assert "'intruder'" in message and "bad signature" in message
    assert any(r.name == "desk.security" and "bad signature" in r.message for r in caplog.records)


async def test_a_consumer_killed_between_apply_and_ack_does_not_cause_a_second_apply(
    redis_client: aioredis.Redis,
    keys: RedisKeys,
    receivers: list[CommandReceiver],
    tmp_path: Path,
) -> None:
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)
    command_id = await sender.send(StartBot(bot_id="b1"))

    # A consumer in its own process applies the command and is SIGKILLed before it can XACK.
    script = tmp_path / "doomed_consumer.py"
    script.write_text(DOOMED_CONSUMER)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), shared_url(), keys.prefix, SECRET.decode()
    )
    assert await asyncio.wait_for(process.wait(), timeout=60) == -9
    assert await effects(redis_client, keys, "b1") == 1
    pending = await redis_client.xpending(keys.commands_stream, COMMAND_GROUP)
    assert pending["pending"] == 1 and pending["consumers"][0]["name"] == b"doomed"

    engine = Engine(redis_client, keys)
    rescuer = start(
        receivers,
        CommandReceiver(redis_client, keys, engine.apply, "rescuer", SECRET, config=CONFIG),
    )
    receipt = await sender.wait_ack(command_id)

    assert not receipt.accepted and receipt.reason.startswith("interrupted: consumer doomed")
    assert engine.applied == [] and await effects(redis_client, keys, "b1") == 1
    assert rescuer.claimed == 1 and rescuer.interrupted == 1
    assert (await redis_client.xpending(keys.commands_stream, COMMAND_GROUP))["pending"] == 0
    # The rescuer goes on applying new commands, once each.
    assert (await sender.request(StartBot(bot_id="b2"))).accepted
    assert await effects(redis_client, keys, "b2") == 1


DOOMED_CONSUMER = textwrap.dedent(
    """
    import asyncio, os, signal, sys

    import redis.asyncio as aioredis

    from desk.bridge.command_receiver import CommandReceiver
    from desk.bridge.keys import RedisKeys

    url, prefix, secret = sys.argv[1:4]

    async def main():
        client = aioredis.Redis.from_url(url)

        async def apply(command):
            await client.incr(f"{prefix}:effect:{command.bot_id}")
            os.kill(os.getpid(), signal.SIGKILL)  # dies after the effect, before the ack

        receiver = CommandReceiver(client, RedisKeys(prefix), apply, "doomed", secret.encode())
        await receiver.ensure_group()
        while True:
            await receiver.poll(block_ms=50)

    asyncio.run(main())
    """
)


async def test_a_restarted_consumer_does_not_reapply_what_it_was_applying(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)
    entered = asyncio.Event()

    async def hangs_after_effect(command: Command) -> CommandAck:
        assert isinstance(command, StartBot)
        await redis_client.incr(effect_key(keys, command.bot_id))
        entered.set()
        await asyncio.Event().wait()  # cancelled here: the process "dies" before the ack
        raise AssertionError("unreachable")

    first = CommandReceiver(redis_client, keys, hangs_after_effect, "c1", SECRET, config=CONFIG)
    first.start()
    command_id = await sender.send(StartBot(bot_id="b1"))
    await asyncio.wait_for(entered.wait(), timeout=10)
    await first.stop(timeout_s=0)  # killed mid-apply

    engine = Engine(redis_client, keys)
    again = CommandStreamConfig(claim_idle_s=3600, block_ms=20)  # only its own pending entry
    restarted = start(
        receivers, CommandReceiver(redis_client, keys, engine.apply, "c1", SECRET, config=again)
    )
    receipt = await sender.wait_ack(command_id, timeout_s=10)
    assert not receipt.accepted and receipt.reason.startswith("interrupted")
    assert engine.applied == [] and await effects(redis_client, keys, "b1") == 1
    assert restarted.interrupted == 1


async def test_a_command_a_dead_consumer_never_started_is_applied_by_another(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)
    engine = Engine(redis_client, keys)
    idle = CommandReceiver(redis_client, keys, engine.apply, "dead", SECRET, config=CONFIG)
    await idle.ensure_group()
    command_id = await sender.send(StartBot(bot_id="b1"))
    # "dead" takes delivery and dies before doing anything with it.
    await redis_client.xreadgroup(COMMAND_GROUP, "dead", {keys.commands_stream: ">"}, count=10)

    start(
        receivers, CommandReceiver(redis_client, keys, engine.apply, "live", SECRET, config=CONFIG)
    )
    assert (await sender.wait_ack(command_id)).accepted
    assert engine.applied == [StartBot(bot_id="b1")]
    assert await effects(redis_client, keys, "b1") == 1


async def test_only_the_lease_holder_is_obeyed(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    engine = Engine(redis_client, keys)
    start(
        receivers,
        CommandReceiver(
            redis_client,
            keys,
            engine.apply,
            "c1",
            SECRET,
            lease_key=keys.control_lease,
            config=CONFIG,
        ),
    )
    holder = CommandSender(redis_client, keys, "ui-1", SECRET, holder_id="ui-1", config=CONFIG)
    watcher = CommandSender(redis_client, keys, "ui-2", SECRET, holder_id="ui-2", config=CONFIG)
    assert (await holder.lease("acquire")).accepted  # the receiver grants it
    assert not (await watcher.lease("acquire")).accepted

    refused = await watcher.request(StartBot(bot_id="b2"))
    accepted = await holder.request(StartBot(bot_id="b1"))

    assert not refused.accepted and refused.reason == "not the control lease holder (held by ui-1)"
    assert accepted.accepted
    assert engine.applied == [StartBot(bot_id="b1", actor="ui-1")]


async def test_a_stale_command_is_refused_as_expired(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    from desk.bridge.commands_stream import CommandEnvelope

    engine = Engine(redis_client, keys)
    start(receivers, CommandReceiver(redis_client, keys, engine.apply, "c1", SECRET, config=CONFIG))
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)
    await sender.send(StartBot(bot_id="warmup"))  # positions the sender's ack cursor
    body = encode(
        CommandEnvelope(
            command_id="old1",
            sender_id="ui-1",
            holder_id="",
            issued_ns=1,
            command=StartBot(bot_id="b1"),
        )
    )
    await redis_client.xadd(keys.commands_stream, {"body": body, "sig": sign(SECRET, body)})
    receipt = await sender.wait_ack("old1")
    assert not receipt.accepted and receipt.reason.startswith("expired")
    assert await effects(redis_client, keys, "b1") == 0


def test_signing_without_a_secret_is_a_clear_error(
    redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESK_COMMAND_SECRET", raising=False)
    names = RedisKeys()
    with pytest.raises(MissingCommandSecret, match=r"\$DESK_COMMAND_SECRET is not set"):
        CommandSender.from_env(redis_client, names, "ui-1")
    monkeypatch.setenv("DESK_COMMAND_SECRET", "short")
    with pytest.raises(MissingCommandSecret, match="too short"):
        CommandSender.from_env(redis_client, names, "ui-1")
    with pytest.raises(MissingCommandSecret):
        CommandReceiver(redis_client, names, Engine(redis_client, names).apply, "c1", None)
    monkeypatch.setenv("DESK_COMMAND_SECRET", os.urandom(16).hex())
    assert CommandSender.from_env(redis_client, names, "ui-1").sender_id == "ui-1"


async def test_a_forged_copy_read_first_claims_nothing_and_the_genuine_command_is_applied(
    redis_client: aioredis.Redis, keys: RedisKeys, receivers: list[CommandReceiver]
) -> None:
    """The ledger claim comes after the signature check: a badly signed entry that carries a
    genuine command id, read before the genuine entry, must not get the genuine one refused
    (as "interrupted") nor applied twice."""
    sender = CommandSender(redis_client, keys, "ui-1", SECRET, config=CONFIG)
    await sender.prepare()
    command_id, body = sender._envelope(StartBot(bot_id="b1"))
    genuine = sender._xadd_args("body", body)
    await redis_client.execute_command(*genuine[:-1], "0" * 64)  # same id, a wrong signature
    await redis_client.execute_command(*genuine)
    engine = Engine(redis_client, keys)
    receiver = start(
        receivers, CommandReceiver(redis_client, keys, engine.apply, "c1", SECRET, config=CONFIG)
    )
    receipt = await sender.wait_ack(command_id)
    assert receipt.accepted, receipt.reason
    assert receiver.bad_signatures == 1 and receiver.interrupted == 0
    assert engine.applied == [StartBot(bot_id="b1")]
    assert await effects(redis_client, keys, "b1") == 1
