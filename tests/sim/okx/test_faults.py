"""Faults, slow consumers, firehose, determinism and the server wrapper, seen from real clients."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from desk.sim.okx.simulator import OkxSimulator, okx_checksum
from desk.sim.server import SimServer, serve
from tests.sim.okx.client import (
    BTC,
    ETH,
    TIMEOUT,
    apply,
    config,
    on,
    ordered,
    recv,
    recv_until,
    subscribe,
)


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the connection closes; the close code received (None: no close frame)."""
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(_drain(ws), TIMEOUT)
    return info.value.rcvd.code if info.value.rcvd is not None else None


async def _drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


# Firehose tests read with an unbounded client queue: with websockets' default (16 frames) a
# client that stops calling recv() also stops reading the socket, so its own close handshake
# waits behind unread pushes until close_timeout.


async def raw_frames(ws: ClientConnection, n: int) -> list[str]:
    return [await recv(ws) for _ in range(n)]


async def test_drop_connections_closes_without_a_close_frame(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("trades", BTC))
        assert sim.faults.drop_connections() == 1
        assert await closed_code(ws) is None
    async with connect(sim.ws_public_url) as again:
        await again.send("ping")
        assert await recv(again) == "pong"


async def test_stall_sends_nothing_not_even_pongs_then_resumes(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await ws.send("ping")
        assert await recv(ws) == "pong"
        sim.faults.stall(1.5)
        await ws.send("ping")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        assert await recv(ws) == "pong", "what queued up goes out after the stall"


async def test_sequence_gap_breaks_the_chain_once(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        last = (await recv_until(ws, on("books")))["data"][0]["seqId"]
        sim.faults.sequence_gap(BTC)
        breaks = 0
        for _ in range(10):
            d = (await recv_until(ws, on("books")))["data"][0]
            breaks += d["prevSeqId"] != last
            last = d["seqId"]
        assert breaks == 1


async def test_bad_checksum_hits_the_next_update_only(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
        apply(book, (await recv_until(ws, on("books", ETH)))["data"][0])
        sim.faults.bad_checksum(ETH)
        wrong = 0
        for _ in range(8):
            d = (await recv_until(ws, on("books", ETH)))["data"][0]
            apply(book, d)
            wrong += d["checksum"] != okx_checksum(*ordered(book))
        assert wrong == 1


async def test_malformed_and_truncated_frames_are_not_json(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("tickers", BTC))
        ticker = await recv(ws)
        sim.pause()
        sim.faults.malformed_frame()
        sim.faults.truncated_frame()
        bad = [f for f in await raw_frames(ws, 2)]
        for frame in bad:
            with pytest.raises(json.JSONDecodeError):
                json.loads(frame)
        assert ticker.startswith(bad[1]) and len(bad[1]) < len(ticker)
        await ws.send("ping")
        assert await recv(ws) == "pong", "the connection stays usable"


async def test_duplicate_trades_resends_the_last_trades_push(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("trades", BTC))
        first = await recv_until(ws, on("trades"))
        sim.pause()
        sim.publish()
        latest = sim.published_trades(BTC)[-1]
        while first["data"][0] != latest:
            first = await recv_until(ws, on("trades"))
        assert sim.faults.duplicate_trades(BTC)
        again = await recv_until(ws, on("trades"))
        assert again == first


async def test_maintenance_notice_then_close(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        ack = (await subscribe(ws, ("tickers", BTC)))[0]
        sim.faults.maintenance_notice(close_after=0.2)
        notice = await recv_until(ws, lambda m: m.get("event") == "notice")
        assert notice == {
            "event": "notice",
            "code": "64008",
            "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
            "connId": ack["connId"],
        }
        assert await closed_code(ws) == 1001


async def test_queue_overflow_closes_with_4005() -> None:
    sim = OkxSimulator(config(update_interval=0.01), max_queue=20)
    async with sim, connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC), ("bbo-tbt", BTC), ("trades", BTC))
        sim.faults.stall(30)
        assert await closed_code(ws) == 4005


async def test_a_consumer_that_never_reads_is_cut_off_and_others_keep_flowing() -> None:
    sim = OkxSimulator(
        config(steps_per_second=5000), firehose=True, max_queue=200, send_buffer=8192
    )
    async with sim:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
        sock.connect(("127.0.0.1", sim.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(
            b"GET /ws/v5/public HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        sub = {"op": "subscribe", "args": [{"channel": "books", "instId": BTC}]}
        writer.write(_masked_text(json.dumps(sub).encode()))
        async with connect(sim.ws_public_url, max_queue=None) as good:
            await subscribe(good, ("trades", ETH))
            while sim.connections != 1:  # the silent reader gets closed, the good one stays
                await recv_until(good, on("trades", ETH))
            await recv_until(good, on("trades", ETH))
        writer.close()


def _masked_text(payload: bytes) -> bytes:
    """A client text frame (clients must mask; a zero mask keeps the payload as is)."""
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


async def test_clients_vanishing_mid_stream_do_not_hurt_the_server() -> None:
    sim = OkxSimulator(config(steps_per_second=3000), firehose=True)
    async with sim:
        for _ in range(5):
            ws = await connect(sim.ws_public_url, max_queue=None)
            await subscribe(ws, ("books", BTC), ("trades", BTC), ("bbo-tbt", ETH))
            await recv_until(ws, on("books"))
            ws.transport.abort()  # type: ignore[attr-defined]
        async with connect(sim.ws_public_url, max_queue=None) as ws:
            await subscribe(ws, ("books", ETH))
            await recv_until(ws, on("books", ETH))


async def test_firehose_pushes_every_step_with_an_unbroken_chain() -> None:
    sim = OkxSimulator(config(steps_per_second=2000), firehose=True)
    async with sim, connect(sim.ws_public_url, max_queue=None) as ws:
        await subscribe(ws, ("books", BTC))
        snap = (await recv_until(ws, on("books")))["data"][0]
        steps, pushes = sim.market.steps, sim.hub.pushes.get("books", 0)
        book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
        apply(book, snap)
        last = snap["seqId"]
        for _ in range(300):
            d = (await recv_until(ws, on("books")))["data"][0]
            assert d["prevSeqId"] == last
            apply(book, d)
            last = d["seqId"]
            assert d["checksum"] == okx_checksum(*ordered(book))
        sim.pause()
        steps, pushes = sim.market.steps - steps, sim.hub.pushes["books"] - pushes
        assert 0.9 * steps <= pushes <= steps, "one books push per step that changed the book"


async def test_same_seed_gives_the_same_stream(sim: OkxSimulator) -> None:
    async def run() -> tuple[Any, ...]:
        async with OkxSimulator(config(seed=99, update_interval=3600)) as s:
            s.pause()
            for _ in range(5):
                s.step_market(40)
                s.publish()
            trades = [{k: v for k, v in t.items() if k != "ts"} for t in s.published_trades(BTC)]
            return s.published_book(BTC), s.last_seq_id(BTC), trades

    first, second = await run(), await run()
    assert first == second and first[2]


async def test_faults_over_http(sim: OkxSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{sim.rest_url}/sim/faults"
        async with http.post(f"{url}/sequence_gap", json={"inst_id": BTC}) as resp:
            assert resp.status == 200 and await resp.json() == {"ok": True}
        assert sim.streams[BTC].gap_pending
        async with http.post(f"{url}/malformed_frame") as resp:
            assert resp.status == 200
        for name, body in [
            ("explode", {}),
            ("stall", {"secs": 1}),
            ("bad_checksum", {"inst_id": "X"}),
        ]:
            async with http.post(f"{url}/{name}", json=body) as resp:
                assert resp.status == 400
                reply = await resp.json()
                assert reply["ok"] is False and reply["error"]
    assert sim.stats()["faults"] == {"sequence_gap": 1, "malformed_frame": 1}


async def test_sim_server_start_stop_and_urls() -> None:
    server = SimServer(config())
    urls = await server.start()
    try:
        assert set(urls) == {"ws_public", "ws_business", "rest"}
        assert urls["ws_public"].startswith("ws://127.0.0.1:") and urls["ws_public"].endswith(
            "/ws/v5/public"
        )
        async with connect(urls["ws_public"]) as ws:
            await ws.send("ping")
            assert await recv(ws) == "pong"
    finally:
        await server.stop()


async def test_serve_runs_until_cancelled() -> None:
    ready: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config(), ready=ready.set_result))
    urls = await asyncio.wait_for(ready, TIMEOUT)
    async with aiohttp.ClientSession() as http, http.get(urls["rest"] + "/api/v5/public/time") as r:
        assert r.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
