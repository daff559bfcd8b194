"""The control half of :class:`~desk.clients.redis.RedisClient`: the lease, asked of the engine.

At most one attached UI sends commands. A UI asks the engine for the control lease with a
signed request on the command stream (:meth:`CommandSender.lease
<desk.bridge.commands_stream.CommandSender.lease>`); the engine grants it (or says who holds
it) in a sealed receipt and writes its sealed grant to the lease key, which every UI reads
through a :class:`~desk.bridge.lease.LeaseReader` to show who holds control. The holder renews
every third of the granted TTL in the background; it has control only while its last grant
lasts (by this process's clock, from when it asked) and the engine's grant names it. A value
in the lease key that the engine did not write is ignored and reported in this UI's event log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from desk.bridge.commands_stream import CommandSender, CommandTimeout, LeaseAction
from desk.bridge.lease import LeaseGrant, LeaseReader
from desk.bridge.tasks import cancel_and_wait
from desk.clients.redis_cache import REDIS_ERRORS
from desk.config import RedisConfig

log = logging.getLogger(__name__)


class RedisControl:
    """Control lease state for a RedisClient (which sets these attributes up)."""

    config: RedisConfig
    holder_id: str
    _sender: CommandSender | None
    _lease_reader: LeaseReader | None
    _redis_ok: bool
    _holder: str | None
    _has_control: bool
    _want_control: bool
    _control_until: float
    _granted_ttl_s: float
    _last_renew: float
    _lease_op: asyncio.Task[bool] | None
    _note_error: Callable[[BaseException], None]  # RedisViewCache's

    @property
    def has_control(self) -> bool:
        return self._has_control

    @property
    def control_holder(self) -> str | None:
        """Who holds the control lease as last seen (None: nobody)."""
        return self.holder_id if self._has_control else self._holder

    @property
    def control_status(self) -> str:
        """The header's text: ``CONTROL`` or ``READ-ONLY (held by X)``."""
        if not self._redis_ok:
            return "READ-ONLY (disconnected)"
        if self._has_control:
            return "CONTROL"
        if self._holder:
            return f"READ-ONLY (held by {self._holder})"
        return "READ-ONLY (nobody holds control)"

    async def acquire_control(self) -> bool:
        """Ask for control (and keep asking, in the background, while another UI holds it)."""
        self._want_control = True
        return await self._lease_request("acquire")

    async def release_control(self) -> None:
        """Give control up (another UI may take it); stay read-only until asked again."""
        self._want_control = False
        if self._has_control:
            await self._lease_request("release", timeout_s=2.0)
        self._has_control = False

    async def _try_acquire(self) -> bool:
        return await self._lease_request("acquire")

    async def _lease_request(self, action: LeaseAction, timeout_s: float | None = None) -> bool:
        """Ask the engine; the receipt decides whether this UI has control."""
        if self._sender is None:
            return False
        asked_at = time.monotonic()
        try:
            receipt = await self._sender.lease(action, timeout_s)
        except CommandTimeout as exc:
            log.warning("control lease %s: %s", action, exc)
            return False
        except REDIS_ERRORS as exc:
            self._note_error(exc)
            return False
        if action == "release":
            self._has_control = False
            return receipt.accepted
        if receipt.accepted:
            ttl_ms = receipt.detail.get("ttl_ms", self.config.lease_ttl * 1000)
            self._granted_ttl_s = float(ttl_ms) / 1000  # the engine's TTL, not our config's
            self._has_control = True
            self._holder = self.holder_id
            self._control_until = asked_at + self._granted_ttl_s
            self._last_renew = asked_at
        else:
            if self._has_control:
                log.warning("control lease lost: %s", receipt.reason)
            self._has_control = False
        return receipt.accepted

    def _observe_grant(self, raw: bytes | None) -> None:
        """The lease key as read by a refresh: who holds control, per the engine's grant."""
        if self._lease_reader is None:
            return
        grant: LeaseGrant | None = self._lease_reader.observe(raw)
        self._holder = grant.holder_id if grant is not None else None
        if self._has_control and grant is not None and grant.holder_id != self.holder_id:
            self._has_control = False  # the engine gave it to another UI (ours ran out)

    def _keep_lease(self) -> None:
        """Each refresh: drop control past its deadline; renew or ask in the background."""
        now = time.monotonic()
        if self._has_control and now >= self._control_until:
            log.warning("control lease expired (no renewal was granted in time)")
            self._has_control = False
        if self._lease_op is not None and not self._lease_op.done():
            return
        action: LeaseAction | None = None
        if self._has_control and now - self._last_renew >= self._granted_ttl_s / 3:
            action = "renew"
        elif not self._has_control and self._want_control and self._holder is None:
            action = "acquire"
        if action is not None:
            self._lease_op = asyncio.get_running_loop().create_task(
                self._lease_request(action), name=f"control-lease-{action}"
            )

    async def _stop_lease(self) -> None:
        op, self._lease_op = self._lease_op, None
        await cancel_and_wait(op)
        if self._has_control:
            await self.release_control()
