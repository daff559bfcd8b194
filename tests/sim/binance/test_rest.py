"""The simulated Binance REST endpoints, raw and through desk's REST client."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from desk.feeds.binance.rest import BinanceApiError, BinanceRestClient
from desk.sim.binance.simulator import BinanceSimulator
from tests.sim.binance.client import BTC, ETH, is_wire_decimal


async def get(sim: BinanceSimulator, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(sim.rest_url + path) as reply:
        return reply.status, await reply.json()


async def test_exchange_info_lists_every_symbol_with_its_filters(sim: BinanceSimulator) -> None:
    status, body = await get(sim, "/api/v3/exchangeInfo")
    assert status == 200
    assert [s["symbol"] for s in body["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    btc = body["symbols"][0]
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    status, body = await get(sim, '/api/v3/exchangeInfo?symbols=["ETHUSDT"]')
    assert [s["symbol"] for s in body["symbols"]] == [ETH]


async def test_depth_is_the_current_book_at_its_update_id(paused: BinanceSimulator) -> None:
    status, body = await get(paused, f"/api/v3/depth?symbol={BTC}&limit=5000")
    assert status == 200
    assert body["lastUpdateId"] == paused.last_update_id(BTC)
    assert (
        [tuple(level) for level in body["bids"]],
        [tuple(level) for level in body["asks"]],
    ) == paused.book(BTC)
    assert all(is_wire_decimal(px) and is_wire_decimal(qty) for px, qty in body["bids"])
    paused.step_market(50)
    _, later = await get(paused, f"/api/v3/depth?symbol={BTC}&limit=5")
    assert later["lastUpdateId"] > body["lastUpdateId"], "newer than any diff pushed so far"
    assert len(later["bids"]) == 5 and len(later["asks"]) == 5


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v3/depth", -1102),
        ("/api/v3/depth?symbol=DOGEUSDT", -1121),
        (f"/api/v3/depth?symbol={BTC}&limit=0", -1100),
        (f"/api/v3/depth?symbol={BTC}&limit=5001", -1100),
        ("/api/v3/exchangeInfo?symbol=DOGEUSDT", -1121),
        ("/api/v3/exchangeInfo?symbols=BTCUSDT", -1100),
        ("/api/v3/ticker/bookTicker", -1102),
    ],
)
async def test_bad_requests_get_binance_errors(sim: BinanceSimulator, path: str, code: int) -> None:
    status, body = await get(sim, path)
    assert status == 400
    assert body["code"] == code and body["msg"]


async def test_book_ticker_time_and_ping(paused: BinanceSimulator) -> None:
    _, ticker = await get(paused, f"/api/v3/ticker/bookTicker?symbol={BTC}")
    bids, asks = paused.book(BTC)
    assert (ticker["bidPrice"], ticker["bidQty"]) == bids[0]
    assert (ticker["askPrice"], ticker["askQty"]) == asks[0]
    _, now = await get(paused, "/api/v3/time")
    assert now["serverTime"] > 1_700_000_000_000
    assert await get(paused, "/api/v3/ping") == (200, {})


async def test_the_rest_client_reads_snapshots_and_rules(paused: BinanceSimulator) -> None:
    client = BinanceRestClient(paused.rest_url)
    try:
        depth = await client.get_depth(BTC, 1000)
        assert depth.last_update_id == paused.last_update_id(BTC)
        assert (depth.bids, depth.asks) == paused.book(BTC)
        rules = await client.get_symbol_rules([BTC, ETH])
        assert [r.instrument.symbol for r in rules] == ["BTC-USDT", "ETH-USDT"]
        btc = rules[0]
        assert (btc.instrument.venue, btc.instrument.tick_size) == ("binance", "0.01000000")
        assert btc.min_notional == "5.00000000" and btc.instrument.is_live
        assert len(await client.get_instruments()) == 3
        assert await client.get_time() > 1_700_000_000_000
        with pytest.raises(BinanceApiError) as info:
            await client.get_depth("DOGEUSDT")
        assert (info.value.code, info.value.status) == (-1121, 400)
    finally:
        await client.close()


async def test_faults_can_be_injected_over_http(sim: BinanceSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.rest_url}/sim/faults/sequence_gap", json={"symbol": BTC}) as r:
            assert (r.status, await r.json()) == (200, {"ok": True})
        async with http.post(f"{sim.rest_url}/sim/faults/explode", json={}) as r:
            assert r.status == 400 and "unknown fault" in (await r.json())["error"]
    assert sim.faults.injected == {"sequence_gap": 1}
