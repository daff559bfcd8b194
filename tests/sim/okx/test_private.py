"""The simulator's private OKX API: WS login, orders channel, order ops, signed REST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect

from desk.core.enums import Side
from desk.sim.accounts import SIM_CREDENTIALS, AccountSpec, SimCredentials
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import BTC, Msg, config, on, recv_json, recv_until, subscribe
from tests.waiting import wait_until

CODE = 1000000000  # BTC-USDT's instIdCode in the simulator
ORDERS = {"channel": "orders", "instType": "SPOT"}


def _sign(secret: str, text: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()


def login_msg(
    creds: SimCredentials = SIM_CREDENTIALS,
    *,
    ts: int | None = None,
    secret: str | None = None,
    passphrase: str | None = None,
) -> str:
    stamp = str(int(time.time()) if ts is None else ts)
    sign = _sign(secret or creds.secret, f"{stamp}GET/users/self/verify")
    arg = {
        "apiKey": creds.api_key,
        "passphrase": creds.passphrase if passphrase is None else passphrase,
        "timestamp": stamp,
        "sign": sign,
    }
    return json.dumps({"op": "login", "args": [arg]})


async def login(ws: ClientConnection) -> Msg:
    await ws.send(login_msg())
    return await recv_json(ws)


async def op(ws: ClientConnection, name: str, args: list[dict[str, Any]], req_id: str) -> Msg:
    await ws.send(json.dumps({"id": req_id, "op": name, "args": args}))
    return await recv_until(ws, lambda m: m.get("id") == req_id and "op" in m)


def order_push(pred: Any = None) -> Any:
    def check(m: Msg) -> bool:
        return m.get("arg") == ORDERS and (pred is None or pred(m["data"][0]))

    return check


def limit(side: str, px: str, sz: str, cl: str, ord_type: str = "limit") -> dict[str, Any]:
    return {
        "instIdCode": CODE,
        "tdMode": "cash",
        "side": side,
        "ordType": ord_type,
        "px": px,
        "sz": sz,
        "clOrdId": cl,
    }


@pytest.fixture
async def trader(paused: OkxSimulator) -> AsyncIterator[ClientConnection]:
    """A logged-in private connection subscribed to ``orders``."""
    async with connect(paused.ws_private_url) as ws:
        assert (await login(ws))["code"] == "0"
        await ws.send(json.dumps({"id": "s1", "op": "subscribe", "args": [ORDERS]}))
        ack = await recv_json(ws)
        assert ack["event"] == "subscribe" and ack["arg"] == ORDERS
        yield ws


def best(sim: OkxSimulator, side: Side) -> tuple[int, str, int]:
    """(ticks, price string, lots resting) at the touch of ``side``."""
    engine, spec = sim.market.engine(BTC), sim.market.spec(BTC)
    ticks = engine.best_bid() if side is Side.BUY else engine.best_ask()
    assert ticks is not None
    return ticks, spec.price_str(ticks), engine.level(side, ticks)[0]


# ---- login -------------------------------------------------------------------------------


async def test_login_ok(sim: OkxSimulator) -> None:
    async with connect(sim.ws_private_url) as ws:
        reply = await login(ws)
        assert reply["event"] == "login" and reply["code"] == "0" and reply["connId"]
        await ws.send(login_msg())
        again = await recv_json(ws)
        assert again["event"] == "error" and again["code"] == "60031"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"secret": "not-the-secret"}, "60007"),
        ({"passphrase": "wrong"}, "60024"),
        ({"ts": int(time.time()) - 120}, "60006"),
    ],
)
async def test_login_refused(sim: OkxSimulator, kwargs: dict[str, Any], code: str) -> None:
    async with connect(sim.ws_private_url) as ws:
        await ws.send(login_msg(**kwargs))
        reply = await recv_json(ws)
        assert reply["event"] == "error" and reply["code"] == code and reply["msg"]
        assert (await login(ws))["code"] == "0", "a failed login leaves the connection usable"


async def test_unknown_key_and_requests_before_login(sim: OkxSimulator) -> None:
    async with connect(sim.ws_private_url) as ws:
        await ws.send(login_msg(SimCredentials("nobody", "x", "y")))
        assert (await recv_json(ws))["code"] == "60005"
        await ws.send(json.dumps({"id": "1", "op": "subscribe", "args": [ORDERS]}))
        assert (await recv_json(ws))["code"] == "60011"
        reply = await op(ws, "order", [limit("buy", "1000", "0.001", "a1")], "2")
        assert reply["code"] == "60011" and reply["data"] == []
        await ws.send("ping")
        assert await ws.recv() == "pong"


async def test_public_channels_are_not_on_private(trader: ClientConnection) -> None:
    await trader.send(
        json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": BTC}]})
    )
    assert (await recv_json(trader))["code"] == "60018"


# ---- orders ------------------------------------------------------------------------------


async def test_order_rests_in_the_public_book(
    paused: OkxSimulator, trader: ClientConnection
) -> None:
    _, px, before = best(paused, Side.BUY)
    async with connect(paused.ws_public_url) as public:
        await subscribe(public, ("books", BTC))
        await recv_until(public, on("books"))  # the snapshot
        reply = await op(trader, "order", [limit("buy", px, "0.5", "rest1")], "o1")
        assert reply["code"] == "0" and reply["id"] == "o1" and reply["op"] == "order"
        entry = reply["data"][0]
        assert entry["sCode"] == "0" and entry["clOrdId"] == "rest1" and entry["ordId"]
        assert reply["inTime"] and reply["outTime"]
        push = (await recv_until(trader, order_push()))["data"][0]
        assert push["state"] == "live" and push["ordId"] == entry["ordId"]
        assert push["px"] == px and push["sz"] == "0.5" and push["accFillSz"] == "0"
        assert all(isinstance(v, str) for v in push.values())
        paused.publish()
        lots = paused.market.spec(BTC).lot.units("0.5")
        want = paused.market.spec(BTC).size_str(before + lots)
        update = await recv_until(public, lambda m: on("books")(m) and m["data"][0]["bids"])
        assert [px, want] in [level[:2] for level in update["data"][0]["bids"]]
    assert (px, want) in paused.published_book(BTC)[0]


async def test_fills_against_the_market_carry_cumulative_fields(
    paused: OkxSimulator, trader: ClientConnection
) -> None:
    _, px, ahead = best(paused, Side.SELL)
    spec = paused.market.spec(BTC)
    reply = await op(trader, "order", [limit("sell", px, "0.2", "mk1")], "o1")
    assert reply["data"][0]["sCode"] == "0"
    await recv_until(trader, order_push(lambda d: d["state"] == "live"))
    paused.synthetic_take(BTC, "buy", spec.size_str(ahead + spec.lot.units("0.05")))
    first = (await recv_until(trader, order_push(lambda d: d["tradeId"])))["data"][0]
    fee1 = Decimal(px) * Decimal("0.05") * Decimal("0.0008")
    assert first["state"] == "partially_filled" and first["execType"] == "M"
    assert first["fillSz"] == "0.05" and first["accFillSz"] == "0.05"
    assert first["fillPx"] == px and Decimal(first["avgPx"]) == Decimal(px)
    assert Decimal(first["fillFee"]) == -fee1 and first["fillFeeCcy"] == "USDT"
    paused.synthetic_take(BTC, "buy", "0.15")
    last = (await recv_until(trader, order_push(lambda d: d["state"] == "filled")))["data"][0]
    assert last["fillSz"] == "0.15" and last["accFillSz"] == "0.2"
    assert last["tradeId"] != first["tradeId"]
    assert Decimal(last["fee"]) == -(Decimal(px) * Decimal("0.2") * Decimal("0.0008"))
    paused.publish()
    trades = [t["tradeId"] for t in paused.published_trades(BTC)]
    assert last["tradeId"] in trades, "private fills trade in the public stream"


async def test_crossing_order_takes_and_settles_balances(
    paused: OkxSimulator, trader: ClientConnection
) -> None:
    account = paused.account()
    usdt, btc = account.available["USDT"], account.available["BTC"]
    _, px, lots = best(paused, Side.SELL)
    assert lots > paused.market.spec(BTC).lot.units("0.01")
    await op(trader, "order", [limit("buy", px, "0.01", "tk1")], "o1")
    push = (await recv_until(trader, order_push(lambda d: d["state"] == "filled")))["data"][0]
    assert push["execType"] == "T" and push["accFillSz"] == "0.01"
    cost = Decimal(px) * Decimal("0.01")
    fee = Decimal("0.01") * Decimal("0.001")  # OKX spot: a buyer pays in the base it receives
    assert push["fillFeeCcy"] == push["feeCcy"] == "BTC" and Decimal(push["fee"]) == -fee
    assert account.available["BTC"] == btc + Decimal("0.01") - fee
    assert account.available["USDT"] == usdt - cost
    assert account.frozen["USDT"] == 0


async def test_cancel_and_cancel_again(paused: OkxSimulator, trader: ClientConnection) -> None:
    _, px, _ = best(paused, Side.BUY)
    await op(trader, "order", [limit("buy", px, "0.1", "cx1")], "o1")
    assert paused.account().frozen["USDT"] > 0
    reply = await op(trader, "cancel-order", [{"instIdCode": CODE, "clOrdId": "cx1"}], "c1")
    assert reply["code"] == "0" and reply["data"][0]["sCode"] == "0"
    push = (await recv_until(trader, order_push(lambda d: d["state"] == "canceled")))["data"][0]
    assert push["clOrdId"] == "cx1" and push["cancelSource"] == "1"
    assert paused.account().frozen["USDT"] == 0
    again = await op(trader, "cancel-order", [{"instId": BTC, "clOrdId": "cx1"}], "c2")
    assert again["code"] == "1" and again["data"][0]["sCode"] == "51400"


async def test_batch_orders_partial_success(paused: OkxSimulator, trader: ClientConnection) -> None:
    _, px, _ = best(paused, Side.BUY)
    args = [
        limit("buy", px, "0.01", "b1"),
        limit("buy", px, "0.000000001", "b2"),  # finer than lotSz
        {**limit("buy", px, "0.01", "b3"), "instIdCode": None, "instId": BTC},
    ]
    reply = await op(trader, "batch-orders", args, "bt1")
    assert reply["code"] == "2"
    assert [d["sCode"] for d in reply["data"]] == ["0", "51121", "0"]
    too_many = [limit("buy", px, "0.01", f"m{i}") for i in range(21)]
    assert (await op(trader, "batch-orders", too_many, "bt2"))["code"] == "60013"


async def test_duplicate_pending_clordid_refused(
    paused: OkxSimulator, trader: ClientConnection
) -> None:
    _, px, _ = best(paused, Side.BUY)
    assert (await op(trader, "order", [limit("buy", px, "0.01", "dup")], "o1"))["code"] == "0"
    reply = await op(trader, "order", [limit("buy", px, "0.01", "dup")], "o2")
    assert reply["code"] == "1"
    assert reply["data"][0]["sCode"] == "51016" and reply["data"][0]["sMsg"] == "Duplicated clOrdId"
    await op(trader, "cancel-order", [{"instIdCode": CODE, "clOrdId": "dup"}], "c1")
    assert (await op(trader, "order", [limit("buy", px, "0.01", "dup")], "o3"))["code"] == "0"


async def test_insufficient_balance() -> None:
    poor = AccountSpec(balances={"USDT": "100", "BTC": "0"})
    async with OkxSimulator(config(), accounts=[poor]) as sim, connect(sim.ws_private_url) as ws:
        await login(ws)
        _, px, _ = best(sim, Side.BUY)
        reply = await op(ws, "order", [limit("buy", px, "1", "poor1")], "o1")
        assert reply["code"] == "1" and reply["data"][0]["sCode"] == "51008"
        assert "USDT" in reply["data"][0]["sMsg"]
        sell = await op(ws, "order", [limit("sell", "99999", "0.01", "poor2")], "o2")
        assert sell["data"][0]["sCode"] == "51008"


async def test_post_only_fok_and_market(paused: OkxSimulator, trader: ClientConnection) -> None:
    _, ask, lots = best(paused, Side.SELL)
    await op(trader, "order", [limit("buy", ask, "0.01", "po1", "post_only")], "o1")
    po = (await recv_until(trader, order_push(lambda d: d["state"] == "canceled")))["data"][0]
    assert po["clOrdId"] == "po1" and po["cancelSource"] == "31" and po["accFillSz"] == "0"
    huge = paused.market.spec(BTC).size_str(lots + 1)  # more than rests at that price
    await op(trader, "order", [limit("buy", ask, huge, "fok1", "fok")], "o2")
    fok = (await recv_until(trader, order_push(lambda d: d["state"] == "canceled")))["data"][0]
    assert fok["clOrdId"] == "fok1" and fok["accFillSz"] == "0"
    market = {"instIdCode": CODE, "tdMode": "cash", "side": "buy", "ordType": "market"}
    await op(
        trader, "order", [{**market, "sz": "0.01", "tgtCcy": "base_ccy", "clOrdId": "mk"}], "o3"
    )
    filled = (await recv_until(trader, order_push(lambda d: d["state"] == "filled")))["data"][0]
    assert filled["clOrdId"] == "mk" and filled["accFillSz"] == "0.01"


async def test_amend_order(paused: OkxSimulator, trader: ClientConnection) -> None:
    ticks, _, _ = best(paused, Side.BUY)
    px = paused.market.spec(BTC).price_str(ticks - 50)
    await op(trader, "order", [limit("buy", px, "0.1", "am1")], "o1")
    reply = await op(
        trader, "amend-order", [{"instIdCode": CODE, "clOrdId": "am1", "newSz": "0.05"}], "a1"
    )
    assert reply["code"] == "0"
    push = (await recv_until(trader, order_push(lambda d: d["sz"] == "0.05")))["data"][0]
    assert push["state"] == "live"


async def test_injected_order_failure(paused: OkxSimulator, trader: ClientConnection) -> None:
    paused.faults.fail_orders(1, "error")
    _, px, _ = best(paused, Side.BUY)
    reply = await op(trader, "order", [limit("buy", px, "0.01", "f1")], "o1")
    assert reply["code"] == "50001" and reply["data"] == []
    assert (await op(trader, "order", [limit("buy", px, "0.01", "f1")], "o2"))["code"] == "0"


async def test_drop_private_closes_only_private(paused: OkxSimulator) -> None:
    async with connect(paused.ws_private_url) as priv, connect(paused.ws_public_url) as pub:
        await login(priv)
        await pub.send("ping")
        assert await pub.recv() == "pong"
        assert paused.faults.drop_private() == 1
        await wait_until(lambda: priv.state.name == "CLOSED", what="private connection dropped")
        await pub.send("ping")
        assert await pub.recv() == "pong"


# ---- REST --------------------------------------------------------------------------------


def rest_headers(
    method: str, path: str, body: str = "", secret: str = "sim-secret"
) -> dict[str, str]:
    now = datetime.now(UTC)
    ts = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return {
        "OK-ACCESS-KEY": SIM_CREDENTIALS.api_key,
        "OK-ACCESS-SIGN": _sign(secret, ts + method + path + body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": SIM_CREDENTIALS.passphrase,
        "Content-Type": "application/json",
        "x-simulated-trading": "1",
    }


async def test_rest_order_query_and_balance(paused: OkxSimulator) -> None:
    _, px, _ = best(paused, Side.BUY)
    body = json.dumps({**limit("buy", px, "0.01", "r1"), "instIdCode": None, "instId": BTC})
    url = paused.rest_url
    async with aiohttp.ClientSession() as http:
        path = "/api/v5/trade/order"
        async with http.post(url + path, data=body, headers=rest_headers("POST", path, body)) as r:
            assert r.status == 200
            reply = await r.json()
        assert reply["code"] == "0" and reply["data"][0]["sCode"] == "0"
        ord_id = reply["data"][0]["ordId"]
        path = f"/api/v5/trade/order?instId={BTC}&clOrdId=r1"
        async with http.get(url + path, headers=rest_headers("GET", path)) as r:
            order = (await r.json())["data"][0]
        assert order["ordId"] == ord_id and order["state"] == "live"
        path = "/api/v5/trade/orders-pending?instType=SPOT"
        async with http.get(url + path, headers=rest_headers("GET", path)) as r:
            assert [o["clOrdId"] for o in (await r.json())["data"]] == ["r1"]
        path = "/api/v5/account/balance"
        async with http.get(url + path, headers=rest_headers("GET", path)) as r:
            details = {d["ccy"]: d for d in (await r.json())["data"][0]["details"]}
        frozen = Decimal(px) * Decimal("0.01")  # the buyer's fee comes out of the base
        assert Decimal(details["USDT"]["frozenBal"]) == frozen
        assert Decimal(details["USDT"]["availBal"]) == Decimal(100000) - frozen


async def test_rest_wrong_signature_and_missing_headers(sim: OkxSimulator) -> None:
    path = "/api/v5/account/balance"
    async with aiohttp.ClientSession() as http:
        bad = rest_headers("GET", path, secret="wrong")
        async with http.get(sim.rest_url + path, headers=bad) as r:
            assert r.status == 401
            assert (await r.json())["code"] == "50113"
        headers = rest_headers("GET", path)
        del headers["OK-ACCESS-KEY"]
        async with http.get(sim.rest_url + path, headers=headers) as r:
            reply = await r.json()
            assert r.status == 401 and reply["code"] == "50103" and "OK-ACCESS-KEY" in reply["msg"]
        signed_for_other_path = rest_headers("GET", "/api/v5/trade/orders-pending")
        async with http.get(sim.rest_url + path, headers=signed_for_other_path) as r:
            assert r.status == 401
