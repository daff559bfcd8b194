"""Split roles: the engine's components as separate processes meeting on Redis.

``desk engine`` runs everything in one process. With ``redis.enabled`` the same parts can run
apart (``desk feed``, ``desk bots``, ``desk executor``), each a partial :class:`Engine` (same
components, same start code) plus its :class:`~desk.engine.redis_link.RedisLink`:

* **feed**: the simulator (if configured), feeds, books and candles. Its link publishes market
  data (trades, book notices, tickers, closed candles) on pub/sub ``{prefix}:bus:market_data:*``
  and writes the market views (books top 50, tapes, candles, tickers), health, system events and
  instruments, and the ``view:meta`` that attaching UIs start from.
* **bots**: the BotManager and the indicator board, fed the closed candles from Redis pub/sub.
  A bot's accepted signal becomes a signed ``SubmitOrder`` command on the command stream
  (:class:`RemoteOrderSink`); its link writes the bots, signals and indicators views.
* **executor**: ExecutionService (risk, OMS, venue) taking mids from the book views the feed
  writes (:class:`RedisBooks`), applying commands from the stream (a UI's with the control
  lease; a bots process's, whose sender id starts with ``bots:``, without), and publishing
  orders and fills on pub/sub and the durable trade-updates stream; it writes the trading view.

What each role does not do here: commands for bots (PauseBot, ...) are not consumed in a split
desk (one command stream, one consumer group: only the executor reads it); a UI attached to a
split desk sees the feed's system events only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from desk.bridge.codec import CodecError, decode_as, decode_event
from desk.bridge.commands_stream import CommandSender, MissingCommandSecret, load_secret
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import CONNECTION_ERRORS, make_client, redis_auth
from desk.bridge.redis_views import ViewKeys
from desk.bridge.views import BookView, TradingView
from desk.config import DeskConfig
from desk.core import topics
from desk.core.clock import Clock
from desk.core.commands import SubmitOrder, is_bot_command
from desk.core.enums import Severity, Side
from desk.core.events import Candle, Trade
from desk.core.orders import OrderRequest, OrderType
from desk.engine.engine import Engine
from desk.engine.redis_link import command_stream_config
from desk.execution.order_ids import deterministic_client_order_id
from desk.execution.service import ExecutionService
from desk.feeds.manager import FeedManager
from desk.signals.bots import BotConfig, BotEvent
from desk.signals.order_sink import OrderRefused, UnavailableSink, target_position
from desk.signals.signal import Signal
from desk.sim.accounts import SIM_CREDENTIALS

log = logging.getLogger(__name__)

ROLES = ("feed", "bots", "executor")
BOTS_SENDER_PREFIX = "bots:"
REDIS_ERRORS = (*CONNECTION_ERRORS, RedisError)


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

    async def start(self) -> None:
        self.started_ns = time.time_ns()
        await self.store.open()
        self.bus.subscribe(topics.SYSTEM_EVENTS, self.store.record_system_event)
        starts = {
            "feed": self._start_feed,
            "bots": self._start_bots_role,
            "executor": self._start_executor,
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
            component="feed", groups=("market", "health", "events", "instruments"), commands=False
        )
        self.feeds = FeedManager(
            self.config.exchanges.okx,
            self.config.trading.symbols,
            self.config.trading.channels,
            self.bus,
        )
        await self.feeds.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._candle_clock(), name="candle-clock"))

    async def _start_bots_role(self) -> None:
        self.market_in = RedisMarketIn(self.bus, self.config, kinds=(Candle,))
        sink = RemoteOrderSink(self.config, self.bus)
        self.sink = sink
        self.bots.sink = sink
        await self.start_redis_link(
            component="bots",
            groups=("bots",),
            commands=True,
            command_group="bots",
            handles=is_bot_command,
        )
        await sink.start()
        await self._start_bots()
        await self.market_in.start()

    async def _start_executor(self) -> None:
        await self._load_instruments()  # the venue's rules, over its REST API
        if not self.instruments:
            self.emit("executor", "instruments", "no instrument rules: risk refuses orders")
        self.remote_books = RedisBooks(self.config)
        await self.remote_books.start()
        await self.start_redis_link(
            component="executor",
            groups=("trading",),
            commands=True,
            lease_exempt_prefix=BOTS_SENDER_PREFIX,
            handles=lambda command: not is_bot_command(command),
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
            self.market_in = RedisMarketIn(self.bus, self.config, kinds=(Trade,))
            await self.market_in.start()
        self.emit("execution", "started", f"execution on {execution.client.name}")

    async def stop(self) -> None:
        if self.market_in is not None:
            await self.market_in.stop()
        if self.remote_books is not None:
            await self.remote_books.stop()
        sink = self.sink
        await super().stop()
        if isinstance(sink, RemoteOrderSink):
            await sink.stop()


class _RemoteBook:
    """An :class:`~desk.market.book.OrderBook` look-alike over a BookView (top 50 levels)."""

    def __init__(self, view: BookView) -> None:
        self.view = view
        self.symbol = view.symbol

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        return [(lv.price, lv.size) for lv in self.view.bids[:n]]

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        return [(lv.price, lv.size) for lv in self.view.asks[:n]]

    def raw_bids(self, n: int | None = None) -> list[tuple[str, str]]:
        return [(repr(lv.price), repr(lv.size)) for lv in self.view.bids[:n]]

    def raw_asks(self, n: int | None = None) -> list[tuple[str, str]]:
        return [(repr(lv.price), repr(lv.size)) for lv in self.view.asks[:n]]

    def best_bid(self) -> tuple[float, float] | None:
        return (self.view.bids[0].price, self.view.bids[0].size) if self.view.bids else None

    def best_ask(self) -> tuple[float, float] | None:
        return (self.view.asks[0].price, self.view.asks[0].size) if self.view.asks else None

    def mid(self) -> float:
        bid, ask = self.best_bid(), self.best_ask()
        return (bid[0] + ask[0]) / 2 if bid and ask else float("nan")

    def imbalance(self, n: int = 5) -> float:
        b = sum(s for _, s in self.bids(n))
        a = sum(s for _, s in self.asks(n))
        return (b - a) / (b + a) if b + a else 0.0

    def __bool__(self) -> bool:
        return bool(self.view.bids or self.view.asks)


class RedisBooks:
    """``book(symbol)`` from the book views the feed writes, refreshed every view interval.

    None while the feed's view is stale, missing, or its heartbeat has expired, so risk and
    the paper venue never use a dead book.
    """

    def __init__(self, config: DeskConfig, component: str = "feed") -> None:
        self.config = config
        self.keys = RedisKeys(config.redis.key_prefix)
        self.view_keys = ViewKeys(self.keys)
        self.component = component
        self._views: dict[str, BookView] = {}
        self._raw: dict[str, bytes] = {}
        self._alive = False
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self.errors = 0

    def book(self, symbol: str) -> _RemoteBook | None:
        view = self._views.get(symbol)
        if view is None or view.stale or not self._alive:
            return None
        return _RemoteBook(view)

    async def start(self) -> None:
        self._redis = make_client(self.config.redis.url)
        with contextlib.suppress(*REDIS_ERRORS):
            await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-books")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def refresh(self) -> None:
        assert self._redis is not None
        symbols = self.config.trading.symbols
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([self.view_keys.book(s) for s in symbols])
        pipe.exists(self.keys.heartbeat(self.component))
        values, alive = await pipe.execute()
        self._alive = bool(alive)
        for symbol, raw in zip(symbols, values, strict=True):
            if raw is None or raw == self._raw.get(symbol):
                continue
            try:
                self._views[symbol] = decode_as(raw, BookView)
                self._raw[symbol] = raw
            except CodecError:
                self.errors += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.redis.view_interval)
            try:
                await self.refresh()
            except REDIS_ERRORS:
                self.errors += 1
                self._alive = False


class RedisMarketIn:
    """Market data from Redis pub/sub onto the local bus (only the event ``kinds`` asked for).

    Pub/sub is fire-and-forget: what was published while this process was disconnected is
    gone, as it would be for a live feed.
    """

    def __init__(self, bus: Any, config: DeskConfig, kinds: tuple[type, ...]) -> None:
        self.bus = bus
        self.config = config
        self.keys = RedisKeys(config.redis.key_prefix)
        self.kinds = kinds
        self.received = 0
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-market-in")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        pattern = self.keys.channel_pattern(topics.market_data("*"))
        while True:
            redis = aioredis.Redis.from_url(
                self.config.redis.url, socket_connect_timeout=2, **redis_auth()
            )
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(pattern)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    self._deliver(message["data"])
            except REDIS_ERRORS:
                self.errors += 1
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await redis.aclose()

    def _deliver(self, data: bytes) -> None:
        try:
            event = decode_event(data)
        except CodecError:
            self.errors += 1
            return
        if isinstance(event, self.kinds):
            self.received += 1
            self.bus.publish(topics.market_data(event.symbol), event)


class RemoteOrderSink:
    """The bots role's :class:`~desk.signals.order_sink.OrderSink`: orders as signed commands.

    A signal's target minus the bot's expected position (the executor's trading view, plus
    the orders this process sent since) becomes one ``SubmitOrder`` with a client order id
    derived from the bot and the signal's time, so the executor's OMS never trades one signal
    twice. Sending is asynchronous; a refusal in the acknowledgement is logged and published
    as a bot event (``order_refused``), and the expected position re-read from the executor.
    """

    def __init__(self, config: DeskConfig, bus: Any) -> None:
        self.config = config
        self.bus = bus
        self.keys = RedisKeys(config.redis.key_prefix)
        self.view_keys = ViewKeys(self.keys)
        self.sender_id = f"{BOTS_SENDER_PREFIX}{socket.gethostname()}:{os.getpid()}"
        self._redis: aioredis.Redis | None = None
        self._sender: CommandSender | None = None
        self.error = ""
        self._trading: TradingView | None = None
        self._expected: dict[tuple[str, str], Decimal] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll: asyncio.Task[None] | None = None
        self.sent = 0
        self.refused = 0

    async def start(self) -> None:
        self._redis = make_client(self.config.redis.url)
        stream = command_stream_config(self.config)
        try:
            secret = load_secret(stream.secret_env) if stream.require_signature else None
        except MissingCommandSecret as exc:
            self.error = str(exc)
            log.error("bots cannot send orders: %s", exc)
            return
        self._sender = CommandSender(
            self._redis, self.keys, self.sender_id, secret, holder_id="", config=stream
        )
        self._poll = asyncio.get_running_loop().create_task(self._poll_trading(), name="bots-pos")

    async def stop(self) -> None:
        tasks = [t for t in (self._poll, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def _poll_trading(self) -> None:
        assert self._redis is not None
        while True:
            try:
                raw = await self._redis.get(self.view_keys.trading)
                if raw is not None:
                    self._trading = decode_as(raw, TradingView)
            except (*REDIS_ERRORS, CodecError):
                pass
            await asyncio.sleep(max(0.25, self.config.redis.view_interval))

    def _executor_position(self, bot_id: str, symbol: str) -> Decimal:
        if self._trading is None:
            return Decimal(0)
        for p in self._trading.positions:
            if (p.bot_id, p.symbol) == (bot_id, symbol):
                return Decimal(repr(p.size))
        return Decimal(0)

    # -- OrderSink -------------------------------------------------------------------------

    def submit(self, bot: BotConfig, signal: Signal) -> str:
        if self._sender is None:
            raise OrderRefused(f"orders cannot be sent: {self.error or 'not started'}")
        key = (bot.bot_id, bot.symbol)
        target = Decimal(repr(target_position(bot, signal.direction)))
        current = self._expected.get(key)
        if current is None:
            current = self._executor_position(bot.bot_id, bot.symbol)
        delta = target - current
        if delta == 0:
            return ""
        side = Side.BUY if delta > 0 else Side.SELL
        market = self.config.execution.bot_order_type == "market"
        price = None
        if not market:
            factor = 1 + Decimal("0.2") / 100 * (1 if side is Side.BUY else -1)
            price = Decimal(repr(signal.price)) * factor
        request = OrderRequest(
            symbol=bot.symbol,
            side=side,
            order_type=OrderType.MARKET if market else OrderType.IOC,
            size=abs(delta),
            price=price,
            bot_id=bot.bot_id,
            client_order_id=deterministic_client_order_id(bot.bot_id, str(signal.ts)),
            reduce_only=target == 0,
        )
        self._expected[key] = target
        task = asyncio.get_running_loop().create_task(self._send(key, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return request.client_order_id

    async def _send(self, key: tuple[str, str], request: OrderRequest) -> None:
        assert self._sender is not None
        async with self._lock:
            try:
                receipt = await self._sender.request(SubmitOrder(request=request, actor=key[0]))
                accepted, reason = receipt.accepted, receipt.reason
            except Exception as exc:  # timeout, Redis gone: the executor may or may not have it
                accepted, reason = False, f"{type(exc).__name__}: {exc}"
        if accepted:
            self.sent += 1
            return
        self.refused += 1
        self._expected.pop(key, None)  # re-read from the executor next time
        log.warning("bot %s order %s refused: %s", key[0], request.client_order_id, reason)
        self.bus.publish(
            topics.bot_signals(key[0]),
            BotEvent(
                ts_exchange=0,
                ts_recv=time.time_ns(),
                bot_id=key[0],
                kind="order_refused",
                detail={"error": reason, "client_order_id": request.client_order_id},
                actor="executor",
            ),
        )

    def position(self, bot_id: str) -> float:
        if self._trading is None:
            return 0.0
        return sum(p.size for p in self._trading.positions if p.bot_id == bot_id)

    def pnl(self, bot_id: str) -> float:
        if self._trading is None:
            return 0.0
        return sum(
            p.realized_pnl + p.unrealized_pnl - p.fees
            for p in self._trading.positions
            if p.bot_id == bot_id
        )


def build_role(config: DeskConfig, role: str) -> Engine:
    """The engine of one role (``engine`` is the whole desk)."""
    if role == "engine":
        return Engine(config)
    return RoleEngine(config, role)
