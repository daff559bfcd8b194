"""The Coinbase simulator's faults, seen from plain clients."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.sim.coinbase.client import BTC, ETH, TIMEOUT, on, recv_json, recv_until, subscribe

pytestmark = pytest.mark.integration


async def test_sequence_gap_leaves_a_hole_before_that_products_next_update(paused) -> None:
    async with connect(paused.ws_url) as btc_ws, connect(paused.ws_url) as eth_ws:
        await subscribe(btc_ws, "level2", BTC)
        await subscribe(eth_ws, "level2", ETH)
        last_btc = (await recv_until(btc_ws, on("l2_data", "snapshot")))["sequence_num"]
        last_eth = (await recv_until(eth_ws, on("l2_data", "snapshot")))["sequence_num"]
        paused.faults.sequence_gap(BTC)
        paused.step_market(30)
        paused.publish()
        btc = await recv_until(btc_ws, on("l2_data", "update"))
        eth = await recv_until(eth_ws, on("l2_data", "update"))
        assert btc["sequence_num"] > last_btc + 1, "a hole before BTC's update"
        assert eth["sequence_num"] == last_eth + 1, "ETH's subscribers see no hole"
        paused.step_market(30)
        paused.publish()
        again = await recv_until(btc_ws, on("l2_data", "update"))
        assert again["sequence_num"] == btc["sequence_num"] + 1, "one hole, then in order"


async def test_garbage_frames_take_no_number(paused) -> None:
    async with connect(paused.ws_url) as ws:
        ack = await subscribe(ws, "level2", BTC)
        await recv_until(ws, on("l2_data", "snapshot"))
        assert paused.faults.malformed_frame() == 1
        assert paused.faults.truncated_frame() == 1
        malformed, truncated = await ws.recv(), await ws.recv()
        for frame in (malformed, truncated):
            with pytest.raises(json.JSONDecodeError):
                json.loads(frame)
        paused.step_market(30)
        paused.publish()
        update = await recv_json(ws)
        assert update["sequence_num"] == ack["sequence_num"] + 2


async def test_duplicate_trades_repeat_the_last_batch_with_a_fresh_number(paused) -> None:
    async with connect(paused.ws_url) as ws:
        await subscribe(ws, "market_trades", BTC)
        await recv_until(ws, on("market_trades", "snapshot"))
        while not paused.streams[BTC].last_batch:
            paused.step_market(50)
            paused.publish()
        first = await recv_until(ws, on("market_trades", "update"))
        assert paused.faults.duplicate_trades(BTC) is True
        again = await recv_until(ws, on("market_trades", "update"))
        assert again["events"] == first["events"]
        assert again["sequence_num"] == first["sequence_num"] + 1


async def test_drop_connections_closes_without_a_close_frame(paused) -> None:
    async with connect(paused.ws_url) as ws:
        await subscribe(ws, "heartbeats")
        assert paused.faults.drop_connections() == 1
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is None
    async with connect(paused.ws_url) as again:
        assert (await subscribe(again, "heartbeats"))["sequence_num"] == 0
    assert paused.faults.injected["drop_connections"] == 1
