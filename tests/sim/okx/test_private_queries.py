"""The simulator's signed queries (orders-history filters, fills, currencies), the ``account``
channel, ``orders`` for every instType, and spot fees in the currency received."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect

from desk.core.enums import Side
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import BTC, recv_json, recv_until
from tests.sim.okx.test_private import ORDERS, best, limit, login, op, order_push, rest_headers

D = Decimal


@pytest.fixture
async def trader(paused: OkxSimulator) -> AsyncIterator[ClientConnection]:
    """A logged-in private connection subscribed to ``orders`` (SPOT)."""
    async with connect(paused.ws_private_url) as ws:
        assert (await login(ws))["code"] == "0"
        await ws.send(json.dumps({"id": "s1", "op": "subscribe", "args": [ORDERS]}))
        assert (await recv_json(ws))["event"] == "subscribe"
        yield ws


async def signed_get(sim: OkxSimulator, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim.rest_url + path, headers=rest_headers("GET", path)) as r,
    ):
        return await r.json()  # type: ignore[no-any-return]


async def fill_and_cancel(sim: OkxSimulator, trader: ClientConnection) -> tuple[str, str]:
    """One taker buy that fills (ft1) and one resting buy canceled (cx1): their ordIds."""
    _, ask, _ = best(sim, Side.SELL)
    _, bid, _ = best(sim, Side.BUY)
    filled = await op(trader, "order", [limit("buy", ask, "0.01", "ft1")], "o1")
    await recv_until(trader, order_push(lambda d: d["clOrdId"] == "ft1" and d["state"] == "filled"))
    rest = await op(trader, "order", [limit("buy", bid, "0.01", "cx1", "post_only")], "o2")
    await op(trader, "cancel-order", [{"instId": BTC, "clOrdId": "cx1"}], "c1")
    await recv_until(trader, order_push(lambda d: d["state"] == "canceled"))
    return filled["data"][0]["ordId"], rest["data"][0]["ordId"]


async def test_orders_history_honours_state_and_filters(
    paused: OkxSimulator, trader: ClientConnection
) -> None:
    filled_id, canceled_id = await fill_and_cancel(paused, trader)
    base = "/api/v5/trade/orders-history?instType=SPOT"
    both = [o["ordId"] for o in (await signed_get(paused, base))["data"]]
    assert both == [canceled_id, filled_id], "newest first"
    done = (await signed_get(paused, base + "&state=filled"))["data"]
    assert [o["ordId"] for o in done] == [filled_id] and done[0]["state"] == "filled"
    gone = (await signed_get(paused, base + "&state=canceled"))["data"]
    assert [o["ordId"] for o in gone] == [canceled_id]
    by_type = await signed_get(paused, base + "&ordType=post_only")
    assert [o["ordId"] for o in by_type["data"]] == [canceled_id]
    older = await signed_get(paused, base + f"&after={canceled_id}")
    assert [o["ordId"] for o in older["data"]] == [filled_id]
    newer = await signed_get(paused, base + f"&before={filled_id}&limit=1")
    assert [o["ordId"] for o in newer["data"]] == [canceled_id]
    assert (await signed_get(paused, base + "&begin=1&end=2"))["data"] == []
    assert (await signed_get(paused, base + "&state=live"))["code"] == "51000"
    assert len((await signed_get(paused, base + "&limit=1000"))["data"]) == 2, "at most 100"
    assert (await signed_get(paused, base + "&limit=0"))["code"] == "51000"
    assert (await signed_get(paused, "/api/v5/trade/orders-history"))["code"] == "50014"
    assert (await signed_get(paused, "/api/v5/trade/orders-history?instType=SWAP"))["data"] == []


async def test_fills_and_buyer_fee_in_base(paused: OkxSimulator, trader: ClientConnection) -> None:
    account = paused.account()
    btc, usdt = account.available["BTC"], account.available["USDT"]
    filled_id, _ = await fill_and_cancel(paused, trader)
    fills = (await signed_get(paused, "/api/v5/trade/fills?instType=SPOT"))["data"]
    assert fills and {f["ordId"] for f in fills} == {filled_id}
    size = sum(D(f["fillSz"]) for f in fills)
    fee = -sum(D(f["fee"]) for f in fills)
    cost = sum(D(f["fillPx"]) * D(f["fillSz"]) for f in fills)
    assert size == D("0.01") and fee == size * D("0.001")
    assert {f["feeCcy"] for f in fills} == {"BTC"} and fills[0]["side"] == "buy"
    assert account.available["BTC"] == btc + size - fee, "the buyer's fee comes out of the base"
    assert account.available["USDT"] == usdt - cost
    history = await signed_get(
        paused, f"/api/v5/trade/fills-history?instType=SPOT&ordId={filled_id}"
    )
    assert history["data"] == fills
    assert (await signed_get(paused, "/api/v5/trade/fills-history"))["code"] == "50014"
    paged = await signed_get(paused, f"/api/v5/trade/fills?after={fills[-1]['billId']}")
    assert paged["data"] == []


async def test_seller_fee_in_quote(paused: OkxSimulator, trader: ClientConnection) -> None:
    account = paused.account()
    btc, usdt = account.available["BTC"], account.available["USDT"]
    _, bid, _ = best(paused, Side.BUY)
    await op(trader, "order", [limit("sell", bid, "0.01", "sl1")], "o1")
    push = (await recv_until(trader, order_push(lambda d: d["state"] == "filled")))["data"][0]
    notional = D(push["avgPx"]) * D("0.01")
    assert push["feeCcy"] == "USDT" and D(push["fee"]) == -notional * D("0.001")
    assert account.available["BTC"] == btc - D("0.01")
    assert account.available["USDT"] == usdt + notional + D(push["fee"])


async def test_currencies_signed(paused: OkxSimulator) -> None:
    data = (await signed_get(paused, "/api/v5/asset/currencies"))["data"]
    assert {c["ccy"] for c in data} >= {"BTC", "ETH", "SOL", "USDT"}
    btc = next(c for c in data if c["ccy"] == "BTC")
    assert btc["chain"].startswith("BTC-") and btc["canDep"] is True and btc["wdTickSz"]
    one = (await signed_get(paused, "/api/v5/asset/currencies?ccy=ETH"))["data"]
    assert [c["ccy"] for c in one] == ["ETH"]
    url = paused.rest_url + "/api/v5/asset/currencies"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert (await r.json())["code"] == "50103", "unsigned is refused"


async def test_orders_channel_every_inst_type_and_account_channel(paused: OkxSimulator) -> None:
    args = [{"channel": "orders", "instType": t} for t in ("MARGIN", "ANY", "SWAP", "OPTION")]
    account_arg = {"channel": "account"}
    async with connect(paused.ws_private_url) as ws:
        await login(ws)
        await ws.send(json.dumps({"id": "s1", "op": "subscribe", "args": [*args, account_arg]}))
        acks = [await recv_until(ws, lambda m: m.get("event") == "subscribe") for _ in range(5)]
        assert [a["arg"] for a in acks] == [*args, account_arg]
        first = await recv_until(ws, lambda m: m.get("arg") == account_arg)
        usdt = next(d for d in first["data"][0]["details"] if d["ccy"] == "USDT")
        assert D(usdt["availBal"]) == paused.account().available["USDT"]
        _, bid, _ = best(paused, Side.BUY)
        await op(ws, "order", [limit("buy", bid, "0.01", "any1", "post_only")], "o1")
        got: list[dict[str, Any]] = []
        while len(got) < 3:  # one orders push per covering subscription, one account push
            msg = await recv_json(ws)
            if msg.get("arg", {}).get("channel") in ("orders", "account"):
                got.append(msg)
        kinds = sorted(m["arg"].get("instType", "account") for m in got)
        assert kinds == ["ANY", "MARGIN", "account"], "spot orders reach MARGIN and ANY only"
        frozen = next(d for d in got[-1]["data"][0]["details"] if d["ccy"] == "USDT")
        assert D(frozen["frozenBal"]) == D(bid) * D("0.01")
        bad = {"channel": "orders", "instType": "EVENTS"}
        await ws.send(json.dumps({"id": "s2", "op": "subscribe", "args": [bad]}))
        assert (await recv_until(ws, lambda m: m.get("event") == "error"))["code"] == "60013"
