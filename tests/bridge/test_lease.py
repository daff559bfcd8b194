"""The control lease: granted by the engine, one holder at a time, unforgeable in Redis."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis

from desk.bridge.codec import encode
from desk.bridge.commands_stream import LeaseAction, LeaseRequest
from desk.bridge.keys import RedisKeys
from desk.bridge.lease import LeaseAuthority, LeaseGrant, LeaseReader
from desk.bridge.signing import Keyring
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import wait_until_async

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys

SECRET = b"lease-test-secret-0123456789abcd"


def request(holder: str, action: LeaseAction) -> LeaseRequest:
    return LeaseRequest(
        request_id=uuid.uuid4().hex,
        sender_id=f"ui:{holder}",
        holder_id=holder,
        issued_ns=time.time_ns(),
        action=action,
    )


class Refusals:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, kind: str, sender: str, detail: str) -> None:
        self.seen.append((kind, sender, detail))


def authority(
    redis: aioredis.Redis, keys: RedisKeys, ttl_s: float = 30, report: Refusals | None = None
) -> LeaseAuthority:
    lease = Keyring(SECRET, keys.prefix).lease
    return LeaseAuthority(redis, keys.control_lease, lease, ttl_s, report)


def reader(redis: aioredis.Redis, keys: RedisKeys, report: Refusals | None = None) -> LeaseReader:
    return LeaseReader(redis, keys.control_lease, Keyring(SECRET, keys.prefix).lease, report)


async def test_one_holder_at_a_time_renewed_and_released_only_by_it(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    engine = authority(redis_client, keys)
    watcher = reader(redis_client, keys)

    granted = await engine.handle(request("ui-1", "acquire"))
    assert granted.accepted and granted.detail["holder"] == "ui-1"
    assert granted.detail["ttl_ms"] == 30_000
    assert (await engine.handle(request("ui-1", "acquire"))).accepted  # again: extended
    taken = await engine.handle(request("ui-2", "acquire"))
    assert (taken.accepted, taken.reason) == (False, "held by ui-1")
    assert not (await engine.handle(request("ui-2", "renew"))).accepted
    assert not (await engine.handle(request("ui-2", "release"))).accepted
    assert await watcher.holder() == "ui-1"

    assert (await engine.handle(request("ui-1", "renew"))).accepted
    assert (await engine.handle(request("ui-1", "release"))).accepted
    assert await watcher.holder() is None  # a released grant, not a missing key
    assert (await engine.handle(request("ui-2", "acquire"))).accepted
    assert await watcher.holder() == "ui-2"


async def test_an_expired_lease_goes_to_the_next_ui_and_the_old_holder_cannot_renew(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    engine = authority(redis_client, keys, ttl_s=0.2)
    assert (await engine.handle(request("stalled", "acquire"))).accepted
    assert not (await engine.handle(request("next", "acquire"))).accepted

    async def taken() -> bool:
        return (await engine.handle(request("next", "acquire"))).accepted

    await wait_until_async(taken, what="the stalled lease to expire")
    renewal = await engine.handle(request("stalled", "renew"))
    assert not renewal.accepted and "held by next" in renewal.reason


@pytest.mark.parametrize(
    "forged",
    [
        b"usurper",  # a plain holder id, as a client without the secret wrote before
        encode(LeaseGrant(holder_id="usurper", sender_id="ui:x", expires_ns=2**62, ttl_ms=1)),
        Keyring(b"some-other-secret-0123456789abcd", "x").lease.seal(
            "whatever",
            encode(LeaseGrant(holder_id="usurper", sender_id="x", expires_ns=2**62, ttl_ms=1)),
        ),
    ],
    ids=["plain-id", "unsealed-grant", "wrong-key"],
)
async def test_a_lease_key_written_by_someone_else_is_ignored_reported_and_restored(
    redis_client: aioredis.Redis, keys: RedisKeys, forged: bytes
) -> None:
    engine_refusals, ui_refusals = Refusals(), Refusals()
    engine = authority(redis_client, keys, report=engine_refusals)
    watcher = reader(redis_client, keys, ui_refusals)
    assert (await engine.handle(request("ui-1", "acquire"))).accepted
    assert await watcher.holder() == "ui-1"

    await redis_client.set(keys.control_lease, forged)

    assert await watcher.holder() == "ui-1"  # the verified grant stays in force
    assert (await engine.handle(request("usurper", "acquire"))).reason == "held by ui-1"
    assert [k for k, *_ in ui_refusals.seen] == ["tampered_lease"]
    await engine.keep_key()
    assert engine.restored == 1
    assert await redis_client.get(keys.control_lease) != forged
    assert [k for k, *_ in engine_refusals.seen] == ["tampered_lease"]
    fresh = reader(redis_client, keys)  # a UI attaching now sees the real holder
    assert await fresh.holder() == "ui-1"


async def test_a_deleted_lease_key_changes_nothing(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    engine = authority(redis_client, keys)
    bots = reader(redis_client, keys)
    assert (await engine.handle(request("ui-1", "acquire"))).accepted
    assert await bots.holder() == "ui-1"
    await redis_client.delete(keys.control_lease)
    assert await bots.holder() == "ui-1"  # its grant has not expired
    assert not (await engine.handle(request("ui-2", "acquire"))).accepted
    await engine.keep_key()
    assert await reader(redis_client, keys).holder() == "ui-1"


async def test_an_older_grant_put_back_is_refused_as_a_replay(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    engine = authority(redis_client, keys)
    refusals = Refusals()
    bots = reader(redis_client, keys, refusals)
    assert (await engine.handle(request("ui-1", "acquire"))).accepted
    old = await redis_client.get(keys.control_lease)
    assert await bots.holder() == "ui-1"
    assert (await engine.handle(request("ui-1", "release"))).accepted
    assert (await engine.handle(request("ui-2", "acquire"))).accepted
    assert await bots.holder() == "ui-2"

    await redis_client.set(keys.control_lease, old)  # ui-1's grant, still unexpired

    assert await bots.holder() == "ui-2"
    assert [k for k, *_ in refusals.seen] == ["replay"]


def test_a_lease_needs_a_positive_ttl(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="ttl"):
        LeaseAuthority(redis_client, "k", None, ttl_s=0)
