"""Split roles: the engine's components as separate processes meeting on Redis.

``desk engine`` runs everything in one process. With ``redis.enabled`` the same parts can run
apart (``desk feed``, ``desk bots``, ``desk executor``), each a partial :class:`Engine` (same
components, same start code) plus its :class:`~desk.engine.redis_link.RedisLink`:

* **feed**: the simulator (if configured), feeds, books and candles. Its link publishes market
  data (trades, book notices, tickers, closed candles) on pub/sub ``{prefix}:bus:market_data:*``
  and writes the market views (books top 50, tapes, candles, tickers), health, system events and
  instruments, and the ``view:meta`` that attaching UIs start from.
* **bots**: the BotManager and the indicator board, fed the closed candles from Redis pub/sub
  (:class:`~desk.engine.remote_market.RedisMarketIn`). A bot's accepted signal becomes a signed
  ``SubmitOrder`` command on the command stream
  (:class:`~desk.engine.remote_orders.RemoteOrderSink`); its link writes the bots, signals and
  indicators views.
* **executor**: ExecutionService (risk, OMS, venue) taking mids from the book views the feed
  writes (:class:`~desk.engine.remote_market.RedisBooks`), applying commands from the stream (a
  UI's with the control lease, which this process grants; a bots process's, whose sender id
  starts with ``bots:``, without), and publishing orders and fills on pub/sub and the durable
  trade-updates stream; it writes the trading view.
* **record** (``desk record``, needs ``recorder.enabled``): the recorder, fed trades, tickers
  and closed candles from pub/sub; raw frames and L2 books are recorded by the feed role when
  ``recorder.enabled`` there (the frames never reach Redis).

Everything a role acts on from another is verified first: candles, trades, book views, the
trading view and heartbeats are sealed by their writer (:mod:`desk.bridge.signing`), and what
does not verify is dropped and reported as a security event (one reporter per process, shared
by its link and its readers).

Commands for bots (PauseBot, ...) are answered by the bots process (consumer group ``bots``),
every other command by the executor (group ``engine``); a UI attached to a split desk sees the
system events of all three (the bots' and the executor's in their own events views).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec

from desk.bridge.security import RefusalReporter
from desk.config import ConfigError, DeskConfig
from desk.core import topics
from desk.core.clock import Clock
from desk.core.commands import is_bot_command
from desk.core.enums import Severity
from desk.core.events import Candle, Ticker, Trade
from desk.engine.engine import Engine
from desk.engine.redis_link import load_keyring
from desk.engine.remote_market import RedisBooks, RedisMarketIn
from desk.engine.remote_orders import BOTS_SENDER_PREFIX, RemoteOrderSink
from desk.engine.venues import build_feeds
from desk.execution.service import ExecutionService
from desk.signals.order_sink import UnavailableSink
from desk.sim.accounts import SIM_CREDENTIALS

log = logging.getLogger(__name__)

ROLES = ("feed", "bots", "executor", "record")
FEED_ONLY_KINDS = ("raw", "books")  # recorded where the feed runs: frames never reach Redis
__all__ = ["BOTS_SENDER_PREFIX", "ROLES", "RoleEngine", "build_role"]


class RoleEngine(Engine):
    """A partial engine: the components of one role (see the module docstring)."""

    def __init__(self, config: DeskConfig, role: str, clock: Clock | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
        if not config.redis.enabled:
            raise ValueError(f"the {role} role meets the others on Redis: set redis.enabled")
        super().__init__(config, clock)
        self.role = role
        self.remote_books: RedisBooks | None = None
        self.market_in: RedisMarketIn | None = None
        self.reporter = RefusalReporter(self.emit)
        self.keyring, _, _ = load_keyring(config)

    async def start(self) -> None:
        problem = self.config.redis.unauthenticated_problem()
        if problem:
            raise ConfigError(problem)
        self.started_ns = time.time_ns()
        await self.start_gateway()  # with gateway.enabled: this role's routes and /metrics
        await self.store.open()
        self.bus.subscribe(topics.SYSTEM_EVENTS, self.store.record_system_event)
        starts = {
            "feed": self._start_feed,
            "bots": self._start_bots_role,
            "executor": self._start_executor,
            "record": self._start_record,
        }
        await starts[self.role]()
        self.bus.start_async_subscribers()
        self.loop_lag.start()
        self.emit(self.role, "started", f"{self.role} started in {self.config.system.mode} mode")

    async def _start_feed(self) -> None:
        if self.config.simulator.enabled:
            await self._start_simulator()
        self._wire_candles()
        await self._load_instruments()
        await self.start_redis_link(
            component="feed",
            groups=("market", "health", "events", "instruments"),
            commands=False,
            reporter=self.reporter,
        )
        self.feeds = build_feeds(self.config, self.bus)  # every enabled venue's
        await self._start_role_recorder(FEED_ONLY_KINDS)  # with recorder.enabled
        if self.recorder is not None:
            self.recorder.tap(self.feeds.feeds)
        await self.feeds.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._candle_clock(), name="candle-clock"))

    async def _start_record(self) -> None:
        """``desk record``: trades, tickers and closed candles from Redis, to parquet (raw
        frames and books are recorded by the feed role, where the frames are)."""
        if not self.config.recorder.enabled:
            raise ConfigError("the record role records: set recorder.enabled")
        kinds = tuple(k for k in self.config.recorder.kinds if k not in FEED_ONLY_KINDS)
        await self._start_role_recorder(kinds)
        recorder = self.recorder
        self.market_in = RedisMarketIn(
            self.bus, self.config, (Trade, Ticker, Candle), self.keyring, self.reporter,
            on_system_event=recorder.on_system_event if recorder is not None else None,
            on_link=self._record_link,
        )  # fmt: skip
        await self.market_in.start()

    def _record_link(self, up: bool) -> None:
        """The record role's own Redis subscription came or went: while it is down, every
        venue's trades, tickers and candles pass it by, so every venue's data has a gap."""
        if self.recorder is None:
            return
        kind = "connect" if up else "disconnect"
        for venue in self.config.exchanges.venues:
            self.recorder.mark_gap(venue, "redis-market-in", "", kind, f"record role: Redis {kind}")

    async def _start_role_recorder(self, kinds: tuple[str, ...]) -> None:
        """The recorder of this role, recording only ``kinds`` of the configured ones."""
        recorder = self.config.recorder
        kinds = tuple(k for k in recorder.kinds if k in kinds)
        if not recorder.enabled or not kinds:
            return
        recorder = msgspec.structs.replace(recorder, kinds=kinds)
        self.config = msgspec.structs.replace(self.config, recorder=recorder)
        await self.start_recorder()

    async def _start_bots_role(self) -> None:
        self.market_in = self._market_in(Candle)
        sink = RemoteOrderSink(self.config, self.bus, self.keyring, self.reporter)
        self.sink = sink
        self.bots.sink = sink
        await self.start_redis_link(
            component="bots",
            groups=("bots",),
            commands=True,
            command_group="bots",
            handles=is_bot_command,
            reporter=self.reporter,
        )
        await sink.start()
        await self._start_bots()
        await self.market_in.start()

    async def _start_executor(self) -> None:
        await self._load_instruments()  # the venue's rules, over its REST API
        if not self.instruments:
            self.emit("executor", "instruments", "no instrument rules: risk refuses orders")
        self.remote_books = RedisBooks(self.config, keyring=self.keyring, report=self.reporter)
        await self.remote_books.start()
        await self.start_redis_link(
            component="executor",
            groups=("trading",),
            commands=True,
            lease_exempt_prefix=BOTS_SENDER_PREFIX,
            handles=lambda command: not is_bot_command(command),
            reporter=self.reporter,
        )
        execution = ExecutionService(
            self.config.execution,
            self.bus,
            self.store,
            self.clock,
            mode=self.config.system.mode,
            symbols=self.config.trading.symbols,
            okx=self.config.exchanges.okx,
            book=self.remote_books.book,
            instruments=self.instruments,
            sim_credentials=SIM_CREDENTIALS,
        )
        try:
            await execution.start()
        except Exception as exc:
            self.execution_error = f"{type(exc).__name__}: {exc}"
            self.emit("execution", "error", f"execution unavailable: {exc}", Severity.ERROR)
            self.sink = self.bots.sink = UnavailableSink(self.execution_error)
            with contextlib.suppress(Exception):
                await execution.stop()
            return
        self.execution = execution
        self.sink = self.bots.sink = execution.sink
        if getattr(execution.client, "on_trade", None) is not None:  # paper venue: trades too
            self.market_in = self._market_in(Trade)
            await self.market_in.start()
        self.emit("execution", "started", f"execution on {execution.label}")

    def _market_in(self, kind: type | tuple[type, ...]) -> RedisMarketIn:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        return RedisMarketIn(self.bus, self.config, kinds, self.keyring, self.reporter)

    async def stop(self) -> None:
        if self.market_in is not None:
            await self.market_in.stop()
        if self.remote_books is not None:
            await self.remote_books.stop()
        sink = self.sink
        await super().stop()
        if isinstance(sink, RemoteOrderSink):
            await sink.stop()


def build_role(config: DeskConfig, role: str) -> Engine:
    """The engine of one role (``engine`` is the whole desk)."""
    if role == "engine":
        return Engine(config)
    return RoleEngine(config, role)
