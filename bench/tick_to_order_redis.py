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
executor. The in-process figure (the same chain on one bus, ``bench/tick_to_order.py``'s
"minus decode" path) is measured first in the same run, and the floor Redis itself sets: two
bare pub/sub hops (redis-py, a PUBLISH to a subscriber that PUBLISHes on to a second one, a
small payload, no desk code), paced the same way. Needs Redis; prints figures only.

    .venv/bin/python bench/tick_to_order_redis.py [--orders 300] [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
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

SYMBOL = "BTC-USDT"
BOT = BotConfig(
    bot_id="fast", strategy="ma_crossover", symbol=SYMBOL, timeframe="1s", size=0.01,
    params={"fast": 1, "slow": 2},
)  # fmt: skip
SECOND_NS = 1_000_000_000
BASE_NS = 1_700_000_000 * SECOND_NS


def trade(i: int) -> Trade:
    return Trade(
        ts_exchange=BASE_NS + i * SECOND_NS, ts_recv=0, venue="okx", symbol=SYMBOL,
        trade_id=str(i), price=60010.0 if i % 2 else 60000.0, size=0.01, side=Side.BUY,
    )  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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


async def through_redis(count: int, url: str, tmp: Path) -> list[float]:
    import tick_to_order

    prefix = f"bench{os.getpid()}"
    config = parse_config({"redis": {"enabled": True, "url": url, "key_prefix": prefix}})
    keys = RedisKeys(prefix)
    stream = command_stream_config(config)
    secret = load_secret(stream.secret_env)
    keyring = Keyring(secret, prefix)

    feed_bus = Bus()
    wire_candles(feed_bus)
    publisher = RedisPublisher(feed_bus, keys, lambda: make_client(url), sealer=keyring.data)
    publisher.start()

    bots_bus = Bus()
    market_in = RedisMarketIn(bots_bus, config, (Candle,), keyring)
    await market_in.start()
    bots_store = SqliteStore(StorageConfig(sqlite_path=str(tmp / "bots.sqlite")))
    await bots_store.open()
    sink = RemoteOrderSink(config, bots_bus, keyring)
    await sink.start()
    bots = BotManager(bots_bus, bots_store, sink, LiveClock())
    bots.add_bot(BOT)
    bots.start_bot(BOT.bot_id)

    _, exec_store, oms, _, _ = await tick_to_order.build(tmp / "exec.sqlite")
    arrived: dict[str, int] = {}

    async def apply(command: Any) -> CommandAck:
        order = oms.submit(command.request) if isinstance(command, SubmitOrder) else None
        if order is not None:
            arrived[order.client_order_id] = time.perf_counter_ns()
        return CommandAck(command=type(command).__name__, accepted=order is not None)

    redis = make_client(url)
    receiver = CommandReceiver(
        redis, keys, apply, "executor", secret, config=stream, lease_exempt_prefix="bots:"
    )
    receiver.start()
    await asyncio.sleep(1.0)  # subscriptions and the consumer group in place

    latencies: list[float] = []
    for i in range(count):
        t0 = time.perf_counter_ns()
        feed_bus.publish(topics.market_data(SYMBOL), trade(i))
        if i == 0:
            continue
        # Trade i closes candle i-1, whose signal is stamped with that candle's end.
        cid = deterministic_client_order_id(BOT.bot_id, str(BASE_NS + (i - 1) * SECOND_NS))
        deadline = time.monotonic() + (1 if i < 4 else 10)  # no signal while the MAs warm up
        while cid not in arrived and time.monotonic() < deadline:
            await asyncio.sleep(0.0002)
        if cid in arrived:
            latencies.append((arrived[cid] - t0) / 1000)
    if not latencies:
        status = bots.status(BOT.bot_id)
        print(
            f"nothing arrived: publisher {publisher.counters()}, market in {market_in.received} "
            f"(errors {market_in.errors}), signals {status.signal_count} sent {status.sent_count}, "
            f"sink sent {sink.sent} refused {sink.refused} error {sink.error!r}"
        )
    await receiver.stop()
    await sink.stop()
    await market_in.stop()
    await publisher.stop()
    await oms.stop()
    await exec_store.close()
    await bots_store.close()
    for pattern in (f"{prefix}:*",):
        async for key in redis.scan_iter(match=pattern):
            await redis.delete(key)
    await redis.aclose()
    return latencies[3:]


async def bare_hops(count: int, url: str) -> list[float]:
    """Two pub/sub hops with nothing of desk's: A -> (ch1) -> B -> (ch2) -> A."""
    prefix = f"benchhop{os.getpid()}"
    pub, relay = make_client(url), make_client(url)
    sub_in, sub_out = relay.pubsub(), pub.pubsub()
    await sub_in.subscribe(f"{prefix}:1")
    await sub_out.subscribe(f"{prefix}:2")
    for sub in (sub_in, sub_out):  # the subscribe confirmations
        await sub.get_message(timeout=1.0)

    async def forward() -> None:
        async for message in sub_in.listen():
            if message["type"] == "message":
                await relay.publish(f"{prefix}:2", message["data"])

    relaying = asyncio.get_running_loop().create_task(forward())
    payload = b"x" * 200  # about a sealed candle's size
    latencies: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        await pub.publish(f"{prefix}:1", payload)
        while True:
            message = await sub_out.get_message(timeout=5.0)
            if message is None or message["type"] == "message":
                break
        if message is not None:
            latencies.append((time.perf_counter_ns() - t0) / 1000)
        await asyncio.sleep(0)
    relaying.cancel()
    await asyncio.gather(relaying, return_exceptions=True)
    for sub in (sub_in, sub_out):
        await sub.aclose()
    await pub.aclose()
    await relay.aclose()
    return latencies[3:]


async def main(count: int, url: str) -> None:
    os.environ.setdefault("DESK_COMMAND_SECRET", "bench-secret-0123456789")
    with tempfile.TemporaryDirectory() as tmp:
        local = await in_process(count, Path(tmp))
        floor = await bare_hops(count, url)
        remote = await through_redis(count, url, Path(tmp))
    print(f"tick -> risk-checked order, microseconds ({len(local)} / {len(remote)} orders):")
    print(
        f"  in-process (one bus)        : p50 {pct(local, 0.5):8.1f}  p99 {pct(local, 0.99):8.1f}"
    )
    print(
        f"  through Redis (3 roles)     : p50 {pct(remote, 0.5):8.1f}  p99 {pct(remote, 0.99):8.1f}"
    )
    print(
        f"  reference, 2 bare Redis pub/sub hops: p50 {pct(floor, 0.5):8.1f}  "
        f"p99 {pct(floor, 0.99):8.1f}"
    )
    print(f"  ratio p50 Redis / in-process: {pct(remote, 0.5) / pct(local, 0.5):.1f}x")
    print(f"  ratio p50 Redis / 2 bare hops: {pct(remote, 0.5) / pct(floor, 0.5):.2f}x")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.url))
