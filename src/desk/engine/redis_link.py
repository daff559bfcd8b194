"""The engine's link to Redis: views for attaching UIs, the bus on pub/sub, commands in.

Started by the engine when ``redis.enabled`` (and by each split role). Three parts:

* **views**: every EngineClient view an attaching UI draws (book, tape, tickers, candles,
  health, bots, signals, indicators, trading, instruments, strategies, system events; layout in
  :mod:`desk.bridge.redis_views`) is built by an :class:`~desk.engine.views.EngineViews` over
  this engine (the same code the local UI uses) and written, codec-encoded, into
  ``{prefix}:view:*`` every ``view_interval`` when it changed, in one pipelined round trip; plus
  a heartbeat with a TTL.
* **bus**: a :class:`RedisPublisher` ships every bus event to pub/sub, Orders/Fills also to the
  durable trade-updates stream (buffered, never lost, while Redis is away).
* **commands**: a :class:`CommandReceiver` whose apply is ``engine.commands.execute``: signed
  commands, applied exactly once, only from the holder of the control lease (which this
  receiver grants, when it reads for the ``engine`` consumer group).

With ``$DESK_COMMAND_SECRET`` set, every view, heartbeat and pub/sub message is sealed with the
data key derived from it (:mod:`desk.bridge.signing`), so the processes that act on them (a
split desk's bots and executor, attached UIs) can tell them from anything written by a Redis
client without the secret. Every refusal the receiver makes becomes a rate-limited system event
(:class:`~desk.bridge.security.RefusalReporter`). A Redis off this host without a password is
refused at start unless ``redis.allow_unauthenticated`` (a :class:`ConfigError`).

Nothing here can stall the engine: everything runs in its own tasks with short socket
timeouts. Redis down at start: the engine runs on its in-process bus and says so (a system
event, and the ``redis`` row of the health view). Redis lost mid-run: the same, and the views
are all written again the moment it is back (it may have lost them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from desk.bridge.codec import encode
from desk.bridge.command_receiver import CommandReceiver
from desk.bridge.commands_stream import (
    CommandStreamConfig,
    MissingCommandSecret,
    load_secret,
)
from desk.bridge.keys import COMMAND_GROUP, RedisKeys
from desk.bridge.redis_publisher import (
    CONNECTION_ERRORS,
    PublisherState,
    RedisPublisher,
    make_client,
)
from desk.bridge.redis_state import RedisStateWriter
from desk.bridge.redis_views import (
    BOOK_DEPTH,
    BOT_DETAIL_LIMIT,
    CANDLE_LIMIT,
    ENGINE_COMPONENT,
    EVENT_LIMIT,
    SIGNAL_LIMIT,
    SPLIT_EVENT_ROLES,
    TAPE_LIMIT,
    VIEW_GROUPS,
    DeskMeta,
    EventsView,
    InstrumentsView,
    StrategiesView,
    ViewKeys,
)
from desk.bridge.security import RefusalReporter
from desk.bridge.signing import Keyring
from desk.bridge.tasks import cancel_and_wait
from desk.bridge.views import ConnectionHealth, HealthView, QueueHealth, View
from desk.config import ConfigError
from desk.core.commands import Command, CommandAck
from desk.core.enums import ConnectionState, Severity
from desk.engine.views import EngineViews

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts

log = logging.getLogger(__name__)

MODELS_EVERY_S = 1.0


def command_stream_config(engine_config: Any) -> CommandStreamConfig:
    """The command-stream settings of a desk config's ``redis`` section."""
    redis = engine_config.redis
    return CommandStreamConfig(
        secret_env=redis.command_secret_env,
        require_signature=redis.require_signature,
        max_age_s=redis.command_max_age,
        ack_timeout_s=redis.ack_timeout,
        lease_ttl_s=redis.lease_ttl,
    )


def load_keyring(engine_config: Any) -> tuple[Keyring | None, bytes | None, str]:
    """``(keyring, secret, problem)`` of a desk config: None and why when there is no secret.

    With ``redis.require_signature`` off there is nothing to sign with and no problem.
    """
    stream = command_stream_config(engine_config)
    if not stream.require_signature:
        return None, None, ""
    try:
        secret = load_secret(stream.secret_env)
    except MissingCommandSecret as exc:
        return None, None, str(exc)
    return Keyring(secret, engine_config.redis.key_prefix), secret, ""


