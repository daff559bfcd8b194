"""The Redis publisher: every event reaches pub/sub, trades reach the stream, outages lose none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from desk.bridge.codec import decode_event
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import (
    PublisherConfig,
    PublisherState,
    RedisPublisher,
    make_client,
)
from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Severity
from desk.core.events import SystemEvent
from desk.core.orders import Fill, Order
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import (
    RedisServer,
    free_port,
    numbered_fill,
    numbered_trade,
    sample_events,
    shared_url,
)
from tests.waiting import wait_until

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys

FAST = PublisherConfig(reconnect_min_s=0.01, reconnect_max_s=0.1, idle_ping_s=0.05)


def publisher_for(url: str, bus: Bus, keys: RedisKeys, config: PublisherConfig = FAST) -> Any:
    return RedisPublisher(bus, keys, lambda: make_client(url, socket_timeout_s=1.0), config)


@pytest.fixture
async def running() -> AsyncIterator[list[RedisPublisher]]:
    """Publishers a test started; stopped at the end whatever happened."""
    started: list[RedisPublisher] = []
    yield started
    for publisher in started:
        await publisher.stop(flush_timeout_s=0.5)


async def stream_fills(client: aioredis.Redis, keys: RedisKeys) -> list[int]:
    """Trade ids of the fills on the trade-updates stream, de-duplicated on (src, seq)."""
    seen: set[tuple[bytes, bytes]] = set()
    out: list[int] = []
    for _, fields in await client.xrange(keys.trade_updates_stream):
        ident = (fields[b"src"], fields[b"seq"])
        if ident in seen:
            continue
        seen.add(ident)
        event = decode_event(fields[b"event"])
        assert isinstance(event, Fill)
        out.append(int(event.trade_id))
    return out


async def test_every_event_type_round_trips_through_pubsub(
    redis_client: aioredis.Redis, keys: RedisKeys, running: list[RedisPublisher]
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.psubscribe(keys.channel_pattern())
    received: list[tuple[str, Any]] = []

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                received.append((keys.topic_of(message["channel"]), decode_event(message["data"])))

    listener = asyncio.create_task(listen())
    bus = Bus()
    publisher = publisher_for(shared_url(), bus, keys)
    running.append(publisher)
    publisher.start()
    await wait_until(lambda: publisher.state is PublisherState.CONNECTED, what="connected")
    samples = sample_events()
    for topic, event in samples:
        bus.publish(topic, event)
    await wait_until(lambda: len(received) == len(samples), what="every sample received")
    listener.cancel()
    await pubsub.aclose()

    assert sorted(received, key=repr) == sorted(samples, key=repr)
    on_stream = [
        decode_event(f[b"event"]) for _, f in await redis_client.xrange(keys.trade_updates_stream)
    ]
    assert on_stream == [e for _, e in samples if isinstance(e, Order | Fill)]
    assert publisher.counters().dropped_market == 0


async def test_redis_down_at_start_reports_disconnected_then_delivers_when_it_comes(
    tmp_path: Path, running: list[RedisPublisher]
) -> None:
    server = RedisServer(tmp_path, port=free_port())
    bus = Bus()
    publisher = publisher_for(server.url, bus, RedisKeys(prefix="desk"))
    running.append(publisher)
    publisher.start()  # must not raise
    await wait_until(lambda: publisher.errors >= 2, what="failed connection attempts")
    assert publisher.state is PublisherState.DISCONNECTED
    assert "Connection" in publisher.last_error

    for n in range(5):
        bus.publish(topics.trade_updates("b1"), numbered_fill(n))
        bus.publish(topics.market_data("BTC-USDT"), numbered_trade(n))
    assert publisher.buffered == 5 and publisher.dropped_market == 5

    server.start()
    try:
        await wait_until(lambda: publisher.state is PublisherState.CONNECTED, what="connected")
        await wait_until(lambda: publisher.buffered == 0, what="buffer flushed")
        client = make_client(server.url)
        assert await stream_fills(client, RedisKeys(prefix="desk")) == list(range(5))
        await client.aclose()
    finally:
        await publisher.stop()
        server.kill()


async def test_buffers_while_down_follow_each_class_policy(
    tmp_path: Path, running: list[RedisPublisher]
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens
    bus = Bus()
    config = PublisherConfig(
        event_buffer=3, trade_buffer_bound=2, reconnect_min_s=0.01, reconnect_max_s=0.05
    )
    publisher = publisher_for(url, bus, RedisKeys(prefix="desk"), config)
    running.append(publisher)
    publisher.start()
    for n in range(5):
        bus.publish(
            topics.SYSTEM_EVENTS,
            SystemEvent(ts_exchange=0, ts_recv=n, source="t", kind="notice", message=str(n)),
        )
        bus.publish(topics.trade_updates("b1"), numbered_fill(n))
        bus.publish(topics.market_data("BTC-USDT"), numbered_trade(n))
    counters = publisher.counters()
    assert counters.state is PublisherState.DISCONNECTED
    assert counters.dropped_market == 5  # market data is worthless late
    assert counters.dropped_events == 2  # bounded: the two oldest system events went
    assert counters.over_bound == 3  # trades never dropped, only reported past their bound
    assert counters.buffered == 3 + 5
    kept = [e.message for _, e in publisher._events]
    assert kept == ["2", "3", "4"]


async def test_redis_killed_mid_run_loses_no_trade_update(
    tmp_path: Path, running: list[RedisPublisher]
) -> None:
    server = RedisServer(tmp_path, durable=True)
    server.start()
    try:
        await _kill_and_restart(server, running)
    finally:
        server.kill()


async def _kill_and_restart(server: RedisServer, running: list[RedisPublisher]) -> None:
    keys = RedisKeys(prefix="desk")
    client = make_client(server.url)
    bus = Bus()
    publisher = publisher_for(server.url, bus, keys)
    running.append(publisher)
    publisher.start()
    await wait_until(lambda: publisher.state is PublisherState.CONNECTED, what="connected")
    market = topics.market_data("BTC-USDT")
    trades = topics.trade_updates("b1")

    def publish_fills(numbers: range) -> None:
        for number in numbers:
            bus.publish(trades, numbered_fill(number))

    publish_fills(range(0, 100))
    await wait_until(lambda: publisher.streamed == 100, what="first 100 fills streamed")

    server.kill()
    # The publisher finds out on its next write (or idle ping); events keep coming meanwhile.
    n = 100
    while publisher.state is PublisherState.CONNECTED:
        publish_fills(range(n, n + 10))
        bus.publish(market, numbered_trade(n))
        n += 10
        await asyncio.sleep(0.01)
    dropped_before = publisher.dropped_market
    for m in range(20):
        bus.publish(market, numbered_trade(m))
    publish_fills(range(n, n + 100))
    n += 100
    bus.publish(
        topics.SYSTEM_EVENTS,
        SystemEvent(
            ts_exchange=0, ts_recv=0, source="t", kind="error", message="x", severity=Severity.ERROR
        ),
    )
    assert publisher.dropped_market == dropped_before + 20
    assert publisher.buffered >= 101

    server.start()
    await wait_until(lambda: publisher.state is PublisherState.CONNECTED, what="reconnected")
    await wait_until(lambda: publisher.buffered == 0, what="buffer flushed")
    assert publisher.reconnects >= 1
    assert await stream_fills(client, keys) == list(range(n))  # every fill, in order
    await client.aclose()


async def test_market_data_leaves_from_the_bus_handler_and_a_burst_keeps_its_order(
    redis_client: aioredis.Redis, keys: RedisKeys, running: list[RedisPublisher]
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.psubscribe(keys.channel_pattern(topics.market_data("*")))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    bus = Bus()
    config = PublisherConfig(direct_limit=50, idle_ping_s=0.05)
    publisher = publisher_for(shared_url(), bus, keys, config)
    running.append(publisher)
    publisher.start()
    await wait_until(lambda: publisher.state is PublisherState.CONNECTED, what="connected")
    market = topics.market_data("BTC-USDT")

    bus.publish(market, numbered_trade(0))
    assert publisher.sent == 1 and publisher.buffered == 0  # written, no task woken for it

    for n in range(1, 500):  # past direct_limit the rest queue for the batching task
        bus.publish(market, numbered_trade(n))
    assert publisher.buffered > 0
    received: list[int] = []
    while len(received) < 500:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
        assert message is not None, f"only {len(received)} of 500 arrived"
        received.append(int(decode_event(message["data"]).trade_id))
    await pubsub.aclose()
    assert received == list(range(500))
    assert publisher.counters().dropped_market == 0
