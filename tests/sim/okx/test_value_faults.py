"""Value corruptions: the simulator writes NaN, inf, negative, zero and absurd values, far
timestamps and 200 kB strings into the next push of one stream, on request."""

from __future__ import annotations

import json

import aiohttp
import pytest
from websockets.asyncio.client import connect

from desk.sim.faults import VALUE_FAULTS
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import BTC, ETH, on, recv_until, subscribe

TRADE_FIELD = {"price": "px", "size": "sz", "ts": "ts"}
TICKER_FIELD = {"price": "last", "size": "lastSz", "ts": "ts"}


def _trade(sim: OkxSimulator, inst: str = BTC) -> None:
    sim.synthetic_take(inst, "buy", "0.01" if inst == BTC else "0.1")
    sim.publish(books=False)


@pytest.mark.parametrize("name", sorted(VALUE_FAULTS))
async def test_each_value_fault_corrupts_the_next_trades_push_only(
    paused: OkxSimulator, name: str
) -> None:
    fault = VALUE_FAULTS[name]
    async with connect(paused.ws_public_url, max_size=None) as ws:
        await subscribe(ws, ("trades", BTC))
        paused.faults.apply(name, {"inst_id": BTC})
        _trade(paused)
        bad = (await recv_until(ws, on("trades")))["data"][0]
        assert bad[TRADE_FIELD[fault.field]] == fault.text
        _trade(paused)
        good = (await recv_until(ws, on("trades")))["data"][0]
        assert good == paused.published_trades(BTC)[-1], "the next push is true again"
    assert paused.stats()["faults"] == {name: 1}


async def test_a_book_corruption_waits_for_a_push_with_levels_and_keeps_the_chain(
    paused: OkxSimulator,
) -> None:
    async with connect(paused.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        last = (await recv_until(ws, on("books")))["data"][0]["seqId"]
        paused.faults.corrupt("negative_size", BTC, "books")
        paused.faults.corrupt("nan_price", ETH, "books")  # another stream: not this one
        paused.step_market(30)
        paused.publish()
        bad = (await recv_until(ws, on("books")))["data"][0]
        first = (bad["asks"] or bad["bids"])[0]
        assert first[1] == "-1" and bad["prevSeqId"] == last, "only the value is wrong"
        paused.step_market(30)
        paused.publish()
        nxt = (await recv_until(ws, on("books")))["data"][0]
        assert nxt["prevSeqId"] == bad["seqId"]
        assert all(level[1] != "-1" for level in nxt["asks"] + nxt["bids"])


@pytest.mark.parametrize("name", ["inf_price", "nan_size", "future_timestamp"])
async def test_tickers_and_shallow_books_can_be_corrupted_too(
    paused: OkxSimulator, name: str
) -> None:
    fault = VALUE_FAULTS[name]
    async with connect(paused.ws_public_url) as ws:
        for channel in ("tickers", "bbo-tbt"):
            await subscribe(ws, (channel, BTC))
            await recv_until(ws, on(channel))  # what a new subscriber gets first
        paused.faults.corrupt(name, BTC, "tickers")
        paused.faults.corrupt(name, BTC, "bbo-tbt")
        _trade(paused)  # moves the top too: a bbo-tbt push goes out in the same cycle
        bbo = (await recv_until(ws, on("bbo-tbt")))["data"][0]
        ticker = (await recv_until(ws, on("tickers")))["data"][0]
        assert ticker[TICKER_FIELD[fault.field]] == fault.text
        if fault.field == "ts":
            assert bbo["ts"] == fault.text
        else:
            level = (bbo["asks"] or bbo["bids"])[0]
            assert level[0 if fault.field == "price" else 1] == fault.text


async def test_an_oversized_string_is_sent_whole(paused: OkxSimulator) -> None:
    async with connect(paused.ws_public_url, max_size=None) as ws:
        await subscribe(ws, ("trades", BTC))
        paused.faults.corrupt("oversized_string", BTC)
        _trade(paused)
        frame = await ws.recv()
        while '"trades"' not in frame:
            frame = await ws.recv()
        assert len(frame) > 200_000 and json.loads(frame)["data"][0]["px"] == "1" * 200_000


async def test_value_faults_over_http(sim: OkxSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{sim.rest_url}/sim/faults"
        body = {"inst_id": BTC, "channel": "books"}
        async with http.post(f"{url}/huge_price", json=body) as resp:
            assert resp.status == 200 and await resp.json() == {"ok": True}
        for name, bad in [
            ("nan_price", {"inst_id": BTC, "channel": "candle1m"}),
            ("nan_price", {"inst_id": "DOGE-USDT"}),
            ("nan_price", {}),
            ("nan_price", {"inst_id": BTC, "field": "px"}),
        ]:
            async with http.post(f"{url}/{name}", json=bad) as resp:
                assert resp.status == 400 and (await resp.json())["ok"] is False
    assert sim.stats()["faults"] == {"huge_price": 1}
    assert ("books", BTC) in sim.hub.corruptions
