"""Tick-to-order through Redis (split roles) vs in-process, measured in the same run.

Three sides in one process, each with its own bus, wired as `desk feed`, `desk bots` and
`desk executor` wire them, meeting on the real Redis at ``--url``:

* feed: a Trade on its bus closes a 1s candle; the RedisPublisher ships it to pub/sub, sealed
  with the desk's data key (as ``desk feed`` does);
* bots: RedisMarketIn verifies the seal and puts the candle on the bots' bus; BotManager (MA
  1/2, a signal on every candle) -> RemoteOrderSink -> a signed SubmitOrder on the command
  stream;
* executor: CommandReceiver -> the engine's command path -> OrderManager.submit (risk-checked).

Timed from publishing the Trade on the feed's bus to ``OrderManager.submit`` returning in the
executor. Ticks are paced: the next goes once the bots have read the previous order's receipt
(the tail of the command path, awaited as an event, never polled with sleeps; ``--no-settle``:
as soon as the order arrived). ``--idle-us N`` idles N us before every tick and every bare hop
alike: on a virtual machine a wake-up after an idle gap costs tens of microseconds a hop, so
only the same pacing on both sides makes a fair ratio (the default, 0, runs both back to back;
a polled 0.5 ms settle used to idle the desk side alone). The references,
in the same run: the in-process figure (the same chain on one bus, ``bench/tick_to_order.py``'s
"minus decode" path), and the floor Redis itself sets: two bare pub/sub hops (redis-py, a
PUBLISH to a subscriber that PUBLISHes on to a second one, a small payload, no desk code),
paced the same way. The Redis figures are taken in ``--rounds`` alternating rounds (desk, bare
hops, desk, ...) after a warm-up round of each, so both see the same machine; the ratio is of
the pooled p50s, with the spread of the per-round ratios. ``--stages`` adds a traced run (one
more chain, wrappers on the live objects) with the p50 of each stage. Needs Redis; prints
figures only.

    .venv/bin/python bench/tick_to_order_redis.py [--orders 300] [--rounds 6] [--stages]
        [--no-settle] [--idle-us 0] [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from desk.bridge.command_receiver import CommandReceiver
from desk.bridge.commands_stream import load_secret
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import RedisPublisher, make_client
from desk.bridge.signing import Keyring
from desk.config import parse_config
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import LiveClock
from desk.core.commands import CommandAck, SubmitOrder
from desk.core.enums import Side
from desk.core.events import Candle, Trade
from desk.engine.redis_link import command_stream_config
from desk.engine.remote_market import RedisMarketIn
from desk.engine.remote_orders import RemoteOrderSink
from desk.execution.order_ids import deterministic_client_order_id
from desk.market.candles import CandleAggregator
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from redis_stages import Stages, pct

SYMBOL = "BTC-USDT"
BOT = BotConfig(
    bot_id="fast", strategy="ma_crossover", symbol=SYMBOL, timeframe="1s", size=0.01,
    params={"fast": 1, "slow": 2},
)  # fmt: skip
SECOND_NS = 1_000_000_000
BASE_NS = 1_700_000_000 * SECOND_NS
STAGES = [
    "PUBLISH written", "publisher woke", "PUBLISH returned", "pub/sub received",
    "seal verified", "bots decided", "SubmitOrder XADD written", "sender task ran",
    "SubmitOrder XADD returned", "executor XREADGROUP woke", "signature verified",
    "ledger claimed", "risk-checked order", "receipt written", "receipt read by bots",
]  # fmt: skip


def trade(i: int) -> Trade:
    return Trade(
        ts_exchange=BASE_NS + i * SECOND_NS, ts_recv=0, venue="okx", symbol=SYMBOL,
        trade_id=str(i), price=60010.0 if i % 2 else 60000.0, size=0.01, side=Side.BUY,
    )  # fmt: skip


def wire_candles(bus: Bus) -> None:
    def on_candle(candle: Candle) -> None:
        bus.publish(topics.market_data(SYMBOL), candle)

    agg = CandleAggregator("okx", SYMBOL, ("1s",), LiveClock(), on_candle)

    def feed(event: Any) -> None:
        if type(event) is Trade:
            agg.on_trade(event.ts_exchange, event.price, event.size)

    bus.subscribe(topics.market_data(SYMBOL), feed)


async def in_process(count: int, tmp: Path) -> list[float]:
    import tick_to_order  # the in-process chain, from the bench beside this one

    _, store, oms, _, _ = await tick_to_order.build(tmp / "in.sqlite")
    bus = oms.bus
    wire_candles(bus)
    from desk.execution.bot_orders import OmsSink

    bots = BotManager(bus, store, OmsSink(oms, oms.portfolio), LiveClock())
    bots.add_bot(BOT)
    bots.start_bot(BOT.bot_id)
    latencies: list[float] = []
    original, t0 = oms.submit, [0]

    def timed(request: Any) -> Any:
        order = original(request)
        latencies.append((time.perf_counter_ns() - t0[0]) / 1000)
        return order

    oms.submit = timed  # type: ignore[method-assign]
    for i in range(count):
        t0[0] = time.perf_counter_ns()
        bus.publish(topics.market_data(SYMBOL), trade(i))
        await asyncio.sleep(0)
    await oms.stop()
    await store.close()
    return latencies[3:]


def trace_stages(stages: Stages, publisher: Any, market_in: Any, sink: Any, receiver: Any) -> None:
    """Mark each stage of the path on the live objects (names as in the report)."""
    stages.wrap(publisher, "_send_batch", "publisher woke", "PUBLISH returned")
    if getattr(publisher, "_conn", None) is not None:
        stages.wrap(publisher._conn, "send", "PUBLISH written", None)
    stages.wrap(market_in, "deliver", "pub/sub received", None)
    stages.wrap(market_in.reader, "open", None, "seal verified")
    stages.wrap(sink, "submit", "bots decided", None)
    stages.wrap(sink, "_send", "sender task ran", None)
    if hasattr(sink, "_outcome"):
        stages.wrap(sink, "_outcome", "receipt read by bots", None)
    else:
        stages.wrap(sink, "_send", None, "receipt read by bots")
    if hasattr(sink._sender, "send_now"):
        stages.wrap(sink._sender, "send_now", None, "SubmitOrder XADD written")
    stages.wrap(sink._sender, "_append", None, "SubmitOrder XADD returned")
    stages.wrap(receiver, "_handle", "executor XREADGROUP woke", None)
    stages.wrap(receiver, "_handle_verified", "signature verified", None)
    stages.wrap(receiver.ledger, "claim", None, "ledger claimed")
    stages.wrap(receiver, "_answer", None, "receipt written")


class RedisChain:
    """The three roles on one Redis (see the module docstring); ticks go in rounds."""

    def __init__(
        self, url: str, tmp: Path, stages: Stages | None, settle: bool, idle_s: float = 0.0
    ) -> None:
        self.url, self.tmp, self.stages, self.settle = url, tmp, stages, settle
        self.idle_s = idle_s
        self.prefix = f"bench{os.getpid()}{'s' if stages else ''}"
        self.config = parse_config(
            {"redis": {"enabled": True, "url": url, "key_prefix": self.prefix}}
        )
        self.arrived: dict[str, int] = {}
        self.arrival = asyncio.Event()
        self.settled = asyncio.Event()  # set when the bots read a receipt
        self.next = 0  # the next trade's number
        self.answered = 0

    async def start(self) -> None:
        import tick_to_order  # the in-process chain's parts, from the bench beside this one

        config, url, tmp = self.config, self.url, self.tmp
        keys = RedisKeys(self.prefix)
        stream = command_stream_config(config)
        secret = load_secret(stream.secret_env)
        keyring = Keyring(secret, self.prefix)
        self.feed_bus = Bus()
        wire_candles(self.feed_bus)
        self.publisher = RedisPublisher(
            self.feed_bus, keys, lambda: make_client(url), sealer=keyring.data
        )
        self.publisher.start()
        bots_bus = Bus()
        self.market_in = RedisMarketIn(bots_bus, config, (Candle,), keyring)
        await self.market_in.start()
        self.bots_store = SqliteStore(StorageConfig(sqlite_path=str(tmp / f"{self.prefix}.b")))
        await self.bots_store.open()
        self.sink = RemoteOrderSink(config, bots_bus, keyring)
        await self.sink.start()
        outcome = self.sink._outcome

        def answered(*args: Any) -> None:  # wakes the pacing at once (no polling sleeps)
            outcome(*args)
            self.settled.set()

        self.sink._outcome = answered  # type: ignore[method-assign]
        self.bots = BotManager(bots_bus, self.bots_store, self.sink, LiveClock())
        self.bots.add_bot(BOT)
        self.bots.start_bot(BOT.bot_id)
        _, self.exec_store, self.oms, _, _ = await tick_to_order.build(tmp / f"{self.prefix}.e")
        self.redis = make_client(url)
        self.receiver = CommandReceiver(
            self.redis, keys, self.apply, "executor", secret, config=stream,
            lease_exempt_prefix="bots:",
        )  # fmt: skip
        self.receiver.start()
        await asyncio.sleep(1.0)  # subscriptions and the consumer group in place
        if self.stages is not None:
            trace_stages(self.stages, self.publisher, self.market_in, self.sink, self.receiver)

    async def apply(self, command: Any) -> CommandAck:
        order = self.oms.submit(command.request) if isinstance(command, SubmitOrder) else None
        if order is not None:
            self.arrived[order.client_order_id] = time.perf_counter_ns()
            if self.stages is not None:
                self.stages.mark("risk-checked order")
            self.arrival.set()
        return CommandAck(command=type(command).__name__, accepted=order is not None)

    async def ticks(self, count: int) -> list[float]:
        """``count`` paced ticks; the latency of each that became an order."""
        latencies: list[float] = []
        for _ in range(count):
            if self.idle_s:
                await asyncio.sleep(self.idle_s)
            i = self.next
            self.next += 1
            if self.stages is not None:
                self.stages.next_tick()
            self.arrival.clear()
            t0 = time.perf_counter_ns()
            self.feed_bus.publish(topics.market_data(SYMBOL), trade(i))
            if i == 0:
                continue
            # Trade i closes candle i-1, whose signal is stamped with that candle's end.
            cid = deterministic_client_order_id(BOT.bot_id, str(BASE_NS + (i - 1) * SECOND_NS))
            deadline = time.monotonic() + (1 if i < 4 else 10)  # no signal while MAs warm up
            while cid not in self.arrived and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - time.monotonic()):  # no task, unlike
                        await self.arrival.wait()  # wait_for: the harness stays out of the way
                self.arrival.clear()
            if cid in self.arrived:
                latencies.append((self.arrived[cid] - t0) / 1000)
                self.answered += 1
                sink = self.sink
                while self.settle and time.monotonic() < deadline:
                    self.settled.clear()
                    if sink.sent + sink.refused >= self.answered:
                        break
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(deadline - time.monotonic()):
                            await self.settled.wait()
            await asyncio.sleep(0)
        return latencies

    def nothing_arrived(self) -> str:
        status, sink = self.bots.status(BOT.bot_id), self.sink
        return (
            f"nothing arrived: publisher {self.publisher.counters()}, market in "
            f"{self.market_in.received} (errors {self.market_in.errors}), signals "
            f"{status.signal_count} sent {status.sent_count}, sink sent {sink.sent} refused "
            f"{sink.refused} error {sink.error!r}"
        )

    async def stop(self) -> None:
        await self.receiver.stop()
        await self.sink.stop()
        await self.market_in.stop()
        await self.publisher.stop()
        await self.oms.stop()
        await self.exec_store.close()
        await self.bots_store.close()
        async for key in self.redis.scan_iter(match=f"{self.prefix}:*"):
            await self.redis.delete(key)
        await self.redis.aclose()


class BareHops:
    """Two pub/sub hops with nothing of desk's: A -> (ch1) -> B -> (ch2) -> A."""

    def __init__(self, url: str, idle_s: float = 0.0) -> None:
        self.idle_s = idle_s
        self.prefix = f"benchhop{os.getpid()}"
        self.pub, self.relay = make_client(url), make_client(url)
        self.sub_in, self.sub_out = self.relay.pubsub(), self.pub.pubsub()

    async def start(self) -> None:
        await self.sub_in.subscribe(f"{self.prefix}:1")
        await self.sub_out.subscribe(f"{self.prefix}:2")
        for sub in (self.sub_in, self.sub_out):  # the subscribe confirmations
            await sub.get_message(timeout=1.0)
        self.relaying = asyncio.get_running_loop().create_task(self.forward())

    async def forward(self) -> None:
        async for message in self.sub_in.listen():
            if message["type"] == "message":
                await self.relay.publish(f"{self.prefix}:2", message["data"])

    async def hops(self, count: int) -> list[float]:
        payload = b"x" * 200  # about a sealed candle's size
        latencies: list[float] = []
        for _ in range(count):
            if self.idle_s:
                await asyncio.sleep(self.idle_s)
            t0 = time.perf_counter_ns()
            await self.pub.publish(f"{self.prefix}:1", payload)
            while True:
                message = await self.sub_out.get_message(timeout=5.0)
                if message is None or message["type"] == "message":
                    break
            if message is not None:
                latencies.append((time.perf_counter_ns() - t0) / 1000)
            await asyncio.sleep(0)
        return latencies

    async def stop(self) -> None:
        self.relaying.cancel()
        await asyncio.gather(self.relaying, return_exceptions=True)
        for sub in (self.sub_in, self.sub_out):
            await sub.aclose()
        await self.pub.aclose()
        await self.relay.aclose()


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("DESK_COMMAND_SECRET", "bench-secret-0123456789")
    rounds = max(1, args.rounds)
    per_round = max(10, args.orders // rounds)
    settle = not args.no_settle
    idle_s = max(0, args.idle_us) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        local = (await in_process(args.orders, Path(tmp)))[3:]
        chain = RedisChain(args.url, Path(tmp), None, settle, idle_s)
        floor = BareHops(args.url, idle_s)
        await chain.start()
        await floor.start()
        await chain.ticks(10)  # warm-up rounds, not counted
        await floor.hops(10)
        remote: list[float] = []
        bare: list[float] = []
        ratios: list[float] = []
        for _ in range(rounds):
            desk_round = await chain.ticks(per_round)
            bare_round = await floor.hops(per_round)
            remote += desk_round
            bare += bare_round
            if desk_round and bare_round:
                ratios.append(pct(desk_round, 0.5) / pct(bare_round, 0.5))
        if not remote:
            print(chain.nothing_arrived())
        await floor.stop()
        await chain.stop()
        traced: Stages | None = None
        if args.stages:
            traced = Stages(STAGES)
            chain = RedisChain(args.url, Path(tmp), traced, settle, idle_s)
            await chain.start()
            await chain.ticks(rounds * per_round)
            await chain.stop()
    print(f"tick -> risk-checked order, microseconds ({len(local)} / {len(remote)} orders):")
    print(
        f"  in-process (one bus)        : p50 {pct(local, 0.5):8.1f}  p99 {pct(local, 0.99):8.1f}"
    )
    print(
        f"  through Redis (3 roles)     : p50 {pct(remote, 0.5):8.1f}  p99 {pct(remote, 0.99):8.1f}"
    )
    print(
        f"  reference, 2 bare Redis pub/sub hops: p50 {pct(bare, 0.5):8.1f}  "
        f"p99 {pct(bare, 0.99):8.1f}"
    )
    print(f"  ratio p50 Redis / in-process: {pct(remote, 0.5) / pct(local, 0.5):.1f}x")
    print(
        f"  ratio p50 Redis / 2 bare hops: {pct(remote, 0.5) / pct(bare, 0.5):.2f}x "
        f"(per round {min(ratios):.2f}x .. {max(ratios):.2f}x, {rounds} rounds of {per_round})"
    )
    if traced is not None:
        traced.report()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--stages", action="store_true", help="a traced run: when each stage happened"
    )
    parser.add_argument(
        "--idle-us",
        type=int,
        default=0,
        help="idle this long before every tick and every bare hop (both sides alike)",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="send the next tick as soon as the order arrived (the previous receipt in flight)",
    )
    asyncio.run(main(parser.parse_args()))