class RedisLink:
    """Connects one engine (or one split role) to Redis; see the module docstring.

    ``groups`` names the views this process provides (``VIEW_GROUPS``; a whole engine provides
    all of them); ``commands`` whether it applies commands; ``lease_exempt_prefix`` lets
    senders whose id starts with it (a bots process) skip the control-lease check;
    ``command_group`` / ``handles`` split the command stream between processes (split roles:
    the bots process answers bot commands, the executor the rest).
    """

    def __init__(
        self,
        engine: EngineParts,
        *,
        component: str = ENGINE_COMPONENT,
        groups: tuple[str, ...] = VIEW_GROUPS,
        commands: bool = True,
        lease_exempt_prefix: str | None = None,
        client_factory: Callable[[], aioredis.Redis] | None = None,
        command_group: str = COMMAND_GROUP,
        handles: Callable[[Command], bool] | None = None,
        reporter: RefusalReporter | None = None,
    ) -> None:
        unknown = set(groups) - set(VIEW_GROUPS)
        if unknown:
            raise ValueError(f"unknown view groups {sorted(unknown)}")
        self.engine = engine
        self.config = engine.config.redis
        self.component = component
        self.groups = groups
        self.keys = RedisKeys(self.config.key_prefix)
        self.view_keys = ViewKeys(self.keys)
        # Built now, before the engine starts, so its state sees every event from the first.
        self.views = EngineViews(engine)
        self._factory = client_factory or (lambda: make_client(self.config.url))
        self.keyring, self._secret, self.secret_problem = load_keyring(engine.config)
        self._sealer = self.keyring.data if self.keyring is not None else None
        self.reporter = reporter or RefusalReporter(engine.emit)
        self.publisher = RedisPublisher(
            engine.bus,
            self.keys,
            self._factory,
            publisher_id=f"{component}-{os.getpid()}",
            sealer=self._sealer,
            market="market" in groups,  # a split role does not echo the feed's data back
        )
        self._want_commands = commands
        self._lease_exempt_prefix = lease_exempt_prefix
        self._command_group = command_group
        self._handles = handles
        self.receiver: CommandReceiver | None = None
        self.commands_error = ""
        self._redis: aioredis.Redis | None = None
        self._state_writer: RedisStateWriter | None = None
        self._written: dict[str, Any] = {}
        self._candle_marks: dict[tuple[str, str, str], tuple[int, int]] = {}
        self._instruments: InstrumentsView | None = None
        self._models_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._last_beat = 0.0
        self.connected = False
        self._ever_connected = False
        self.writes = 0
        self.rounds = 0
        self.errors = 0
        self.last_error = ""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start publishing and reading commands; never raises for Redis being down.

        :class:`ConfigError` for a Redis off this host without a password (unless allowed).
        """
        problem = self.config.unauthenticated_problem()
        if problem:
            raise ConfigError(problem)
        self._redis = self._factory()
        self._state_writer = RedisStateWriter(
            self._redis, self.keys, self._sealer, register_components=False
        )
        if self.secret_problem:
            self.engine.emit(
                "redis",
                "unsigned",
                f"nothing this process writes to Redis is signed: {self.secret_problem}; "
                f"the other processes will refuse it",
                Severity.ERROR,
            )
        self.publisher.start()
        try:
            await asyncio.wait_for(self._redis.ping(), 2.0)
            self._on_connected()
        except (*CONNECTION_ERRORS, RedisError, TimeoutError) as exc:
            self._note_error(exc)
            self.engine.emit(
                "redis",
                "unavailable",
                f"Redis unreachable at {self.config.url} ({self.last_error}): running on the "
                f"in-process bus; attached UIs and other processes see nothing until it is back",
                Severity.WARNING,
            )
        if self._want_commands:
            self._start_receiver()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-link")

    def _start_receiver(self) -> None:
        assert self._redis is not None
        stream_config = command_stream_config(self.engine.config)
        if self.secret_problem:
            self.commands_error = self.secret_problem
            self.engine.emit(
                "redis",
                "commands_disabled",
                f"commands over Redis disabled: {self.secret_problem}",
                Severity.ERROR,
            )
            return
        secret = self._secret
        self.receiver = CommandReceiver(
            self._redis,
            self.keys,
            self._apply,
            consumer=f"{self.component}@{socket.gethostname()}",
            secret=secret,
            lease_key=self.keys.control_lease,
            config=stream_config,
            lease_exempt_prefix=self._lease_exempt_prefix,
            group=self._command_group,
            handles=self._handles,
            report=self.reporter,
        )
        self.receiver.start()

    async def _apply(self, command: Command) -> CommandAck:
        return await self.engine.commands.execute(command)

    async def stop(self) -> None:
        """Stop reading commands, write the views a last time, flush the publisher, close."""
        if self.receiver is not None:
            await self.receiver.stop()
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.connected:
            with contextlib.suppress(*CONNECTION_ERRORS, RedisError, TimeoutError):
                await asyncio.wait_for(self.write_views(), 2.0)
        await self.publisher.stop()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    # -- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        interval = self.config.view_interval
        backoff = interval
        while True:
            if not self.connected:
                try:
                    await self._redis_client().ping()
                except (*CONNECTION_ERRORS, RedisError) as exc:
                    self._note_error(exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                self._on_connected()
                backoff = interval
            try:
                await self.write_views()
                await self._beat()
                self.reporter.flush()
                self.rounds += 1
            except (*CONNECTION_ERRORS, RedisError) as exc:
                self._on_lost(exc)
                continue
            except Exception:  # a bug in one view must not end the link
                self.errors += 1
                log.exception("redis link: writing views failed")
            await asyncio.sleep(interval)

    def _redis_client(self) -> aioredis.Redis:
        assert self._redis is not None, "RedisLink.start() was not called"
        return self._redis

    def _on_connected(self) -> None:
        again = self._ever_connected
        self.connected = True
        self._ever_connected = True
        self._written.clear()  # Redis may have lost everything: write every view again
        self._last_beat = 0.0
        if again:
            self.engine.emit(
                "redis", "reconnected", f"Redis back at {self.config.url}: views republished"
            )
        else:
            self.engine.emit("redis", "connected", f"linked to Redis at {self.config.url}")

    def _on_lost(self, exc: BaseException) -> None:
        self._note_error(exc)
        was = self.connected
        self.connected = False
        if was:
            self.engine.emit(
                "redis",
                "lost",
                f"Redis connection lost ({self.last_error}): running on the in-process bus, "
                f"orders and fills are kept for it",
                Severity.WARNING,
            )

    def _note_error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        ttl = self.config.heartbeat_ttl
        if now - self._last_beat < ttl / 3:
            return
        assert self._state_writer is not None
        await self._state_writer.heartbeat(self.component, ttl)
        self._last_beat = now

    async def write_views(self) -> int:
        """Write every view that changed since it was last written; how many were."""
        pending: list[tuple[str, Any]] = []
        for key, view in self._views():
            last = self._written.get(key)
            if last is view or (last is not None and last.version == view.version and last == view):
                continue
            pending.append((key, view))
        if not pending:
            return 0
        pipe = self._redis_client().pipeline(transaction=False)
        sealer = self._sealer
        for key, view in pending:
            data = encode(view)
            pipe.set(key, sealer.seal(key, data) if sealer is not None else data)
        await pipe.execute()
        for key, view in pending:
            self._written[key] = view
        self.writes += len(pending)
        return len(pending)

    # -- views ----------------------------------------------------------------------------

    def _candles(self, symbol: str, timeframe: str, venue: str) -> Iterator[tuple[str, View]]:
        """``venue``'s candles view, unless neither its closed bars nor its trades moved."""
        state = self.views.state
        series = (symbol, timeframe, venue)
        mark = (
            state.venue_candle_version.get(series, 0),
            state.venue_trade_version.get((symbol, venue), 0),
        )
        key = self.view_keys.candles(symbol, timeframe, venue)
        if self._candle_marks.get(series) == mark and key in self._written:
            return  # unchanged: skip building 500 candles
        self._candle_marks[series] = mark
        yield key, self.views.candles(symbol, timeframe, CANDLE_LIMIT, venue)

    def _views(self) -> Iterator[tuple[str, View]]:
        keys, views, engine = self.view_keys, self.views, self.engine
        config = engine.config
        groups = self.groups
        if "market" in groups:  # the market's writer is who attaching UIs start from
            yield (
                keys.meta,
                DeskMeta(
                    version=1,
                    mode=config.system.mode,
                    symbols=config.trading.symbols,
                    timeframes=config.trading.timeframes,
                    component=self.component,
                    started_ns=engine.started_ns,
                    views=groups,
                    venues=views.venues,
                ),
            )
            for symbol in config.trading.symbols:
                for venue in views.venues:
                    yield keys.book(symbol, venue), views.book(symbol, BOOK_DEPTH, venue)
                yield keys.tape(symbol), views.tape(symbol, TAPE_LIMIT)
                if len(views.venues) > 1:  # one venue: its tape is the merged one
                    for venue in views.venues:
                        yield keys.tape(symbol, venue), views.tape(symbol, TAPE_LIMIT, venue)
                for timeframe in config.trading.timeframes:
                    for venue in views.venues:
                        yield from self._candles(symbol, timeframe, venue)
            yield keys.tickers, views.tickers()
            yield keys.cross_venue, views.cross_venue()
        if "health" in groups:
            yield keys.health, self.health(views.health())
        if "events" in groups or self.component in SPLIT_EVENT_ROLES:
            events = list(views.state.events)[-EVENT_LIMIT:]
            key = keys.events if "events" in groups else keys.component_events(self.component)
            yield key, EventsView(version=events[-1].seq if events else 0, events=events)
        if "bots" in groups:
            yield keys.bots, views.bots()
            for status in engine.bots.statuses():
                with contextlib.suppress(KeyError):
                    yield keys.bot(status.bot_id), views.bot_detail(status.bot_id, BOT_DETAIL_LIMIT)
            yield keys.signals, views.signals(limit=SIGNAL_LIMIT)
            yield keys.indicators, views.indicators()
            now = time.monotonic()
            if now - self._models_at >= MODELS_EVERY_S:  # rebuilt (ages move) on every call
                self._models_at = now
                yield keys.models, views.models()
            yield keys.strategies, StrategiesView(version=1, strategies=views.strategies())
        if "trading" in groups:
            yield keys.trading, views.trading()
        if "instruments" in groups:
            yield keys.instruments, self._instruments_view()

    def _instruments_view(self) -> InstrumentsView:
        current = self.views.instruments()
        last = self._instruments
        if last is not None and last.instruments == current:
            return last
        self._instruments = InstrumentsView(
            version=(last.version + 1) if last else 1, instruments=current
        )
        return self._instruments

    def health(self, base: HealthView) -> HealthView:
        """``base`` plus a ``redis`` connection row and the publisher's buffer as a queue."""
        return msgspec.structs.replace(
            base,
            connections=[*base.connections, self.connection_health()],
            queues=[*base.queues, self.queue_health()],
        )

    def connection_health(self) -> ConnectionHealth:
        """The Redis link as one row of the health screen's connections."""
        up = self.connected and self.publisher.state is PublisherState.CONNECTED
        return ConnectionHealth(
            venue="redis",
            name=f"redis {self.config.key_prefix}",
            state=ConnectionState.CONNECTED if up else ConnectionState.DISCONNECTED,
            msgs_per_s=0.0,
            bytes_per_s=0.0,
            latency_p50_ms=0.0,
            latency_p99_ms=0.0,
            last_message_age_ms=0.0,
            reconnects=self.publisher.reconnects,
            gaps=0,
            resyncs=0,
            checksum_failures=0,
            decode_errors=self.errors,
            books_ready=0,
            books_total=0,
        )

    def queue_health(self) -> QueueHealth:
        """The publisher's buffer (orders/fills wait there while Redis is away)."""
        p = self.publisher
        return QueueHealth(
            name="redis-publisher",
            depth=p.buffered,
            maxsize=p.config.trade_buffer_bound,
            dropped=p.dropped_market + p.dropped_events,
            over_bound=p.over_bound,
        )
