"""The simulated Binance streams seen from plain WebSocket clients (PROTOCOLS.md B, E)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from websockets.exceptions import InvalidStatus

from desk.sim.binance.simulator import BinanceSimulator
from tests.sim.binance.client import (
    BTC,
    ETH,
    apply,
    config,
    event,
    is_wire_decimal,
    load,
    on,
    open_ws,
    ordered,
    recv,
    recv_json,
    recv_until,
    request,
)


async def test_combined_streams_wrap_each_event_with_its_stream_name(sim: BinanceSimulator) -> None:
    url = f"{sim.ws_url}/stream?streams=btcusdt@trade/btcusdt@depth@100ms/ethusdt@bookTicker"
    async with open_ws(url) as ws:
        trade = await recv_until(ws, on("btcusdt@trade"))
        data = trade["data"]
        assert list(data) == ["e", "E", "s", "t", "p", "q", "T", "m", "M"]
        assert (data["e"], data["s"]) == ("trade", BTC)
        assert is_wire_decimal(data["p"]) and is_wire_decimal(data["q"])
        assert isinstance(data["t"], int) and isinstance(data["m"], bool)
        diff = (await recv_until(ws, on("btcusdt@depth@100ms")))["data"]
        assert list(diff) == ["e", "E", "s", "U", "u", "b", "a"]
        assert diff["U"] <= diff["u"]
        ticker = (await recv_until(ws, on("ethusdt@bookTicker")))["data"]
        assert list(ticker) == ["u", "s", "b", "B", "a", "A"] and ticker["s"] == ETH


async def test_a_raw_stream_sends_bare_payloads(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@aggTrade") as ws:
        agg = await recv_until(ws, event("aggTrade"))
        assert "stream" not in agg
        assert agg["f"] <= agg["l"] and isinstance(agg["a"], int)


async def test_diff_depth_chains_update_ids(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        last = (await recv_until(ws, event("depthUpdate")))["u"]
        for _ in range(10):
            diff = await recv_until(ws, event("depthUpdate"))
            assert diff["U"] == last + 1, "each event starts right after the previous one"
            last = diff["u"]


async def test_the_local_book_procedure_rebuilds_the_simulators_book(
    sim: BinanceSimulator,
) -> None:
    """B.3 by hand: buffer, REST snapshot, drop u <= lastUpdateId, the first straddles."""
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        buffered = [await recv_until(ws, event("depthUpdate"))]
        async with aiohttp.ClientSession() as http:
            url = f"{sim.rest_url}/api/v3/depth?symbol={BTC}&limit=5000"
            async with http.get(url) as reply:
                snapshot = await reply.json()
        last_id = snapshot["lastUpdateId"]
        assert last_id >= buffered[0]["U"] - 1
        book = load(snapshot)
        while True:
            buffered.append(await recv_until(ws, event("depthUpdate")))
            if buffered[-1]["u"] > last_id:
                break
        kept = [d for d in buffered if d["u"] > last_id]
        assert kept[0]["U"] <= last_id + 1 <= kept[0]["u"], "the first kept event straddles"
        for d in kept:
            apply(book, d)
        local = kept[-1]["u"]
        sim.pause()
        while local != sim.last_update_id(BTC):
            d = await recv_until(ws, event("depthUpdate"))
            assert d["U"] == local + 1
            apply(book, d)
            local = d["u"]
        assert ordered(book) == sim.book(BTC)


async def test_subscribe_list_and_unsubscribe(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws") as ws:
        reply = await request(ws, "SUBSCRIBE", ["btcusdt@trade", "ethusdt@depth"], 1)
        assert reply == {"result": None, "id": 1}
        await recv_until(ws, event("trade"))
        listed = await request(ws, "LIST_SUBSCRIPTIONS", None, 3)
        assert listed == {"result": ["btcusdt@trade", "ethusdt@depth"], "id": 3}
        assert await request(ws, "UNSUBSCRIBE", ["btcusdt@trade"], "x7") == {
            "result": None,
            "id": "x7",
        }
        assert (await request(ws, "LIST_SUBSCRIPTIONS", None, 4))["result"] == ["ethusdt@depth"]


async def test_set_property_combined_wraps_what_follows(sim: BinanceSimulator) -> None:
    async with open_ws(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
        assert await request(ws, "GET_PROPERTY", ["combined"], 1) == {"result": False, "id": 1}
        assert await request(ws, "SET_PROPERTY", ["combined", True], 2) == {
            "result": None,
            "id": 2,
        }
        await recv_until(ws, on("btcusdt@trade"))
        assert (await request(ws, "GET_PROPERTY", ["combined"], 3))["result"] is True


@pytest.mark.parametrize(
    ("text", "code", "has_id"),
    [
        ("SUBSCRIBE me", 3, False),
        ('["SUBSCRIBE"]', 2, False),
        ('{"method":"SUBSCRIBE","params":["btcusdt@trades"],"id":5}', 2, True),
        ('{"method":"SUBSCRIBE","params":["dogeusdt@trade"],"id":5}', 2, True),
        ('{"method":"FLY","params":[],"id":5}', 2, True),
        ('{"method":"SUBSCRIBE","params":"btcusdt@trade","id":5}', 2, True),
        ('{"method":"SUBSCRIBE","params":[],"id":-1}', 2, False),
        ('{"method":"SUBSCRIBE","params":[],"id":"has space"}', 2, False),
        ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":5}', 1, True),
        ('{"method":"SET_PROPERTY","params":["colour",true],"id":5}', 0, True),
    ],
)
async def test_a_bad_request_gets_an_error_and_changes_nothing(
    sim: BinanceSimulator, text: str, code: int, has_id: bool
) -> None:
    async with open_ws(f"{sim.ws_url}/ws") as ws:
        await ws.send(text)
        reply = await recv_json(ws)
        assert reply["code"] == code and isinstance(reply["msg"], str)
        assert ("id" in reply) is has_id
        assert (await request(ws, "LIST_SUBSCRIPTIONS", None, 9))["result"] == []


async def test_more_streams_than_allowed_are_refused() -> None:
    async with BinanceSimulator(config(), max_streams=2) as sim, open_ws(f"{sim.ws_url}/ws") as ws:
        streams = ["btcusdt@trade", "btcusdt@bookTicker", "ethusdt@trade"]
        reply = await request(ws, "SUBSCRIBE", streams, 1)
        assert reply["code"] == 2 and "at most 2 streams" in reply["msg"]


async def test_an_unknown_stream_in_the_url_refuses_the_handshake(sim: BinanceSimulator) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with open_ws(f"{sim.ws_url}/stream?streams=dogeusdt@trade"):
            pass
    assert info.value.response.status_code == 400


async def close_code(
    ws: aiohttp.ClientWebSocketResponse,
) -> tuple[int, set[aiohttp.WSMsgType], list[str]]:
    """Read until the server closes: its close code, the frame types and the texts seen."""
    kinds: set[aiohttp.WSMsgType] = set()
    texts: list[str] = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), 10)
        kinds.add(msg.type)
        if msg.type is aiohttp.WSMsgType.TEXT:
            texts.append(msg.data)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            return msg.data, kinds, texts
        assert msg.type not in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR), "no close"


async def test_server_pings_are_answered_and_keep_the_connection() -> None:
    async with (
        BinanceSimulator(config(), ping_interval=0.3, pong_timeout=1.0) as sim,
        open_ws(f"{sim.ws_url}/ws/btcusdt@bookTicker") as ws,
    ):
        deadline = asyncio.get_running_loop().time() + 20
        while sim.pongs_received < 3:
            await recv(ws)  # websockets answers pings on its own
            assert asyncio.get_running_loop().time() < deadline, "no pongs arrived"
        assert sim.closed_for_pong == 0 and sim.connections == 1


async def test_a_client_that_never_pongs_is_disconnected() -> None:
    async with (
        BinanceSimulator(config(), ping_interval=0.2, pong_timeout=0.5) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/ws/btcusdt@bookTicker", autoping=False) as ws,
    ):
        code, kinds, _ = await close_code(ws)
        assert aiohttp.WSMsgType.PING in kinds
        assert code == 1008
        assert sim.closed_for_pong == 1


async def test_more_than_five_messages_a_second_disconnect(sim: BinanceSimulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws") as ws:
        for n in range(8):
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
        code, _, texts = await close_code(ws)
        assert code == 1008 and len(texts) == 5, "five replies, then the door"
        assert sim.closed_for_rate == 1


async def test_an_old_connection_is_told_to_go_and_closed() -> None:
    async with (
        BinanceSimulator(config(), max_connection_age=0.3, shutdown_grace=0.2) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@bookTicker") as ws,
    ):
        code, _, texts = await close_code(ws)
        (shutdown,) = [json.loads(t) for t in texts if "!serverShutdown" in t]
        assert shutdown["stream"] == "!serverShutdown"
        assert shutdown["data"]["e"] == "serverShutdown"
        assert code == 1001
