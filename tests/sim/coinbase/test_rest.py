"""The Coinbase simulator's REST endpoints over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from tests.sim.coinbase.client import BTC, ETH

pytestmark = pytest.mark.integration

BASE = "/api/v3/brokerage"


async def get(sim, path: str, **params: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim.rest_url + path, params=params) as response,
    ):
        return response.status, await response.json()


async def test_products_list_the_rules(paused) -> None:
    status, body = await get(paused, f"{BASE}/market/products")
    assert status == 200 and body["num_products"] == 2
    btc = next(p for p in body["products"] if p["product_id"] == BTC)
    assert (btc["price_increment"], btc["base_increment"]) == ("0.01", "0.00000001")
    assert (btc["base_min_size"], btc["quote_min_size"]) == ("0.00000001", "1")
    assert (btc["base_currency_id"], btc["quote_currency_id"]) == ("BTC", "USD")
    assert btc["status"] == "online" and btc["trading_disabled"] is False


async def test_products_filter_and_one_product(paused) -> None:
    status, body = await get(paused, f"{BASE}/market/products", product_ids=ETH)
    assert [p["product_id"] for p in body["products"]] == [ETH]
    status, one = await get(paused, f"{BASE}/market/products/{BTC}")
    assert status == 200 and one["product_id"] == BTC
    status, missing = await get(paused, f"{BASE}/market/products/NOPE-USD")
    assert status == 404 and missing["error"] == "NOT_FOUND"


async def test_product_book_is_the_last_published_book(paused) -> None:
    paused.step_market(50)
    paused.publish()
    bids, asks = paused.published_book(BTC)
    status, body = await get(paused, f"{BASE}/market/product_book", product_id=BTC, limit=5)
    book = body["pricebook"]
    assert status == 200 and book["product_id"] == BTC
    assert [(x["price"], x["size"]) for x in book["bids"]] == bids[:5]
    assert [(x["price"], x["size"]) for x in book["asks"]] == asks[:5]
    assert book["time"].endswith("Z")
    status, whole = await get(paused, f"{BASE}/market/product_book", product_id=BTC)
    assert len(whole["pricebook"]["bids"]) == len(bids)
    assert float(whole["spread_absolute"]) == pytest.approx(float(asks[0][0]) - float(bids[0][0]))


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 400), ({"product_id": "NOPE-USD"}, 404), ({"product_id": BTC, "limit": "0"}, 400)],
)
async def test_bad_book_requests(paused, params, status) -> None:
    got, body = await get(paused, f"{BASE}/market/product_book", **params)
    assert got == status and body["message"]


async def test_time(paused) -> None:
    status, body = await get(paused, f"{BASE}/time")
    assert status == 200 and int(body["epochMillis"]) // 1000 == int(body["epochSeconds"])
    assert body["iso"].endswith("Z")


async def test_faults_over_http(paused) -> None:
    async with aiohttp.ClientSession() as http:
        url = paused.rest_url + "/sim/faults/"
        async with http.post(url + "sequence_gap", json={"product_id": BTC}) as ok:
            assert ok.status == 200 and (await ok.json()) == {"ok": True}
        async with http.post(url + "maintenance_notice", json={}) as refused:
            assert refused.status == 400 and "unknown fault" in (await refused.json())["error"]
        async with http.post(url + "sequence_gap", json={"product_id": "NOPE"}) as bad:
            assert bad.status == 400
    assert paused.streams[BTC].gap_pending
