"""The simulator's OKX REST endpoints, and their agreement with the WebSocket book stream."""

from __future__ import annotations

import json

import aiohttp
import pytest
from websockets.asyncio.client import connect

from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import (
    BTC,
    ETH,
    Msg,
    apply,
    config,
    is_level,
    on,
    ordered,
    recv_until,
    subscribe,
)


async def get(sim: OkxSimulator, path: str) -> tuple[int, Msg]:
    async with aiohttp.ClientSession() as session, session.get(sim.rest_url + path) as resp:
        return resp.status, json.loads(await resp.text())


async def test_rest_instruments_have_the_okx_fields(sim: OkxSimulator) -> None:
    status, body = await get(sim, "/api/v5/public/instruments?instType=SPOT")
    assert status == 200 and body["code"] == "0" and body["msg"] == ""
    assert [r["instId"] for r in body["data"]] == [BTC, ETH, "SOL-USDT"]
    btc = body["data"][0]
    assert isinstance(btc.pop("instIdCode"), int) and btc.pop("upcChg") == []
    assert all(isinstance(v, str) for v in btc.values())
    assert (btc["tickSz"], btc["lotSz"], btc["minSz"]) == ("0.1", "0.00000001", "0.00001")
    assert (btc["baseCcy"], btc["quoteCcy"], btc["state"]) == ("BTC", "USDT", "live")
    _, one = await get(sim, "/api/v5/public/instruments?instType=SPOT&instId=ETH-USDT")
    assert [r["instId"] for r in one["data"]] == [ETH]
    _, swaps = await get(sim, "/api/v5/public/instruments?instType=SWAP")
    assert swaps == {"code": "0", "msg": "", "data": []}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v5/public/instruments", 400, "50014"),
        ("/api/v5/public/instruments?instType=BOND", 400, "51000"),
        ("/api/v5/public/instruments?instType=SPOT&instId=NOPE-USDT", 200, "51001"),
        ("/api/v5/market/books", 400, "50014"),
        ("/api/v5/market/books?instId=NOPE-USDT", 200, "51001"),
        ("/api/v5/market/books?instId=BTC-USDT&sz=401", 400, "51000"),
    ],
)
async def test_rest_errors_use_the_okx_envelope(
    sim: OkxSimulator, path: str, status: int, code: str
) -> None:
    got_status, body = await get(sim, path)
    assert got_status == status
    assert list(body) == ["code", "msg", "data"] and body["code"] == code and body["data"] == []
    if code == "51001":
        assert body["msg"] == "Instrument ID does not exist"


async def test_rest_time(sim: OkxSimulator) -> None:
    _, body = await get(sim, "/api/v5/public/time")
    assert body["code"] == "0" and body["data"][0]["ts"].isdigit()


async def test_rest_book_is_the_last_pushed_book_with_its_seq_id(paused: OkxSimulator) -> None:
    paused.step_market(20)
    paused.publish()
    paused.step_market(20)  # moves the engine but is not published yet
    _, body = await get(paused, "/api/v5/market/books?instId=BTC-USDT&sz=400")
    data = body["data"][0]
    assert list(data) == ["asks", "bids", "ts", "seqId"]
    assert data["seqId"] == paused.last_seq_id(BTC)
    bids, asks = paused.published_book(BTC)
    assert [tuple(lv[:2]) for lv in data["bids"]] == bids
    assert [tuple(lv[:2]) for lv in data["asks"]] == asks
    assert all(is_level(lv) for lv in data["bids"] + data["asks"])
    _, top = await get(paused, "/api/v5/market/books?instId=BTC-USDT")
    assert len(top["data"][0]["bids"]) == len(top["data"][0]["asks"]) == 1


async def test_rest_book_agrees_with_the_ws_stream(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        snap = (await recv_until(ws, on("books", ETH)))["data"][0]
        book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
        apply(book, snap)
        last = snap["seqId"]
        sim.pause()
        while last != sim.last_seq_id(ETH):
            d = (await recv_until(ws, on("books", ETH)))["data"][0]
            apply(book, d)
            last = d["seqId"]
        _, body = await get(sim, "/api/v5/market/books?instId=ETH-USDT&sz=400")
        rest = body["data"][0]
        assert rest["seqId"] == last
        assert ordered(book) == (
            [tuple(lv[:2]) for lv in rest["bids"]],
            [tuple(lv[:2]) for lv in rest["asks"]],
        )


async def test_without_snapshots_clients_bootstrap_from_rest() -> None:
    sim = OkxSimulator(config(), send_book_snapshot=False)
    async with sim, connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        first = await recv_until(ws, on("books"))
        assert first["action"] == "update", "no snapshot may be sent"
        buffered = [first["data"][0]]
        _, body = await get(sim, "/api/v5/market/books?instId=BTC-USDT&sz=400")
        rest = body["data"][0]
        while buffered[-1]["seqId"] <= rest["seqId"]:
            buffered.append((await recv_until(ws, on("books")))["data"][0])
        kept = [d for d in buffered if d["seqId"] > rest["seqId"]]
        assert kept[0]["prevSeqId"] <= rest["seqId"] < kept[0]["seqId"]
        book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
        apply(book, {"bids": rest["bids"], "asks": rest["asks"]})
        for d in kept:
            apply(book, d)
        last = kept[-1]["seqId"]
        sim.pause()
        while last != sim.last_seq_id(BTC):
            d = (await recv_until(ws, on("books")))["data"][0]
            assert d["prevSeqId"] == last
            apply(book, d)
            last = d["seqId"]
        assert ordered(book) == tuple(sim.published_book(BTC))
