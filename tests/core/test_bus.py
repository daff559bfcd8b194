"""The bus calls hot-path subscribers directly and queues slow ones with an explicit policy."""

import asyncio

from desk.core import topics
from desk.core.bus import Bus, Overflow
from desk.core.enums import Side
from desk.core.events import BookChanged, Trade


def _trade(i: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade(
        ts_exchange=i,
        ts_recv=i,
        venue="okx",
        symbol=symbol,
        trade_id=str(i),
        price=1.0 + i,
        size=1.0,
        side=Side.BUY,
    )


def _book(seq: int, symbol: str = "BTC-USDT") -> BookChanged:
    return BookChanged(
        ts_exchange=seq,
        ts_recv=seq,
        venue="okx",
        symbol=symbol,
        seq_id=seq,
        snapshot=False,
        best_bid=1.0,
        best_ask=2.0,
    )


def test_publish_calls_subscribers_synchronously_in_order() -> None:
    bus = Bus()
    seen: list[str] = []
    bus.subscribe("market_data:BTC-USDT", lambda e: seen.append(f"a{e.trade_id}"))
    bus.subscribe("market_data:BTC-USDT", lambda e: seen.append(f"b{e.trade_id}"))
    bus.publish(topics.market_data("BTC-USDT"), _trade(1))
    assert seen == ["a1", "b1"]


def test_prefix_subscription_sees_every_symbol_and_exact_sees_one() -> None:
    bus = Bus()
    everything: list[str] = []
    btc_only: list[str] = []
    bus.subscribe("market_data:*", lambda e: everything.append(e.symbol))
    bus.subscribe("market_data:BTC-USDT", lambda e: btc_only.append(e.symbol))
    bus.publish("market_data:BTC-USDT", _trade(1))
    bus.publish("market_data:ETH-USDT", _trade(2, "ETH-USDT"))
    bus.publish("system_events", _trade(3))
    assert everything == ["BTC-USDT", "ETH-USDT"]
    assert btc_only == ["BTC-USDT"]


def test_unsubscribe_stops_delivery() -> None:
    bus = Bus()
    seen: list[int] = []
    remove = bus.subscribe("t", lambda e: seen.append(e))
    bus.publish("t", 1)
    remove()
    bus.publish("t", 2)
    assert seen == [1]


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = Bus()
    seen: list[int] = []

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe("t", broken)
    bus.subscribe("t", seen.append)
    bus.publish("t", 1)
    assert seen == [1]
    assert bus.handler_errors == 1


async def test_conflating_queue_keeps_latest_per_symbol_when_consumer_is_slow() -> None:
    bus = Bus()
    gate = asyncio.Event()
    got: list[BookChanged] = []

    async def slow(event: BookChanged) -> None:
        await gate.wait()
        got.append(event)

    sub = bus.subscribe_async(
        "market_data:*", slow, name="ui", maxsize=8, overflow=Overflow.CONFLATE
    )
    await asyncio.sleep(0)  # let the consumer take the first item and block on the gate
    for seq in range(1, 1001):
        bus.publish("market_data:BTC-USDT", _book(seq))
        bus.publish("market_data:ETH-USDT", _book(seq, "ETH-USDT"))
    assert sub.depth <= 8
    gate.set()
    await asyncio.wait_for(sub.drain(), 10)
    latest = {e.symbol: e.seq_id for e in got}
    assert latest == {"BTC-USDT": 1000, "ETH-USDT": 1000}
    assert len(got) <= 3  # the one in flight plus the latest per symbol
    assert sub.conflated > 0
    await bus.stop()


async def test_never_drop_queue_keeps_every_event_past_its_bound() -> None:
    bus = Bus()
    gate = asyncio.Event()
    got: list[int] = []

    async def slow(event: Trade) -> None:
        await gate.wait()
        got.append(int(event.trade_id))

    sub = bus.subscribe_async("trade_updates:bot1", slow, name="fills", maxsize=10)
    for i in range(500):
        bus.publish("trade_updates:bot1", _trade(i))
    assert sub.over_bound > 0
    gate.set()
    await asyncio.wait_for(sub.drain(), 10)
    assert got == list(range(500))
    assert sub.dropped == 0
    await bus.stop()


async def test_drop_oldest_queue_keeps_the_newest() -> None:
    bus = Bus()
    gate = asyncio.Event()
    got: list[int] = []

    async def slow(event: Trade) -> None:
        await gate.wait()
        got.append(int(event.trade_id))

    sub = bus.subscribe_async("t", slow, name="tape", maxsize=5, overflow=Overflow.DROP_OLDEST)
    await asyncio.sleep(0)
    for i in range(100):
        bus.publish("t", _trade(i))
    gate.set()
    await asyncio.wait_for(sub.drain(), 10)
    assert got[-5:] == [95, 96, 97, 98, 99]
    assert sub.dropped > 0
    await bus.stop()


async def test_async_subscriber_survives_a_failing_handler() -> None:
    bus = Bus()
    got: list[int] = []

    async def handler(event: int) -> None:
        if event == 2:
            raise ValueError("bad event")
        got.append(event)

    sub = bus.subscribe_async("t", handler, name="x")
    for i in range(1, 5):
        bus.publish("t", i)
    await asyncio.wait_for(sub.drain(), 10)
    assert got == [1, 3, 4]
    assert sub.errors == 1
    await bus.stop()
