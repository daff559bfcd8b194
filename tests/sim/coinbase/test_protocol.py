"""The Coinbase simulator's WebSocket protocol, seen from a plain client (PROTOCOLS.md C, E)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from desk.sim.coinbase.products import venue_seed
from desk.sim.coinbase.simulator import CoinbaseSimulator
from desk.sim.instruments import DEFAULT_INSTRUMENTS
from tests.sim.coinbase.client import (
    BTC,
    ETH,
    TIMEOUT,
    apply,
    config,
    on,
    ordered,
    products,
    recv_json,
    recv_until,
    subscribe,
)

pytestmark = pytest.mark.integration


async def test_level2_acks_then_sends_a_snapshot_then_chained_updates(paused) -> None:
    async with connect(paused.ws_url) as ws:
        ack = await subscribe(ws, "level2", BTC)
        assert ack["sequence_num"] == 0
        assert ack["events"] == [{"subscriptions": {"level2": [BTC]}}]
        snap = await recv_json(ws)
        assert (snap["channel"], snap["sequence_num"]) == ("l2_data", 1)
        [event] = snap["events"]
        assert (event["type"], event["product_id"]) == ("snapshot", BTC)
        assert {u["side"] for u in event["updates"]} == {"bid", "offer"}
        assert all(u["event_time"] == "1970-01-01T00:00:00Z" for u in event["updates"])
        book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
        apply(book, event)
        assert ordered(book) == paused.published_book(BTC)
        for n in range(2, 7):
            paused.step_market(20)
            paused.publish()
            msg = await recv_until(ws, on("l2_data"))
            assert msg["sequence_num"] == n
            assert msg["events"][0]["type"] == "update"
            assert all(u["side"] in ("bid", "offer") for u in msg["events"][0]["updates"])
            apply(book, msg["events"][0])
        assert ordered(book) == paused.published_book(BTC)
        assert "client_id" not in snap  # the live shape (AsyncAPI)


async def test_every_message_of_a_connection_takes_the_next_number(coinbase) -> None:
    async with connect(coinbase.ws_url) as ws, connect(coinbase.ws_url) as other:
        for channel in ("level2", "market_trades", "ticker"):
            await subscribe(ws, channel, BTC, ETH)
        await subscribe(ws, "heartbeats")
        await subscribe(other, "ticker", ETH)
        seen = [(await recv_json(ws)) for _ in range(60)]
        numbers = [m["sequence_num"] for m in seen]
        assert numbers == list(range(numbers[0], numbers[0] + 60))
        assert {m["channel"] for m in seen} >= {"l2_data", "market_trades", "ticker"}
        first = await recv_json(other)  # its own numbering, after its ack (0) and snapshot (1)
        assert first["sequence_num"] <= 3


async def test_heartbeats_come_every_second_with_a_counter(paused) -> None:
    async with connect(paused.ws_url) as ws:
        ack = await subscribe(ws, "heartbeats")
        assert ack["events"] == [{"subscriptions": {"heartbeats": ["heartbeats"]}}]
        beats = [await recv_until(ws, on("heartbeats")) for _ in range(3)]
        counters = [b["events"][0]["heartbeat_counter"] for b in beats]
        assert counters == [counters[0], counters[0] + 1, counters[0] + 2]
        assert all(isinstance(c, int) for c in counters)
        assert " +0000 UTC m=+" in beats[0]["events"][0]["current_time"]


async def test_the_docs_shape_sends_client_id_and_string_counters() -> None:
    cfg = config(update_interval=3600)
    async with CoinbaseSimulator(cfg, products=products(BTC), docs_shape=True) as sim:
        sim.pause()
        async with connect(sim.ws_url) as ws:
            ack = await subscribe(ws, "heartbeats")
            assert ack["client_id"] == ""
            beat = await recv_until(ws, on("heartbeats"))
            assert isinstance(beat["events"][0]["heartbeat_counter"], str)


async def test_market_trades_start_with_recent_trades_and_name_the_maker_side(paused) -> None:
    paused.step_market(400)
    paused.publish()
    async with connect(paused.ws_url) as ws:
        await subscribe(ws, "market_trades", BTC)
        snap = await recv_until(ws, on("market_trades", "snapshot"))
        recent = snap["events"][0]["trades"]
        assert 0 < len(recent) <= 50
        assert [t["time"] for t in recent] == sorted((t["time"] for t in recent), reverse=True)
        published = paused.published_trades(BTC)
        assert recent[0] == published[-1]
        paused.step_market(400)
        paused.publish()
        update = await recv_until(ws, on("market_trades", "update"))
        trades = update["events"][0]["trades"]
        assert trades == paused.published_trades(BTC)[-len(trades) :]
        assert {t["side"] for t in trades} <= {"BUY", "SELL"}
        assert all(t["product_id"] == BTC for t in trades)


async def test_ticker_starts_with_a_snapshot_and_follows_trades(paused) -> None:
    async with connect(paused.ws_url) as ws:
        await subscribe(ws, "ticker", ETH)
        snap = await recv_until(ws, on("ticker", "snapshot"))
        [ticker] = snap["events"][0]["tickers"]
        assert ticker["product_id"] == ETH and ticker["type"] == "ticker"
        assert float(ticker["best_bid"]) < float(ticker["best_ask"])
        paused.step_market(400)
        paused.publish()
        update = await recv_until(ws, on("ticker", "update"))
        assert update["events"][0]["tickers"][0]["price"] != ""


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        ("not json", "failure to parse"),
        ({"type": "subscribe", "channels": ["level2"], "product_ids": [BTC]}, "one message per"),
        ({"type": "subscribe", "channel": "level3", "product_ids": [BTC]}, "unknown channel"),
        ({"type": "subscribe", "channel": "level2"}, "product_ids"),
        ({"type": "subscribe", "channel": "level2", "product_ids": ["XYZ-USD"]}, "XYZ-USD"),
        ({"type": "hello", "channel": "level2", "product_ids": [BTC]}, "unknown message type"),
    ],
)
async def test_bad_requests_are_refused_and_subscribe_nothing(paused, request_, says) -> None:
    async with connect(paused.ws_url) as ws:
        await ws.send(request_ if isinstance(request_, str) else json.dumps(request_))
        reply = await recv_json(ws)
        assert reply["type"] == "error" and says in reply["message"]
        assert "sequence_num" not in reply
        ack = await subscribe(ws, "heartbeats")
        assert ack["sequence_num"] == 0 and ack["events"][0]["subscriptions"] == {
            "heartbeats": ["heartbeats"]
        }


async def test_unsubscribe_stops_the_stream(coinbase) -> None:
    async with connect(coinbase.ws_url) as ws:
        await subscribe(ws, "level2", BTC)
        await subscribe(ws, "heartbeats")
        await recv_until(ws, on("l2_data", "update"))
        ack = await subscribe(ws, "level2", BTC, kind="unsubscribe")
        assert ack["events"][0]["subscriptions"] == {"heartbeats": ["heartbeats"]}
        after: list[str] = []
        while sum(1 for c in after if c == "heartbeats") < 2:
            after.append((await recv_json(ws))["channel"])
        assert "l2_data" not in after


async def test_a_connection_that_does_not_subscribe_in_time_is_closed() -> None:
    sim = CoinbaseSimulator(config(), products=products(BTC), subscribe_timeout=0.3)
    async with sim, connect(sim.ws_url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_an_idle_connection_is_closed() -> None:
    cfg = config(update_interval=3600)
    async with CoinbaseSimulator(cfg, products=products(BTC), idle_timeout=0.5) as sim:
        sim.pause()
        async with connect(sim.ws_url) as ws:
            await subscribe(ws, "level2", BTC)
            await recv_until(ws, on("l2_data", "snapshot"))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_the_market_is_deterministic_per_seed_and_its_own_venue() -> None:
    def run(seed: int) -> tuple[list[tuple[str, str]], ...]:
        sim = CoinbaseSimulator(config(seed=seed), products=products(BTC))
        sim.step_market(300)
        for stream in sim.streams.values():
            stream.publish_level2("2024-01-01T00:00:00Z")
        return sim.published_book(BTC)

    assert run(5) == run(5)
    assert run(5) != run(6)
    assert venue_seed(5) != 5
    okx_start = next(s.price for s in DEFAULT_INSTRUMENTS if s.inst_id == "BTC-USDT")
    sim = CoinbaseSimulator(config(), products=products("BTC-USDT"))
    assert float(sim.market.spec("BTC-USDT").price) == pytest.approx(float(okx_start) * 1.00025)
