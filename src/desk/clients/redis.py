"""EngineClient over Redis: ``desk ui --attach redis://host:6379/0``.

The engine's :class:`~desk.engine.redis_link.RedisLink` keeps every view in a Redis key
(:mod:`desk.bridge.redis_views`). This client reads them all with one pipelined MGET per UI tick
in a background task (only values whose bytes changed are opened and decoded), and the UI's
synchronous view calls return the cached views (sliced to the depth/limit asked; signal filters
applied here over the cached recent list). So attaching mid-session draws the current state at
once, and the UI never waits on the network.

Reading and caching the views is :class:`~desk.clients.redis_cache.RedisViewCache`'s job, the
control lease :class:`~desk.clients.redis_control.RedisControl`'s; :class:`RedisClient` adds the
lifecycle, the secret and the commands.

**Trust.** With ``$DESK_COMMAND_SECRET`` set (the engine's), every view, the engine's heartbeat,
the lease grant and every command receipt must carry the engine's seal
(:mod:`desk.bridge.signing`): what does not verify is not shown or believed, and is reported in
this UI's own event log (health mode) as a security event. A secret that differs from the
engine's shows at attach as a clear error. Without a secret the UI can only watch (commands
disabled) and nothing it shows is verified.

Commands go through :class:`~desk.bridge.commands_stream.CommandSender` (signed with
``$DESK_COMMAND_SECRET``) and :meth:`execute` waits for the engine's acknowledgement.

**Control lease.** At most one attached UI sends commands: the one the engine granted the lease
(``auto_control`` asks at attach); the others are read-only: their commands are refused, here and
by the engine, with who holds it. A read-only UI that still wants control asks as soon as it is
free (released, or expired because its holder died). ``control_status`` is the header's text:
``CONTROL`` or ``READ-ONLY (held by X)``.

``connected`` is false when Redis is unreachable or the engine's heartbeat stopped moving;
views then stay as last seen, and books are marked stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import redis.asyncio as aioredis

from desk.bridge.codec import CodecError, decode_as
from desk.bridge.commands_stream import (
    CommandSender,
    CommandStreamConfig,
    CommandTimeout,
    MissingCommandSecret,
    load_secret,
)
from desk.bridge.keys import RedisKeys
from desk.bridge.lease import LeaseReader
from desk.bridge.redis_publisher import make_client, redis_auth
from desk.bridge.redis_views import DeskMeta, ViewKeys
from desk.bridge.security import RefusalReporter
from desk.bridge.signing import Keyring, Liveness, SealedReader
from desk.bridge.tasks import cancel_and_wait
from desk.bridge.views import EventView, InstrumentView
from desk.clients.redis_cache import REDIS_ERRORS, RedisViewCache
from desk.clients.redis_control import RedisControl
from desk.config import ConfigError, RedisConfig
from desk.core.commands import Command, CommandAck
from desk.core.enums import Severity
from desk.core.orders import OrderRequest

log = logging.getLogger(__name__)

EVENT_HISTORY = 1000


class EngineNotFound(ConnectionError):
    """Nothing answers at the given Redis URL and prefix (no Redis, or no engine wrote there)."""


def default_holder_id() -> str:
    """Who this UI is, as other UIs see it in "READ-ONLY (held by ...)"."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "ui"
    name = f"{user}@{socket.gethostname()}"
    name = re.sub(r"[^\w.:@+\-]", "_", name)[:120]  # it names this UI's ack stream
    return f"{name}:{os.getpid()}:{os.urandom(2).hex()}"


