"""Latest state in Redis: written piece by piece, read all at once, replaced after an outage."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import redis.asyncio as aioredis

from desk.bridge.keys import RedisKeys
from desk.bridge.redis_state import (
    Balance,
    RedisStateReader,
    RedisStateWriter,
    StateSnapshot,
)
from desk.bridge.views import BookView, LevelView
from desk.core.orders import Order, OrderStatus, Position
from desk.signals.bots import BotMode, BotState, BotStatus
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import sample_events, wait_until_async

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys


def position(bot_id: str, size: str) -> Position:
    return Position(
        bot_id=bot_id,
        symbol="BTC-USDT",
        size=Decimal(size),
        avg_price=Decimal("100.5"),
        realized_pnl=Decimal("0"),
        fees=Decimal("0.01"),
        mark_price=Decimal("101"),
        unrealized_pnl=Decimal("0.5"),
    )


def open_order() -> Order:
    return next(e for _, e in sample_events() if isinstance(e, Order))


def bot(bot_id: str) -> BotStatus:
    return BotStatus(
        bot_id=bot_id,
        strategy="ma_crossover",
        symbol="BTC-USDT",
        timeframe="1m",
        state=BotState.RUNNING,
        mode=BotMode.AUTO,
        position=0.0,
        last_signal_ts=None,
        last_signal_direction=None,
        signal_count=3,
        sent_count=1,
    )


def book(symbol: str) -> BookView:
    return BookView(
        version=7,
        symbol=symbol,
        bids=[LevelView(100.0, 1.0), LevelView(99.5, 2.0)],
        asks=[LevelView(100.5, 1.5)],
        seq_id=42,
        ts_exchange=1,
        ts_recv=2,
        age_ms=0.5,
        stale=False,
        last_price=100.25,  # the default NaN would never compare equal
    )


async def test_everything_written_is_read_back_at_once(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    writer = RedisStateWriter(redis_client, keys)
    await writer.put_position(position("b1", "0.3"))
    await writer.put_position(position("b2", "-1"))
    await writer.put_order(open_order())
    await writer.put_balance(
        Balance(currency="USDT", total=Decimal("1000.5"), available=Decimal(0))
    )
    await writer.put_bot(bot("b1"))
    await writer.put_book(book("BTC-USDT"))
    await writer.put_metrics("engine", {"events_per_s": 1234.5, "queue_depth": 3})
    await writer.heartbeat("engine", ttl_s=30)

    snapshot = await RedisStateReader(redis_client, keys).read_all()

    assert sorted(p.bot_id for p in snapshot.positions) == ["b1", "b2"]
    assert position("b2", "-1") in snapshot.positions
    assert snapshot.open_orders == [open_order()]
    assert snapshot.balances[0].total == Decimal("1000.5")
    assert snapshot.bots == [bot("b1")]
    assert snapshot.books == {"BTC-USDT": book("BTC-USDT")}
    assert snapshot.metrics == {"engine": {"events_per_s": 1234.5, "queue_depth": 3}}
    beat = snapshot.heartbeats["engine"]
    assert beat is not None and beat.component == "engine" and beat.ts_ns > 0


async def test_a_terminal_order_leaves_the_open_orders(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    writer = RedisStateWriter(redis_client, keys)
    order = open_order()
    await writer.put_order(order)
    await writer.put_order(msgspec.structs.replace(order, status=OrderStatus.FILLED))
    assert (await RedisStateReader(redis_client, keys).read_all()).open_orders == []


async def test_a_heartbeat_expires_when_the_beats_stop(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    writer = RedisStateWriter(redis_client, keys)
    reader = RedisStateReader(redis_client, keys)
    await writer.heartbeat("feeds", ttl_s=0.1)
    assert await redis_client.pttl(keys.heartbeat("feeds")) > 0
    last: dict[str, object] = {}

    async def expired() -> bool:
        last.update((await reader.read_all()).heartbeats)
        return "feeds" in last and last["feeds"] is None

    await wait_until_async(expired, what="the heartbeat to expire")


async def test_republish_all_replaces_every_key_in_one_go(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    writer = RedisStateWriter(redis_client, keys)
    await writer.put_position(position("stale-bot", "5"))
    await writer.put_book(book("ETH-USDT"))
    await writer.put_bot(bot("stale-bot"))
    fresh = StateSnapshot(
        positions=[position("b1", "0.3")],
        open_orders=[open_order()],
        balances=[Balance(currency="BTC", total=Decimal("1"), available=Decimal("0.5"))],
        bots=[bot("b1")],
        books={"BTC-USDT": book("BTC-USDT")},
        metrics={"engine": {"uptime_s": 5}},
    )
    await writer.republish_all(fresh)
    assert await redis_client.exists(keys.book("ETH-USDT")) == 0
    assert await RedisStateReader(redis_client, keys).read_all() == fresh


async def test_an_undecodable_value_is_skipped_and_counted(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    writer = RedisStateWriter(redis_client, keys)
    await writer.put_bot(bot("b1"))
    await redis_client.hset(keys.bots, "garbage", b"\x92\x63\x00")  # version 99
    reader = RedisStateReader(redis_client, keys)
    snapshot = await reader.read_all()
    assert snapshot.bots == [bot("b1")]
    assert reader.errors == 1
