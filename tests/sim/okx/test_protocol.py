"""The OKX simulator over real WebSocket and HTTP clients, checked against PROTOCOLS.md A."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from desk.sim.okx.simulator import OkxSimulator, okx_checksum
from tests.sim.okx.client import (
    BTC,
    ETH,
    apply,
    config,
    is_level,
    on,
    ordered,
    recv,
    recv_json,
    recv_until,
    subscribe,
)

# ---- keepalive, acks and errors -----------------------------------------------------------


async def test_text_ping_gets_text_pong(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await ws.send("ping")
        assert await recv(ws) == "pong"


async def test_subscribe_acks_each_arg_with_id_and_conn_id(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        acks = await subscribe(ws, ("trades", BTC), ("tickers", ETH), req_id="1512")
        assert [list(a) for a in acks] == [["id", "event", "arg", "connId"]] * 2
        assert acks[0]["arg"] == {"channel": "trades", "instId": BTC}
        assert acks[1]["arg"] == {"channel": "tickers", "instId": ETH}
        assert all(a["id"] == "1512" and a["event"] == "subscribe" for a in acks)
        assert re.fullmatch(r"[0-9a-f]{8}", acks[0]["connId"])
        assert acks[0]["connId"] == acks[1]["connId"]
        await ws.send(
            json.dumps({"op": "unsubscribe", "args": [{"channel": "trades", "instId": BTC}]})
        )
        unsub = await recv_until(ws, lambda m: m.get("event") == "unsubscribe")
        assert unsub == {
            "event": "unsubscribe",
            "arg": {"channel": "trades", "instId": BTC},
            "connId": acks[0]["connId"],
        }


async def test_each_connection_gets_its_own_conn_id(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as a, connect(sim.ws_public_url) as b:
        ids = [(await subscribe(ws, ("trades", BTC)))[0]["connId"] for ws in (a, b)]
        assert ids[0] != ids[1]


@pytest.mark.parametrize(
    ("request_text", "code"),
    [
        ("{not json", "60012"),
        ('{"args": [{"channel": "books", "instId": "BTC-USDT"}]}', "60012"),
        ('{"op": "subscribe", "argss": [{"channel": "books", "instId": "BTC-USDT"}]}', "60012"),
        ('{"op": "subscribe", "args": []}', "60012"),
        ('{"op": "fly", "args": [{"channel": "books", "instId": "BTC-USDT"}]}', "60019"),
        ('{"op": "subscribe", "args": [{"instId": "BTC-USDT"}]}', "60013"),
        ('{"op": "subscribe", "args": [{"channel": "books"}]}', "60013"),
        ('{"op": "subscribe", "args": [{"channel": "bookz", "instId": "BTC-USDT"}]}', "60018"),
        ('{"op": "subscribe", "args": [{"channel": "books", "instId": "NOPE-USDT"}]}', "60018"),
        ('{"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}', "60018"),
        ('{"op": "subscribe", "args": [{"channel": "trades-all", "instId": "BTC-USDT"}]}', "60018"),
        (
            '{"op": "subscribe", "args": [{"channel": "books-l2-tbt", "instId": "BTC-USDT"}]}',
            "64003",
        ),
    ],
)
async def test_bad_requests_get_okx_errors(sim: OkxSimulator, request_text: str, code: str) -> None:
    async with connect(sim.ws_public_url) as ws:
        await ws.send(request_text)
        err = await recv_json(ws)
        assert list(err) == ["event", "code", "msg", "connId"]
        assert err["event"] == "error" and err["code"] == code and err["msg"]
        if code == "60012":
            assert err["msg"] == f"Invalid request: {request_text}"


async def test_error_echoes_the_request_id_and_subscribes_nothing(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        req = {
            "id": "77",
            "op": "subscribe",
            "args": [{"channel": "tickers", "instId": BTC}, {"channel": "x", "instId": BTC}],
        }
        await ws.send(json.dumps(req))
        err = await recv_json(ws)
        assert err["id"] == "77" and err["code"] == "60018"
        assert err["msg"].startswith("Wrong URL or channel:x,instId:BTC-USDT doesn't exist.")
        await ws.send("ping")
        assert await recv(ws) == "pong", "nothing else (no ack, no ticker) may come first"


async def test_books_on_the_business_url_is_60018(sim: OkxSimulator) -> None:
    async with connect(sim.ws_business_url) as ws:
        await ws.send(
            json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": BTC}]})
        )
        assert (await recv_json(ws))["code"] == "60018"


async def test_silent_connection_is_closed_with_4004() -> None:
    async with OkxSimulator(config(silence_timeout=0.3)) as sim, connect(sim.ws_public_url) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4004


async def test_subscribed_connection_stays_open_while_data_flows() -> None:
    async with OkxSimulator(config(silence_timeout=0.3)) as sim, connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        before = sim.market.steps
        while sim.market.steps < before + 200:  # well past the silence timeout
            msg = await recv_json(ws)
            assert msg.get("event") != "error"
        assert sim.connections == 1


# ---- books ----------------------------------------------------------------------------------


async def test_books_snapshot_then_chained_updates_rebuild_the_published_book(
    sim: OkxSimulator,
) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        snap = await recv_until(ws, on("books"))
        assert list(snap) == ["arg", "action", "data"] and snap["action"] == "snapshot"
        data = snap["data"][0]
        assert list(data) == ["asks", "bids", "ts", "checksum", "prevSeqId", "seqId"]
        assert data["prevSeqId"] == -1 and isinstance(data["seqId"], int)
        assert isinstance(data["ts"], str) and data["ts"].isdigit()
        assert all(is_level(lv) for lv in data["asks"] + data["bids"])
        assert 50 <= len(data["bids"]) <= 400
        book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
        apply(book, data)
        last, steps = data["seqId"], []
        for _ in range(30):
            upd = await recv_until(ws, on("books"))
            assert upd["action"] == "update"
            d = upd["data"][0]
            assert d["prevSeqId"] == last and d["seqId"] > last
            steps.append(d["seqId"] - last)
            last = d["seqId"]
            apply(book, d)
            assert d["checksum"] == okx_checksum(*ordered(book))
        assert max(steps) <= 90 and len(set(steps)) > 1, "seqIds step irregularly by 1..90"
        sim.pause()
        while last != sim.last_seq_id(BTC):
            d = (await recv_until(ws, on("books")))["data"][0]
            assert d["prevSeqId"] == last
            apply(book, d)
            last = d["seqId"]
        assert ordered(book) == tuple(sim.published_book(BTC))


async def test_update_levels_are_changed_levels_only_best_first(paused: OkxSimulator) -> None:
    async with connect(paused.ws_public_url) as ws:
        await subscribe(ws, ("books", ETH))
        await recv_until(ws, on("books", ETH))
        paused.step_market(3)
        paused.publish()
        d = (await recv_until(ws, on("books", ETH)))["data"][0]
        assert 0 < len(d["asks"]) + len(d["bids"]) < 60
        assert [float(p) for p, *_ in d["asks"]] == sorted(float(p) for p, *_ in d["asks"])
        assert [float(p) for p, *_ in d["bids"]] == sorted(
            (float(p) for p, *_ in d["bids"]), reverse=True
        )
        for px, sz, zero, n in d["asks"] + d["bids"]:
            assert zero == "0" and (sz == "0") == (n == "0")
            assert (
                "e" not in px + sz
                and not px.endswith(".")
                and (px == "0" or px[-1] != "0" or "." not in px)
            )


async def test_checksum_is_zero_when_disabled() -> None:
    async with OkxSimulator(config(checksum=False)) as sim, connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books", BTC))
        for _ in range(3):
            assert (await recv_until(ws, on("books")))["data"][0]["checksum"] == 0


async def test_idle_book_sends_heartbeats_with_equal_seq_ids() -> None:
    sim = OkxSimulator(config(update_interval=0.02), heartbeat_interval=0.2)
    async with sim, connect(sim.ws_public_url) as ws:
        sim.pause()
        await subscribe(ws, ("books", BTC))
        hb = await recv_until(
            ws, lambda m: on("books")(m) and not m["data"][0]["asks"] and not m["data"][0]["bids"]
        )
        d = hb["data"][0]
        assert hb["action"] == "update"
        assert d["seqId"] == d["prevSeqId"] == sim.last_seq_id(BTC)


async def test_seq_ids_are_shared_across_connections(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as a, connect(sim.ws_public_url) as b:
        await subscribe(a, ("books", BTC))
        await subscribe(b, ("books", BTC))
        snap_a = (await recv_until(a, on("books")))["data"][0]["seqId"]
        snap_b = (await recv_until(b, on("books")))["data"][0]["seqId"]
        target = max(snap_a, snap_b) + 1

        async def seqs(ws: ClientConnection) -> list[int]:
            out: list[int] = []
            while len(out) < 5:
                d = (await recv_until(ws, on("books")))["data"][0]
                if d["seqId"] >= target:
                    out.append(d["seqId"])
            return out

        assert await seqs(a) == await seqs(b)


async def test_books5_bbo_and_tickers_shapes(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("books5", BTC), ("bbo-tbt", BTC), ("tickers", BTC))
        b5 = await recv_until(ws, on("books5"))
        assert list(b5) == ["arg", "data"]
        assert list(b5["data"][0]) == ["asks", "bids", "instId", "ts", "seqId"]
        assert b5["data"][0]["instId"] == BTC and len(b5["data"][0]["asks"]) == 5
        assert all(is_level(lv) for lv in b5["data"][0]["asks"] + b5["data"][0]["bids"])
        bbo = await recv_until(ws, on("bbo-tbt"))
        assert list(bbo) == ["arg", "data"]
        assert list(bbo["data"][0]) == ["asks", "bids", "ts", "seqId"]
        assert len(bbo["data"][0]["asks"]) == len(bbo["data"][0]["bids"]) == 1
        tick = (await recv_until(ws, on("tickers")))["data"][0]
        assert list(tick) == [
            "instType", "instId", "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz",
            "open24h", "high24h", "low24h", "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts",
        ]  # fmt: skip
        assert all(isinstance(v, str) for v in tick.values())
        assert float(tick["bidPx"]) < float(tick["askPx"])
        assert float(tick["low24h"]) <= float(tick["last"]) <= float(tick["high24h"])


async def test_trades_match_okx_shape_and_published_trades(sim: OkxSimulator) -> None:
    async with connect(sim.ws_public_url) as ws:
        await subscribe(ws, ("trades", BTC))
        got = [await recv_until(ws, on("trades")) for _ in range(5)]
    for msg in got:
        assert list(msg) == ["arg", "data"] and len(msg["data"]) == 1
        t = msg["data"][0]
        assert list(t) == [
            "instId", "tradeId", "px", "sz", "side", "ts", "count", "source", "seqId",
        ]  # fmt: skip
        assert t["side"] in ("buy", "sell") and t["source"] == "0"
        assert t["tradeId"].isdigit() and t["count"].isdigit() and int(t["count"]) >= 1
        assert isinstance(t["seqId"], int) and float(t["sz"]) > 0
    entries = [m["data"][0] for m in got]
    published = sim.published_trades(BTC)
    start = published.index(entries[0])
    assert published[start : start + 5] == entries
    for prev, cur in itertools.pairwise(entries):
        assert int(cur["tradeId"]) - int(cur["count"]) == int(prev["tradeId"])
        assert cur["seqId"] > prev["seqId"]


async def test_business_candles_stream_rows_of_nine_strings(sim: OkxSimulator) -> None:
    async with connect(sim.ws_business_url) as ws:
        await ws.send(
            json.dumps(
                {
                    "op": "subscribe",
                    "args": [
                        {"channel": "candle1m", "instId": BTC},
                        {"channel": "trades-all", "instId": BTC},
                    ],
                }
            )
        )
        row = (await recv_until(ws, on("candle1m")))["data"][0]
        assert len(row) == 9 and all(isinstance(x, str) for x in row)
        assert int(row[0]) % 60_000 == 0 and row[8] in ("0", "1")
        assert float(row[3]) <= float(row[1]) <= float(row[2])
        trade = (await recv_until(ws, on("trades-all")))["data"][0]
        assert list(trade) == ["instId", "tradeId", "px", "sz", "side", "source", "ts"]


async def test_permessage_deflate_works_when_enabled() -> None:
    sim = OkxSimulator(config(), compress=True)
    async with sim, connect(sim.ws_public_url, compression="deflate") as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await subscribe(ws, ("books", BTC))
        snap = (await recv_until(ws, on("books")))["data"][0]
        upd = (await recv_until(ws, on("books")))["data"][0]
        assert upd["prevSeqId"] == snap["seqId"]


@pytest.mark.parametrize(
    ("bids", "asks", "expected"),
    [
        ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")], -1881014294),
        ([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")], 831078360),
    ],
)
def test_checksum_matches_the_documented_vectors(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], expected: int
) -> None:
    assert okx_checksum(bids, asks) == expected
