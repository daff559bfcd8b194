"""One hop through Redis pub/sub, next to one hop through the in-process bus, in the same run.

Prints figures only (never asserts):

* in-process bus hop: ``bus.publish`` -> an async subscriber's handler (queue + task wake-up);
* Redis hop: ``bus.publish`` -> RedisPublisher (batched pipeline) -> Redis pub/sub -> a
  subscriber in this process decoding the event; paced, one message at a time, so it is latency
  and not queueing;
* publisher throughput: msgs/s the publisher sustains when events arrive as fast as the bus can
  publish them (batched PUBLISH, plus XADD for trade updates in the second figure).

    .venv/bin/python bench/redis_hop.py [--url redis://127.0.0.1:6379/0] [--n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from decimal import Decimal

import redis.asyncio as aioredis

from desk.bridge.codec import decode_event
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import PublisherConfig, RedisPublisher, make_client
from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Side
from desk.core.events import Trade
from desk.core.orders import Fill, Liquidity


def trade(n: int) -> Trade:
    return Trade(
        ts_exchange=n,
        ts_recv=time.perf_counter_ns(),
        venue="okx",
        symbol="BTC-USDT",
        trade_id=str(n),
        price=65000.5,
        size=0.01,
        side=Side.BUY,
    )


def fill(n: int) -> Fill:
    return Fill(
        ts_exchange=n,
        ts_recv=n,
        client_order_id=f"c{n}",
        venue_order_id=f"v{n}",
        trade_id=str(n),
        symbol="BTC-USDT",
        side=Side.BUY,
        price=Decimal("65000.5"),
        size=Decimal("0.01"),
        fee=Decimal("0.01"),
        fee_ccy="USDT",
        liquidity=Liquidity.TAKER,
        bot_id="bench",
        venue="okx",
    )


def percentiles(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return f"p50 {p50:8.1f} us   p99 {p99:8.1f} us"


async def in_process_hop(n: int) -> list[int]:
    bus = Bus()
    latencies: list[int] = []
    arrived = asyncio.Event()

    async def handler(event: Trade) -> None:
        latencies.append(time.perf_counter_ns() - event.ts_recv)
        arrived.set()

    bus.subscribe_async(topics.market_data("BTC-USDT"), handler, name="bench")
    for i in range(n):
        arrived.clear()
        bus.publish(topics.market_data("BTC-USDT"), trade(i))
        await arrived.wait()
    await bus.stop()
    return latencies


async def redis_hop(url: str, keys: RedisKeys, n: int) -> list[int]:
    bus = Bus()
    publisher = RedisPublisher(bus, keys, lambda: make_client(url))
    listener_client = aioredis.Redis.from_url(url)
    pubsub = listener_client.pubsub()
    await pubsub.subscribe(keys.channel(topics.market_data("BTC-USDT")))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    publisher.start()
    while publisher.state != "connected":
        await asyncio.sleep(0.01)
    latencies: list[int] = []
    for i in range(n):
        bus.publish(topics.market_data("BTC-USDT"), trade(i))
        message = None
        while message is None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        event = decode_event(message["data"])
        latencies.append(time.perf_counter_ns() - event.ts_recv)
    await publisher.stop()
    await pubsub.aclose()
    await listener_client.aclose()
    return latencies


async def throughput(url: str, keys: RedisKeys, n: int, trades: bool) -> float:
    """msgs/s with ``n`` events offered at once (batches of up to 1000 per round trip)."""
    bus = Bus()
    config = PublisherConfig(market_buffer=n, trade_buffer_bound=n, batch_size=1000)
    publisher = RedisPublisher(bus, keys, lambda: make_client(url), config)
    publisher.start()
    while publisher.state != "connected":
        await asyncio.sleep(0.01)
    events = [fill(i) for i in range(n)] if trades else [trade(i) for i in range(n)]
    topic = topics.trade_updates("bench") if trades else topics.market_data("BTC-USDT")
    start = time.perf_counter()
    for event in events:
        bus.publish(topic, event)
    while publisher.sent < n:
        await asyncio.sleep(0.0005)
    elapsed = time.perf_counter() - start
    await publisher.stop()
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    keys = RedisKeys(prefix=f"bench-{uuid.uuid4().hex[:8]}")
    client = aioredis.Redis.from_url(args.url)
    try:
        print(f"one hop, {args.n} messages, paced one at a time")
        local = percentiles(await in_process_hop(args.n))
        print(f"  in-process bus (async subscriber): {local}")
        remote = percentiles(await redis_hop(args.url, keys, args.n))
        print(f"  through Redis pub/sub:             {remote}")
        n = args.n * 20
        rate = await throughput(args.url, keys, n, trades=False)
        print(f"publisher, {n} market events offered at once: {rate:12,.0f} msgs/s (PUBLISH)")
        rate = await throughput(args.url, keys, n, trades=True)
        print(f"publisher, {n} fills offered at once:         {rate:12,.0f} msgs/s (PUBLISH+XADD)")
    finally:
        doomed = [key async for key in client.scan_iter(match=f"{keys.prefix}:*")]
        if doomed:
            await client.delete(*doomed)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
