"""The control lease: at most one attached UI may send commands; the others are read-only.

A lease is one Redis key holding the holder's id with a TTL in milliseconds. ``acquire`` sets it
only if nobody holds it (``SET NX PX``), and renewing or releasing first checks that the caller
is still the holder, in one Lua script, so a UI whose lease ran out (a stalled process, a lost
network) can never extend or delete the lease another UI has since taken. The engine's command
receiver checks a command's holder id against :meth:`ControlLease.holder` and refuses others.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ControlLease:
    """One UI's handle on the control lease ``key`` (``RedisKeys.control_lease``)."""

    def __init__(self, redis: aioredis.Redis, key: str, holder_id: str, ttl_s: float) -> None:
        if not holder_id:
            raise ValueError("a lease holder needs a non-empty id")
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be > 0, got {ttl_s!r}")
        self._redis = redis
        self.key = key
        self.holder_id = holder_id
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if free (or extend it if already ours); False if another holds it."""
        return bool(await self._acquire(keys=[self.key], args=[self.holder_id, self.ttl_ms]))

    async def renew(self) -> bool:
        """Extend the TTL, only if we are still the holder; False means the lease was lost."""
        return bool(await self._renew(keys=[self.key], args=[self.holder_id, self.ttl_ms]))

    async def release(self) -> bool:
        """Give the lease up if we hold it; False if we did not (nothing is changed)."""
        return bool(await self._release(keys=[self.key], args=[self.holder_id]))

    async def holder(self) -> str | None:
        """The current holder's id, or None when nobody holds the lease."""
        value = await self._redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def held(self) -> bool:
        return await self.holder() == self.holder_id

    async def keep(self, interval_s: float | None = None) -> None:
        """Renew every ``interval_s`` (a third of the TTL by default) until the lease is lost.

        Returns when a renewal fails, so the caller can switch its UI to read-only; run it as
        a task and cancel it to stop renewing.
        """
        interval = interval_s if interval_s is not None else self.ttl_ms / 3000
        while True:
            await asyncio.sleep(interval)
            if not await self.renew():
                log.warning("control lease %s lost by %s", self.key, self.holder_id)
                return


async def lease_holder(redis: aioredis.Redis, key: str) -> str | None:
    """Who holds the lease at ``key`` (for the receiver side, which holds no lease itself)."""
    value = await redis.get(key)
    return value.decode() if isinstance(value, bytes) else value
