"""Faults, determinism and per-venue prices of the Binance simulator, seen from real clients."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from desk.sim.binance.simulator import BinanceSimulator
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.binance.client import BTC, TIMEOUT, config, event, on, open_ws, recv, recv_until


async def closed(ws: ClientConnection) -> int | None:
    """Read until the connection closes; the close code received (None: no close frame)."""
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(_drain(ws), TIMEOUT)
    return info.value.rcvd.code if info.value.rcvd is not None else None


async def _drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def test_sequence_gap_loses_one_event(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        last = (await recv_until(ws, event("depthUpdate")))["u"]
        sim.faults.sequence_gap(BTC)
        jumps = 0
        for _ in range(8):
            diff = await recv_until(ws, event("depthUpdate"))
            jumps += diff["U"] != last + 1
            last = diff["u"]
        assert jumps == 1


async def test_duplicate_trades_resends_the_last_trade(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
        last = await recv_until(ws, event("trade"))
        sim.pause()
        while True:  # read what was published before the pause
            try:
                last = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                break
        assert sim.faults.duplicate_trades(BTC)
        assert await recv_until(ws, event("trade")) == last


async def test_malformed_and_truncated_frames(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/stream?streams=btcusdt@trade") as ws:
        await recv_until(ws, on("btcusdt@trade"))
        sim.faults.malformed_frame()
        sim.faults.truncated_frame()
        texts = [await recv(ws) for _ in range(200)]
        assert sim.faults.MALFORMED_FRAME.decode() in texts
        assert any(t.startswith('{"stream":"btcusdt@trade"') and not t.endswith("}") for t in texts)


async def test_drop_connections_closes_without_a_close_frame(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
        await recv_until(ws, event("trade"))
        assert sim.faults.drop_connections() == 1
        assert await closed(ws) is None


async def test_stall_sends_nothing_not_even_pongs(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@bookTicker") as ws:
        await recv(ws)
        sim.faults.stall(1.5)
        await asyncio.sleep(0.1)  # what was queued before the stall goes out
        while True:  # drain it
            try:
                await asyncio.wait_for(ws.recv(), 0.2)
            except TimeoutError:
                break
        pong = await ws.ping()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pong), 0.5)
        await asyncio.wait_for(pong, TIMEOUT)  # answered once the stall ends


async def test_maintenance_notice_is_server_shutdown_then_a_close(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/stream?streams=btcusdt@trade") as ws:
        await recv_until(ws, on("btcusdt@trade"))
        sim.faults.maintenance_notice(close_after=0.2)
        notice = await recv_until(ws, on("!serverShutdown"))
        assert notice["data"]["e"] == "serverShutdown"
        assert await closed(ws) == 1001


async def test_the_same_seed_gives_the_same_market() -> None:
    async def run(seed: int) -> tuple[object, ...]:
        async with BinanceSimulator(config(seed=seed, update_interval=3600)) as sim:
            sim.pause()
            sim.step_market(300)
            trades = [(t["t"], t["p"], t["q"]) for t in sim.published_trades(BTC)]
            sim.publish()
            trades = [(t["t"], t["p"], t["q"]) for t in sim.published_trades(BTC)]
            return sim.book(BTC), sim.last_update_id(BTC), tuple(trades)

    first, again, other = await run(5), await run(5), await run(6)
    assert first == again
    assert first != other


async def test_binance_prices_differ_from_okx_prices_on_the_same_seed() -> None:
    async with (
        BinanceSimulator(config(update_interval=3600)) as binance,
        OkxSimulator(config(update_interval=3600)) as okx,
    ):
        binance.pause()
        okx.pause()
        b_bids, _ = binance.book(BTC)
        o_bids, _ = okx.published_book("BTC-USDT")
        assert float(b_bids[0][0]) != float(o_bids[0][0])
        assert abs(float(b_bids[0][0]) / float(o_bids[0][0]) - 1) < 0.01, "slightly different"