class RedisClient(RedisControl, RedisViewCache):
    """An :class:`~desk.clients.client.EngineClient` reading views from Redis (see module doc)."""

    def __init__(
        self,
        config: RedisConfig,
        *,
        holder_id: str | None = None,
        refresh_interval: float | None = None,
        auto_control: bool = True,
        attach_timeout: float = 10.0,
        client_factory: Callable[[], aioredis.Redis] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.keys = RedisKeys(config.key_prefix)
        self.view_keys = ViewKeys(self.keys)
        self.holder_id = holder_id or default_holder_id()
        self.refresh_interval = refresh_interval or config.view_interval
        self.auto_control = auto_control
        self.attach_timeout = attach_timeout
        self._factory = client_factory or (lambda: make_client(config.url))
        self._environ = environ
        self._redis: aioredis.Redis | None = None
        self._sender: CommandSender | None = None
        self.commands_error = ""
        self.reporter = RefusalReporter(self._local_event)
        self._secret: bytes | None = None
        self.keyring: Keyring | None = None
        if config.require_signature:
            try:
                self._secret = load_secret(config.command_secret_env, environ)
                self.keyring = Keyring(self._secret, config.key_prefix)
            except MissingCommandSecret as exc:
                self.commands_error = f"commands disabled: {exc}"
        data_key = self.keyring.data if self.keyring is not None else None
        self._view_reader = SealedReader(data_key, "view", self.reporter)
        self._liveness = Liveness(
            SealedReader(data_key, "heartbeat", self.reporter), config.heartbeat_ttl
        )
        self._lease_reader: LeaseReader | None = LeaseReader(
            None,
            self.keys.control_lease,
            self.keyring.lease if self.keyring is not None else None,
            self.reporter,
        )
        self.forged_views = 0
        self._meta: DeskMeta | None = None
        self._raw: dict[str, bytes] = {}
        self._views: dict[str, Any] = {}
        self._slices: dict[Any, Any] = {}
        self._events: deque[EventView] = deque(maxlen=EVENT_HISTORY)
        self._event_seq = 0
        self._remote_epoch = 0
        self._remote_seqs: dict[str, int] = {}  # per events view: the last seq merged
        self._redis_ok = False
        self._engine_alive = False
        self._holder: str | None = None
        self._has_control = False
        self._want_control = False
        self._control_until = 0.0
        self._granted_ttl_s = config.lease_ttl
        self._last_renew = 0.0
        self._lease_op: asyncio.Task[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self._command_lock = asyncio.Lock()
        self.refreshes = 0
        self.decode_errors = 0
        self.last_error = ""

    def _local_event(self, source: str, kind: str, message: str, severity: Severity) -> None:
        """A system event of this UI itself (a refused receipt or view) in its event log."""
        self._event_seq += 1
        self._events.append(
            EventView(
                seq=self._event_seq,
                ts=time.time_ns(),
                source=source,
                kind=kind,
                severity=severity,
                message=message,
            )
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Find the engine (its meta view), take control if free, read every view once.

        :class:`EngineNotFound` when no engine answers within ``attach_timeout`` (or what
        answers is not sealed with this UI's secret); :class:`ConfigError` for a Redis off
        this host without a password (unless ``allow_unauthenticated``).
        """
        problem = self.config.unauthenticated_problem()  # what make_client connects with
        if problem:
            raise ConfigError(problem)
        self._redis = self._factory()
        await self._wait_for_meta()
        stream_config = CommandStreamConfig(
            secret_env=self.config.command_secret_env,
            require_signature=self.config.require_signature,
            max_age_s=self.config.command_max_age,
            ack_timeout_s=self.config.ack_timeout,
            lease_ttl_s=self.config.lease_ttl,
        )
        try:
            self._sender = CommandSender(
                self._redis,
                self.keys,
                sender_id=f"ui:{self.holder_id}",
                secret=self._secret,
                holder_id=self.holder_id,
                config=stream_config,
                report=self.reporter,
            )
        except (MissingCommandSecret, ValueError) as exc:  # no secret, or a bad holder id
            self.commands_error = f"commands disabled: {exc}"
        if self.commands_error:
            log.warning("%s", self.commands_error)
        if self.auto_control:
            await self.acquire_control()
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-client")

    def _open_meta(self, raw: bytes) -> DeskMeta:
        """The engine's meta view, verified; :class:`EngineNotFound` saying why not."""
        payload = self._view_reader.open(self.view_keys.meta, raw)
        if payload is None:
            raise EngineNotFound(
                f"the desk description at {self.config.url} (prefix "
                f"{self.config.key_prefix!r}) is not sealed with this UI's "
                f"${self.config.command_secret_env} ({self._view_reader.last_refusal}): the "
                f"secret differs from the engine's, or something else wrote there"
            )
        try:
            return decode_as(payload, DeskMeta)
        except CodecError as exc:
            raise EngineNotFound(f"unreadable engine description: {exc}") from None

    def describe(self, timeout: float | None = None) -> DeskMeta:
        """Read the engine's meta view now, synchronously (before an event loop runs).

        The UI needs ``symbols`` and ``timeframes`` when it is built, before :meth:`start`;
        ``desk ui --attach`` calls this first. :class:`EngineNotFound` if nothing answers.
        """
        import redis as sync_redis

        wait = self.attach_timeout if timeout is None else timeout
        client = sync_redis.Redis.from_url(
            self.config.url,
            socket_timeout=max(wait, 0.5),
            socket_connect_timeout=max(wait, 0.5),
            **redis_auth(),
        )
        try:
            raw = client.get(self.view_keys.meta)
        except sync_redis.RedisError as exc:
            raise EngineNotFound(
                f"no desk engine at {self.config.url}: Redis unreachable: {exc}"
            ) from None
        finally:
            client.close()
        if raw is None:
            raise EngineNotFound(
                f"no desk engine at {self.config.url} with prefix {self.config.key_prefix!r} "
                f"(no engine has written there)"
            )
        self._meta = self._open_meta(raw)
        return self._meta

    async def _wait_for_meta(self) -> None:
        assert self._redis is not None
        deadline = time.monotonic() + self.attach_timeout
        why = "no engine has written there"
        while True:
            try:
                raw = await self._redis.get(self.view_keys.meta)
                if raw is not None:
                    self._meta = self._open_meta(raw)
                    self._raw[self.view_keys.meta] = raw
                    self._redis_ok = True
                    return
            except EngineNotFound as exc:  # (a ConnectionError: before REDIS_ERRORS)
                why = str(exc)
            except REDIS_ERRORS as exc:
                why = f"Redis unreachable: {type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                await self._close_redis()
                raise EngineNotFound(
                    f"no desk engine at {self.config.url} with prefix "
                    f"{self.config.key_prefix!r} ({why})"
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._stop_lease()
        await self._close_redis()

    async def _close_redis(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.refresh()
                if self._redis_ok:
                    self._keep_lease()
                self.reporter.flush()
            except REDIS_ERRORS as exc:
                self._note_error(exc)
            except Exception:  # never let a bad view end the refresh loop
                log.exception("redis client refresh failed")

    def check_order(self, request: OrderRequest) -> str:
        """The checks that need no engine: the request's shape and the instrument's rules.

        Limits, halt state and positions are checked by the engine when the order is sent (its
        refusal comes back in the acknowledgement).
        """
        if not self._has_control:
            return self.control_status.lower()
        from desk.execution.oms import validate

        try:
            request = msgspec.convert(msgspec.to_builtins(request), OrderRequest)
        except msgspec.ValidationError as exc:
            return f"invalid: {exc}"
        if not request.client_order_id:
            request = msgspec.structs.replace(request, client_order_id="preview")
        problem = validate(request)
        if problem:
            return problem
        for instrument in self.instruments():
            if instrument.symbol == request.symbol and instrument.venue == request.venue:
                return _instrument_problem(instrument, request)
        return ""

    # -- EngineClient: commands ------------------------------------------------------------

    async def execute(self, command: Command) -> CommandAck:
        """Send ``command`` to the engine and wait for its acknowledgement; never raises."""
        name = type(command).__name__
        if self._sender is None:
            return CommandAck(command=name, accepted=False, reason=self.commands_error)
        if not self._redis_ok:
            return CommandAck(
                command=name, accepted=False, reason=f"not connected to Redis ({self.last_error})"
            )
        if not self._has_control and self._want_control and self._holder is None:
            await self._try_acquire()
        if not self._has_control:
            return CommandAck(command=name, accepted=False, reason=self.control_status.lower())
        async with self._command_lock:  # the operator's commands, one after the other
            try:
                receipt = await self._sender.request(command)
            except CommandTimeout as exc:
                return CommandAck(
                    command=name,
                    accepted=False,
                    reason=f"{exc}: the engine may still apply it (check its state)",
                )
            except REDIS_ERRORS as exc:
                self._note_error(exc)
                return CommandAck(command=name, accepted=False, reason=f"Redis: {exc}")
        return CommandAck(
            command=name, accepted=receipt.accepted, reason=receipt.reason, detail=receipt.detail
        )


def _instrument_problem(instrument: InstrumentView, request: OrderRequest) -> str:
    try:
        tick, lot, minimum = (
            Decimal(instrument.tick_size),
            Decimal(instrument.lot_size),
            Decimal(instrument.min_size),
        )
    except InvalidOperation:
        return ""
    if instrument.state and instrument.state != "live":
        return f"{instrument.symbol} is {instrument.state}"
    if request.size < minimum:
        return f"size {request.size} is below the minimum {minimum}"
    if lot > 0 and request.size % lot != 0:
        return f"size {request.size} is not a multiple of the lot {lot}"
    if request.price is not None and tick > 0 and request.price % tick != 0:
        return f"price {request.price} is not on the tick {tick}"
    return ""
