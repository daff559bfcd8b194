"""One hop through Redis pub/sub, next to one hop through the in-process bus, in the same run.

Prints figures only (never asserts):

* in-process bus hop: ``bus.publish`` -> an async subscriber's handler (queue + task wake-up);
* Redis hop: ``bus.publish`` -> RedisPublisher (batched pipeline) -> Redis pub/sub -> a
  subscriber in this process decoding the event; paced, one message at a time, so it is latency
  and not queueing;
* publisher throughput: msgs/s the publisher sustains when events arrive as fast as the bus can
  publish them (batched PUBLISH, plus XADD for trade updates in the second figure);
* the cost of sealing (``desk.bridge.signing``: what a split desk's readers verify before they
  act): each Redis figure plain and sealed+verified in the same run, and seal / open alone per
  message.

    .venv/bin/python bench/redis_hop.py [--url redis://127.0.0.1:6379/0] [--n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from decimal import Decimal

import redis.asyncio as aioredis

from desk.bridge.codec import decode_event, encode
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import PublisherConfig, RedisPublisher, make_client
from desk.bridge.signing import Keyring, SealedReader
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


async def redis_hop(url: str, keys: RedisKeys, n: int, keyring: Keyring | None) -> list[int]:
    """Paced hops; with ``keyring`` sealed by the publisher and verified by the listener."""
    bus = Bus()
    sealer = keyring.data if keyring is not None else None
    publisher = RedisPublisher(bus, keys, lambda: make_client(url), sealer=sealer)
    reader = SealedReader(sealer, "market data", strict=True, max_age_s=30)
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
        payload = reader.open(message["channel"].decode(), message["data"])
        assert payload is not None, reader.last_refusal
        event = decode_event(payload)
        latencies.append(time.perf_counter_ns() - event.ts_recv)
    await publisher.stop()
    await pubsub.aclose()
    await listener_client.aclose()
    return latencies


async def throughput(
    url: str, keys: RedisKeys, n: int, trades: bool, keyring: Keyring | None
) -> float:
    """msgs/s with ``n`` events offered at once (batches of up to 1000 per round trip)."""
    bus = Bus()
    config = PublisherConfig(market_buffer=n, trade_buffer_bound=n, batch_size=1000)
    sealer = keyring.data if keyring is not None else None
    publisher = RedisPublisher(bus, keys, lambda: make_client(url), config, sealer=sealer)
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


def seal_cost(keyring: Keyring, n: int) -> tuple[float, float]:
    """Microseconds to seal, and to open (verify) one market-data message, alone."""
    channel = "desk:bus:market_data:BTC-USDT"
    payload = encode(trade(1))
    start = time.perf_counter()
    sealed = [keyring.data.seal(channel, payload) for _ in range(n)]
    sealing = (time.perf_counter() - start) / n * 1e6
    reader = SealedReader(keyring.data, "market data", strict=True)
    start = time.perf_counter()
    for data in sealed:
        reader.open(channel, data)
    opening = (time.perf_counter() - start) / n * 1e6
    return sealing, opening


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    keys = RedisKeys(prefix=f"bench-{uuid.uuid4().hex[:8]}")
    client = aioredis.Redis.from_url(args.url)
    try:
        keyring = Keyring(b"bench-secret-0123456789abcdef", keys.prefix)
        print(f"one hop, {args.n} messages, paced one at a time")
        local = percentiles(await in_process_hop(args.n))
        print(f"  in-process bus (async subscriber):   {local}")
        for name, ring in (("plain", None), ("sealed", keyring)):
            remote = percentiles(await redis_hop(args.url, keys, args.n, ring))
            print(f"  through Redis pub/sub, {name:6}:      {remote}")
        n = args.n * 20
        for name, ring in (("plain", None), ("sealed", keyring)):
            rate = await throughput(args.url, keys, n, False, ring)
            print(f"publisher, {n} market events, {name:6}: {rate:12,.0f} msgs/s (PUBLISH)")
        for name, ring in (("plain", None), ("sealed", keyring)):
            rate = await throughput(args.url, keys, n, True, ring)
            print(f"publisher, {n} fills, {name:6}:         {rate:12,.0f} msgs/s (PUBLISH+XADD)")
        sealing, opening = seal_cost(keyring, 100_000)
        print(f"seal one message: {sealing:.2f} us   open (verify) one: {opening:.2f} us")
    finally:
        doomed = [key async for key in client.scan_iter(match=f"{keys.prefix}:*")]
        if doomed:
            await client.delete(*doomed)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
