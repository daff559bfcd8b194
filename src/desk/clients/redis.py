"""EngineClient over Redis: ``desk ui --attach redis://host:6379/0``.

The engine's :class:`~desk.engine.redis_link.RedisLink` keeps every view in a Redis key
(:mod:`desk.bridge.redis_views`). This client reads them all with one pipelined MGET per UI tick
in a background task (only values whose bytes changed are decoded), and the UI's synchronous
view calls return the cached views (sliced to the depth/limit asked; signal filters applied
here over the cached recent list). So attaching mid-session draws the current state at once,
and the UI never waits on the network.

Commands go through :class:`~desk.bridge.commands_stream.CommandSender` (signed with
``$DESK_COMMAND_SECRET``) and :meth:`execute` waits for the engine's acknowledgement.

**Control lease.** At most one attached UI sends commands. The first UI to ask holds the lease
(``auto_control`` asks at attach) and renews it in the background; the others are read-only:
their commands are refused, here and by the engine, with who holds it. A read-only UI that
still wants control takes it as soon as it is free (released, or expired because its holder
died). ``control_status`` is the header's text: ``CONTROL`` or ``READ-ONLY (held by X)``.

``connected`` is false when Redis is unreachable or the engine's heartbeat is gone; views then
stay as last seen, and books are marked stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from desk.bridge.codec import CodecError, decode_as
from desk.bridge.commands_stream import (
    CommandSender,
    CommandStreamConfig,
    CommandTimeout,
    MissingCommandSecret,
)
from desk.bridge.keys import RedisKeys
from desk.bridge.lease import ControlLease
from desk.bridge.redis_publisher import CONNECTION_ERRORS, make_client, redis_auth
from desk.bridge.redis_views import (
    SPLIT_EVENT_ROLES,
    DeskMeta,
    EventsView,
    InstrumentsView,
    StrategiesView,
    ViewKeys,
)
from desk.bridge.views import (
    BookView,
    BotDetailView,
    BotsView,
    CandlesView,
    EventView,
    HealthView,
    IndicatorsView,
    InstrumentView,
    SignalsView,
    SignalView,
    StrategyInfo,
    TapeView,
    TickersView,
    TradingView,
)
from desk.config import RedisConfig
from desk.core.commands import Command, CommandAck
from desk.core.enums import Mode
from desk.core.orders import OrderRequest
from desk.engine.trading_view import no_trading_view

log = logging.getLogger(__name__)

EVENT_HISTORY = 1000
REDIS_ERRORS = (*CONNECTION_ERRORS, RedisError)


class EngineNotFound(ConnectionError):
    """Nothing answers at the given Redis URL and prefix (no Redis, or no engine wrote there)."""


def default_holder_id() -> str:
    """Who this UI is, as other UIs see it in "READ-ONLY (held by ...)"."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "ui"
    return f"{user}@{socket.gethostname()}:{os.getpid()}:{os.urandom(2).hex()}"


