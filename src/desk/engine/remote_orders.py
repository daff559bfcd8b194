"""The bots role's way to trade: orders as signed commands to the executor over Redis.

The order leaves on the signal's own call: :meth:`RemoteOrderSink.submit` signs the
``SubmitOrder`` and writes its ``XADD`` to the socket before it returns (a lean connection,
:mod:`desk.bridge.resp`); only the wait for the executor's receipt is a task. While that
connection is down, orders go the slower way (a task, redis-py) and it is opened again.
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

from desk.bridge.codec import CodecError, decode_as
from desk.bridge.commands_stream import CommandSender, MissingCommandSecret, load_secret
from desk.bridge.keys import RedisKeys
from desk.bridge.receipt_listener import ReceiptListener
from desk.bridge.redis_publisher import CONNECTION_ERRORS, make_client
from desk.bridge.redis_views import ViewKeys
from desk.bridge.resp import RespConnection, params_of
from desk.bridge.signing import Keyring, Report, SealedReader
from desk.bridge.tasks import cancel_and_wait
from desk.bridge.views import TradingView
from desk.config import DeskConfig
from desk.core import topics
from desk.core.commands import SubmitOrder
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.engine.redis_link import command_stream_config
from desk.execution.order_ids import deterministic_client_order_id
from desk.signals.bots import BotConfig, BotEvent
from desk.signals.order_sink import OrderRefused, target_position
from desk.signals.signal import Signal

log = logging.getLogger(__name__)

BOTS_SENDER_PREFIX = "bots:"
REDIS_ERRORS = (*CONNECTION_ERRORS, RedisError)


class RemoteOrderSink:
    """The bots role's :class:`~desk.signals.order_sink.OrderSink`: orders as signed commands.

    A signal's target minus the bot's expected position (the executor's trading view, verified
    like every view this process acts on, plus the orders this process sent since) becomes one
    ``SubmitOrder`` with a client order id derived from the bot and the signal's time, so the
    executor's OMS never trades one signal twice. Sending is asynchronous; a refusal in the
    acknowledgement is logged and published as a bot event (``order_refused``), and the
    expected position re-read from the executor.
    """

    def __init__(
        self,
        config: DeskConfig,
        bus: Any,
        keyring: Keyring | None = None,
        report: Report | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self._report = report
        self._trading_reader = SealedReader(
            keyring.data if keyring is not None else None, "trading view", report
        )
        self.keys = RedisKeys(config.redis.key_prefix)
        self.view_keys = ViewKeys(self.keys)
        self.sender_id = f"{BOTS_SENDER_PREFIX}{socket.gethostname()}:{os.getpid()}"
        self._redis: aioredis.Redis | None = None
        self._sender: CommandSender | None = None
        self._conn: RespConnection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._listener: ReceiptListener | None = None
        self._slow = 0  # orders sent the slow way, not yet answered
        self._following: dict[str, asyncio.Future[Any]] = {}  # receipts awaited by callback
        self.connection_error = ""
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
            self._redis,
            self.keys,
            self.sender_id,
            secret,
            holder_id="",
            config=stream,
            report=self._report,
        )
        self._poll = asyncio.get_running_loop().create_task(self._poll_trading(), name="bots-pos")
        self._reconnect_soon()  # in the background: Redis may be down at start

    async def _connect(self) -> None:
        """Open the lean connection orders are written on (Redis down: try again later)."""
        assert self._redis is not None and self._sender is not None
        try:
            conn = await RespConnection.open(*params_of(self._redis))
        except REDIS_ERRORS as exc:
            self.connection_error = f"{type(exc).__name__}: {exc}"
            return
        try:
            await self._sender.prepare()
        except REDIS_ERRORS as exc:
            conn.close()
            self.connection_error = f"{type(exc).__name__}: {exc}"
            return
        if self._conn is not None:
            self._conn.close()
        self._conn = conn
        self._sender.send_over(conn)
        self.connection_error = ""
        if self._listener is None:
            self._listener = ReceiptListener(self._sender, *params_of(self._redis))
            self._listener.start()

    def _reconnect_soon(self) -> None:
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._connect(), name="bots-orders-connect"
            )

    async def stop(self) -> None:
        for task in [self._poll, self._reconnecting, *self._tasks]:
            await cancel_and_wait(task)
        for receipt in list(self._following.values()):
            receipt.cancel()  # its timer goes with it
        if self._listener is not None:
            await self._listener.stop()
        if self._conn is not None:
            self._conn.close()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def _poll_trading(self) -> None:
        assert self._redis is not None
        seen: bytes | None = None
        while True:
            try:
                raw = await self._redis.get(self.view_keys.trading)
                if raw is not None and raw != seen:
                    seen = raw
                    payload = self._trading_reader.open(self.view_keys.trading, raw)
                    if payload is not None:
                        self._trading = decode_as(payload, TradingView)
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
        command = SubmitOrder(request=request, actor=key[0])
        sent: tuple[str, asyncio.Future[Any]] | None = None
        if self._sender.can_send_now and not self._slow:  # never overtake a slow one
            with contextlib.suppress(*REDIS_ERRORS):
                sent = self._sender.send_now(command)  # on its way before this returns
        if sent is not None and self._sender.listening:
            self._follow(key, request, *sent)
            return request.client_order_id
        if sent is None:
            self._slow += 1
            self._reconnect_soon()
        task = asyncio.get_running_loop().create_task(self._send(key, request, command, sent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return request.client_order_id

    def _follow(
        self,
        key: tuple[str, str],
        request: OrderRequest,
        command_id: str,
        written: asyncio.Future[Any],
    ) -> None:
        """Await the receipt with callbacks, not a task: nothing to run until it comes."""
        sender = self._sender
        assert sender is not None
        receipt = sender.expect(command_id)

        def overdue() -> None:
            if not receipt.done():
                receipt.set_exception(sender.timed_out(command_id))

        def not_written(future: asyncio.Future[Any]) -> None:
            exc = None if future.cancelled() else future.exception()
            if exc is not None and not receipt.done():
                receipt.set_exception(exc)  # Redis refused the XADD, or the connection went

        def answered(future: asyncio.Future[Any]) -> None:
            timer.cancel()
            sender.forget(command_id)
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                self._outcome(key, request, False, f"{type(exc).__name__}: {exc}")
            else:
                self._outcome(key, request, future.result().accepted, future.result().reason)

        timer = asyncio.get_running_loop().call_later(sender.config.ack_timeout_s, overdue)
        self._following[command_id] = receipt
        receipt.add_done_callback(lambda _: self._following.pop(command_id, None))
        receipt.add_done_callback(answered)
        written.add_done_callback(not_written)

    async def _send(
        self,
        key: tuple[str, str],
        request: OrderRequest,
        command: SubmitOrder,
        sent: tuple[str, asyncio.Future[Any]] | None,
    ) -> None:
        """Wait for the receipt of an order sent (or send it the slow way first)."""
        assert self._sender is not None
        try:
            if sent is not None:
                command_id, written = sent
                await written
                receipt = await self._sender.wait_ack(command_id)
            else:
                async with self._lock:  # one at a time, so they reach the stream in order
                    receipt = await self._sender.request(command)
            accepted, reason = receipt.accepted, receipt.reason
        except Exception as exc:  # timeout, Redis gone: the executor may or may not have it
            accepted, reason = False, f"{type(exc).__name__}: {exc}"
        finally:
            if sent is None:
                self._slow -= 1
        self._outcome(key, request, accepted, reason)

    def _outcome(
        self, key: tuple[str, str], request: OrderRequest, accepted: bool, reason: str
    ) -> None:
        """Count the executor's answer; a refusal is a bot event and a re-read position."""
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
