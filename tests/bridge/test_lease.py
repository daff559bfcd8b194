"""The control lease: one holder at a time, renewable only by its holder, free again on expiry."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from desk.bridge.keys import RedisKeys
from desk.bridge.lease import ControlLease, lease_holder
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import wait_until_async

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys


async def test_one_holder_at_a_time(redis_client: aioredis.Redis, keys: RedisKeys) -> None:
    first = ControlLease(redis_client, keys.control_lease, "ui-1", ttl_s=30)
    second = ControlLease(redis_client, keys.control_lease, "ui-2", ttl_s=30)
    assert await first.acquire()
    assert await first.acquire()  # acquiring again extends one's own lease
    assert not await second.acquire()
    assert await second.holder() == "ui-1"
    assert await first.held() and not await second.held()
    assert not await second.renew()
    assert not await second.release()
    assert await lease_holder(redis_client, keys.control_lease) == "ui-1"

    assert await first.release()
    assert await first.holder() is None
    assert await second.acquire()
    assert await lease_holder(redis_client, keys.control_lease) == "ui-2"


async def test_renew_extends_only_the_holders_ttl(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    lease = ControlLease(redis_client, keys.control_lease, "ui-1", ttl_s=30)
    assert await lease.acquire()
    await redis_client.pexpire(keys.control_lease, 1000)
    assert await lease.renew()
    assert await redis_client.pttl(keys.control_lease) > 1000


async def test_an_expired_lease_goes_to_the_next_ui_and_the_old_holder_cannot_renew(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    stalled = ControlLease(redis_client, keys.control_lease, "ui-1", ttl_s=0.1)
    waiting = ControlLease(redis_client, keys.control_lease, "ui-2", ttl_s=30)
    assert await stalled.acquire()
    assert not await waiting.acquire()
    await wait_until_async(waiting.acquire, what="the stalled lease to expire")
    assert await waiting.holder() == "ui-2"
    assert not await stalled.renew()
    assert not await stalled.release()
    assert await waiting.held()


async def test_keep_returns_when_the_lease_is_lost(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    lease = ControlLease(redis_client, keys.control_lease, "ui-1", ttl_s=30)
    assert await lease.acquire()
    keeper = asyncio.create_task(lease.keep(interval_s=0.01))
    await redis_client.set(keys.control_lease, "usurper")
    await asyncio.wait_for(keeper, timeout=10)  # returns on its own: the renewal failed
    assert await lease.holder() == "usurper"


def test_a_lease_needs_an_id_and_a_positive_ttl(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        ControlLease(redis_client, "k", "", ttl_s=1)
    with pytest.raises(ValueError, match="ttl"):
        ControlLease(redis_client, "k", "ui", ttl_s=0)