class RedisClient:
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
        self._lease: ControlLease | None = None
        self._sender: CommandSender | None = None
        self.commands_error = ""
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
        self._last_renew = 0.0
        self._task: asyncio.Task[None] | None = None
        self._command_lock = asyncio.Lock()
        self.refreshes = 0
        self.decode_errors = 0
        self.last_error = ""

    # -- EngineClient: identity ------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._meta.mode if self._meta is not None else Mode.SIM

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._meta.symbols if self._meta is not None else ()

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self._meta.timeframes if self._meta is not None else ()

    @property
    def connected(self) -> bool:
        """Redis answers and the engine's heartbeat is alive."""
        return self._redis_ok and self._engine_alive

    # -- control lease ---------------------------------------------------------------------

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
        return await self._try_acquire()

    async def release_control(self) -> None:
        """Give control up (another UI may take it); stay read-only until asked again."""
        self._want_control = False
        if self._lease is not None and self._has_control:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._lease.release()
        self._has_control = False

    async def _try_acquire(self) -> bool:
        if self._lease is None:
            return False
        try:
            self._has_control = await self._lease.acquire()
            self._holder = self.holder_id if self._has_control else await self._lease.holder()
        except REDIS_ERRORS as exc:
            self._note_error(exc)
            return False
        if self._has_control:
            self._last_renew = time.monotonic()
        return self._has_control

    async def _keep_lease(self) -> None:
        """Renew while held (every third of the TTL); take it when free and wanted."""
        assert self._lease is not None
        now = time.monotonic()
        if self._has_control:
            if now - self._last_renew >= self.config.lease_ttl / 3:
                if await self._lease.renew():
                    self._last_renew = now
                else:
                    log.warning("control lease lost (held by %s now)", await self._lease.holder())
                    self._has_control = False
        elif self._want_control and self._holder is None:
            await self._try_acquire()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Find the engine (its meta view), take control if free, read every view once.

        :class:`EngineNotFound` when no engine answers within ``attach_timeout``.
        """
        self._redis = self._factory()
        self._lease = ControlLease(
            self._redis, self.keys.control_lease, self.holder_id, self.config.lease_ttl
        )
        await self._wait_for_meta()
        stream_config = CommandStreamConfig(
            secret_env=self.config.command_secret_env,
            require_signature=self.config.require_signature,
            max_age_s=self.config.command_max_age,
            ack_timeout_s=self.config.ack_timeout,
        )
        try:
            if stream_config.require_signature:
                from desk.bridge.commands_stream import load_secret

                secret: bytes | None = load_secret(stream_config.secret_env, self._environ)
            else:
                secret = None
            self._sender = CommandSender(
                self._redis,
                self.keys,
                sender_id=f"ui:{self.holder_id}",
                secret=secret,
                holder_id=self.holder_id,
                config=stream_config,
            )
        except MissingCommandSecret as exc:
            self.commands_error = f"commands disabled: {exc}"
            log.warning("%s", self.commands_error)
        if self.auto_control:
            await self.acquire_control()
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-client")

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
        try:
            self._meta = decode_as(raw, DeskMeta)
        except CodecError as exc:
            raise EngineNotFound(f"unreadable engine description: {exc}") from None
        return self._meta

    async def _wait_for_meta(self) -> None:
        assert self._redis is not None
        deadline = time.monotonic() + self.attach_timeout
        why = "no engine has written there"
        while True:
            try:
                raw = await self._redis.get(self.view_keys.meta)
                if raw is not None:
                    self._meta = decode_as(raw, DeskMeta)
                    self._raw[self.view_keys.meta] = raw
                    self._redis_ok = True
                    return
            except REDIS_ERRORS as exc:
                why = f"Redis unreachable: {type(exc).__name__}: {exc}"
            except CodecError as exc:
                why = f"unreadable engine description: {exc}"
            if time.monotonic() > deadline:
                await self._close_redis()
                raise EngineNotFound(
                    f"no desk engine at {self.config.url} with prefix "
                    f"{self.config.key_prefix!r} ({why})"
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._has_control:
            await self.release_control()
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
                    await self._keep_lease()
            except REDIS_ERRORS as exc:
                self._note_error(exc)
            except Exception:  # never let a bad view end the refresh loop
                log.exception("redis client refresh failed")

    def _note_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._redis_ok = False

    # -- reading ---------------------------------------------------------------------------

    def _wanted(self) -> list[tuple[str, Any]]:
        """Every view key to read, with the type it decodes to."""
        vk = self.view_keys
        wanted: list[tuple[str, Any]] = [
            (vk.meta, DeskMeta),
            (vk.tickers, TickersView),
            (vk.health, HealthView),
            (vk.bots, BotsView),
            (vk.signals, SignalsView),
            (vk.indicators, IndicatorsView),
            (vk.trading, TradingView),
            (vk.instruments, InstrumentsView),
            (vk.strategies, StrategiesView),
            (vk.events, EventsView),
            *((vk.component_events(role), EventsView) for role in SPLIT_EVENT_ROLES),
        ]
        for symbol in self.symbols:
            wanted.append((vk.book(symbol), BookView))
            wanted.append((vk.tape(symbol), TapeView))
            wanted.extend((vk.candles(symbol, tf), CandlesView) for tf in self.timeframes)
        bots = self._views.get(vk.bots)
        if bots is not None:
            wanted.extend((vk.bot(b.bot_id), BotDetailView) for b in bots.bots)
        return wanted

    async def refresh(self) -> None:
        """One round trip: every view, the engine's heartbeat and the lease holder."""
        if self._redis is None:
            return
        wanted = self._wanted()
        component = self._meta.component if self._meta is not None else "engine"
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([key for key, _ in wanted])
        pipe.exists(self.keys.heartbeat(component))
        pipe.get(self.keys.control_lease)
        try:
            values, alive, holder = await pipe.execute()
        except REDIS_ERRORS as exc:
            self._note_error(exc)
            return
        self._redis_ok = True
        self._engine_alive = bool(alive)
        self._holder = holder.decode() if isinstance(holder, bytes) else holder
        if self._has_control and self._holder != self.holder_id:
            self._has_control = False  # expired or taken: the renew loop says so too
        for (key, type_), raw in zip(wanted, values, strict=True):
            if raw is None or self._raw.get(key) == raw:
                continue  # missing (Redis restarted: keep what we had) or unchanged
            try:
                view = decode_as(raw, type_)
            except CodecError as exc:
                self.decode_errors += 1
                self.last_error = str(exc)
                continue
            self._raw[key] = raw
            self._views[key] = view
            if type_ is DeskMeta:
                self._meta = view
            elif type_ is EventsView:
                self._merge_events(key, view)
        self.refreshes += 1

    def _merge_events(self, key: str, view: EventsView) -> None:
        """Number events here (from every process that writes events), so an engine restart
        (its seq starts again) loses none."""
        epoch = self._meta.started_ns if self._meta is not None else 0
        if key == self.view_keys.events and epoch != self._remote_epoch:
            self._remote_epoch = epoch
            self._remote_seqs[key] = 0
        last = self._remote_seqs.get(key, 0)
        if view.events and view.events[-1].seq < last:
            last = 0  # that process restarted
        for event in view.events:
            if event.seq <= last:
                continue
            last = event.seq
            self._event_seq += 1
            self._events.append(msgspec.structs.replace(event, seq=self._event_seq))
        self._remote_seqs[key] = last

    def _sliced(self, key: Any, view: Any, build: Callable[[], Any]) -> Any:
        """Cache a derived view per source object, so the same input gives the same object."""
        hit = self._slices.get(key)
        if hit is not None and hit[0] is view:
            return hit[1]
        out = build()
        self._slices[key] = (view, out)
        return out

    # -- EngineClient: views ---------------------------------------------------------------

    def book(self, symbol: str, depth: int = 20) -> BookView:
        view = self._views.get(self.view_keys.book(symbol))
        if view is None:
            return BookView(
                symbol=symbol,
                bids=[],
                asks=[],
                seq_id=0,
                ts_exchange=0,
                ts_recv=time.time_ns(),
                age_ms=math.inf,
                stale=True,
            )
        stale = view.stale or not self.connected
        return self._sliced(
            ("book", symbol, depth, stale),
            view,
            lambda: msgspec.structs.replace(
                view, bids=view.bids[:depth], asks=view.asks[:depth], stale=stale
            ),
        )

    def tape(self, symbol: str, limit: int = 50) -> TapeView:
        view = self._views.get(self.view_keys.tape(symbol))
        if view is None:
            return TapeView(symbol=symbol, trades=[])
        return self._sliced(
            ("tape", symbol, limit),
            view,
            lambda: msgspec.structs.replace(view, trades=view.trades[:limit]),
        )

    def tickers(self) -> TickersView:
        return self._views.get(self.view_keys.tickers) or TickersView(tickers=[])

    def candles(self, symbol: str, timeframe: str, limit: int = 120) -> CandlesView:
        view = self._views.get(self.view_keys.candles(symbol, timeframe))
        if view is None:
            return CandlesView(symbol=symbol, timeframe=timeframe, candles=[], forming=False)
        return self._sliced(
            ("candles", symbol, timeframe, limit),
            view,
            lambda: msgspec.structs.replace(view, candles=view.candles[-limit:]),
        )

    def health(self) -> HealthView:
        view = self._views.get(self.view_keys.health)
        if view is not None:
            return view
        return HealthView(
            ts=time.time_ns(),
            mode=self.mode,
            connections=[],
            loop_lag_ms=0.0,
            loop_lag_p99_ms=0.0,
            cpu_percent=0.0,
            rss_bytes=0,
            max_memory_bytes=0,
            queues=[],
            sqlite_backlog=0,
            sqlite_rows_written=0,
            sqlite_write_errors=0,
            candles_closed=0,
            uptime_s=0.0,
        )

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]:
        newer = [e for e in self._events if e.seq > seq]
        return newer[-limit:]

    def bots(self) -> BotsView:
        return self._views.get(self.view_keys.bots) or BotsView(bots=[])

    def signals(
        self,
        *,
        bot_id: str | None = None,
        fate: str | None = None,
        symbol: str | None = None,
        text: str = "",
        limit: int = 200,
    ) -> SignalsView:
        view = self._views.get(self.view_keys.signals)
        if view is None:
            return SignalsView(signals=[], total=0)
        return self._sliced(
            ("signals", bot_id, fate, symbol, text, limit),
            view,
            lambda: _filter_signals(view, bot_id, fate, symbol, text, limit),
        )

    def bot_detail(self, bot_id: str, limit: int = 120) -> BotDetailView:
        """KeyError for an unknown bot."""
        view = self._views.get(self.view_keys.bot(bot_id))
        if view is None:
            raise KeyError(f"unknown bot {bot_id!r}")
        return self._sliced(
            ("bot", bot_id, limit),
            view,
            lambda: msgspec.structs.replace(
                view,
                candles=view.candles[-limit:],
                indicators={name: series[-limit:] for name, series in view.indicators.items()},
            ),
        )

    def indicators(self) -> IndicatorsView:
        return self._views.get(self.view_keys.indicators) or IndicatorsView(rows=[])

    def strategies(self) -> list[StrategyInfo]:
        view = self._views.get(self.view_keys.strategies)
        return list(view.strategies) if view is not None else []

    def trading(self) -> TradingView:
        view = self._views.get(self.view_keys.trading)
        if view is not None:
            return view
        return no_trading_view("unknown", "no trading view from the engine yet")

    def instruments(self) -> list[InstrumentView]:
        view = self._views.get(self.view_keys.instruments)
        return list(view.instruments) if view is not None else []

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
            if instrument.symbol == request.symbol:
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
        async with self._command_lock:  # one reader of this UI's ack stream at a time
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


def _filter_signals(
    view: SignalsView,
    bot_id: str | None,
    fate: str | None,
    symbol: str | None,
    text: str,
    limit: int,
) -> SignalsView:
    """The engine's filter (``BotBoard.recent_signals``) over the cached newest-first list."""
    needle = text.lower()
    found: list[SignalView] = []
    total = 0
    for sig in view.signals:
        if bot_id and sig.bot_id != bot_id:
            continue
        if fate and not sig.fate.startswith(fate):
            continue
        if symbol and sig.symbol != symbol:
            continue
        if needle:
            hay = (
                f"{sig.bot_id} {sig.symbol} {sig.strategy} {sig.direction} {sig.fate} {sig.reason}"
            )
            if needle not in hay.lower():
                continue
        total += 1
        if len(found) < limit:
            found.append(sig)
    return SignalsView(version=view.version, signals=found, total=total)


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
