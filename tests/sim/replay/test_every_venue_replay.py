"""Replay of every recorded venue: an engine with OKX, Binance and Coinbase on their simulators
records (desk's recorder); the same engine on ``with_replay`` of that recording serves each
venue through its own wire protocol, and the unchanged Binance and Coinbase feeds rebuild the
books the live feeds had, with no gap and no resync, twice the same."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect

from desk.config import parse_config, with_replay
from desk.engine.engine import Engine
from desk.sim.replay.binance_frames import load_binance
from desk.sim.replay.binance_server import BinanceReplayServer
from desk.sim.replay.coinbase_frames import load_coinbase
from desk.sim.replay.coinbase_server import CoinbaseReplayServer
from desk.sim.replay.command import RecordingError, replay_setup
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.venues import recorded_venues
from tests.storage.recording.support import read_kind, sim_config
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

BINANCE = ("BTC-USDT", "ETH-USDT")
COINBASE = ("BTC-USD", "ETH-USDT")
VENUE_SYMBOLS = {"binance": BINANCE, "coinbase": COINBASE}


def venue_books(engine: Engine) -> dict[tuple[str, str], Any]:
    feeds = engine.feeds
    assert feeds is not None
    books = {}
    for venue, symbols in VENUE_SYMBOLS.items():
        for symbol in symbols:
            book = feeds.feed(symbol, venue).books[symbol]
            books[venue, symbol] = (book.seq_id if venue == "binance" else 0, book.copy_levels())
    return books


def counters(engine: Engine) -> list[tuple[str, int, int]]:
    feeds = engine.feeds
    assert feeds is not None
    return [(f.name, f.counters.gaps, f.counters.resyncs) for f in feeds.feeds]


async def record(tmp_path: Path) -> tuple[Path, dict[tuple[str, str], Any]]:
    exchanges = {
        "binance": {"enabled": True, "symbols": list(BINANCE)},
        "coinbase": {"enabled": True, "symbols": list(COINBASE)},
    }
    config = sim_config(
        tmp_path, exchanges=exchanges, symbols=("BTC-USDT",), steps_per_second=50,
        flush_interval=0.2,
    )  # fmt: skip
    engine = Engine(config)
    await engine.start()
    try:
        feeds = engine.feeds
        assert feeds is not None
        await feeds.wait_ready(30)
        binance = feeds.feed("BTC-USDT", "binance")
        coinbase = feeds.feed("BTC-USD", "coinbase")
        await wait_until(lambda: binance.counters.messages > 40, 30, "Binance frames")
        assert binance.handover.begin("test: planned reconnect")  # binance~2 records too
        await wait_until(lambda: binance.handovers >= 1, 30, "the handover")
        start = binance.counters.messages
        await wait_until(lambda: binance.counters.messages > start + 40, 30, "more frames")
        await wait_until(lambda: coinbase.counters.messages > 80, 30, "Coinbase frames")
        binance_sim, coinbase_sim = engine.simulators["binance"], engine.simulators["coinbase"]
        binance_sim.pause()
        coinbase_sim.pause()
        coinbase_sim.publish()
        for symbol in BINANCE:
            native = symbol.replace("-", "")
            await wait_until(
                lambda s=symbol, n=native: binance.books[s].seq_id == binance_sim.last_update_id(n),
                30,
                f"the Binance {symbol} book to catch up",
            )
        for symbol in COINBASE:
            await wait_until(
                lambda s=symbol: coinbase.books[s].copy_levels() == coinbase_sim.published_book(s),
                30,
                f"the Coinbase {symbol} book to catch up",
            )
        live = venue_books(engine)
        await feeds.stop()  # nothing more arrives: the recording ends on these books
    finally:
        await engine.stop()
    return tmp_path / "rec", live


async def replay(
    recording: Path, db: Path, start_ns: int = 0
) -> tuple[dict[tuple[str, str], Any], Any]:
    base = parse_config(
        {
            "system": {"status_interval": 60},
            "trading": {"timeframes": ["1s"], "channels": ["trades", "books", "tickers"]},
            "storage": {"sqlite_path": str(db)},
        }
    )
    venues = recorded_venues(recording)
    replay = ReplayConfig(path=str(recording), speed=0, start_ns=start_ns)
    config = with_replay(base, replay, venues["okx"])
    assert config.exchanges.binance.enabled and config.exchanges.coinbase.enabled
    engine = Engine(config)
    await engine.start()
    try:
        assert engine.replay is not None and engine.venue_replays is not None
        await asyncio.wait_for(engine.replay.finished.wait(), 60)
        await asyncio.wait_for(engine.venue_replays.wait_finished(), 60)
        feeds = engine.feeds
        assert feeds is not None
        for venue, server in engine.venue_replays.servers.items():
            feed = feeds.feed(VENUE_SYMBOLS[venue][0], venue)
            played = server.timeline.played
            await wait_until(lambda f=feed, n=played: f.counters.messages >= n, 30, venue)
        books = venue_books(engine)
        return books, counters(engine)
    finally:
        await engine.stop()


async def test_binance_and_coinbase_replay_to_the_recorded_books_twice(tmp_path: Path) -> None:
    recording, live = await record(tmp_path)
    venues = recorded_venues(recording)
    assert set(venues["binance"]) == set(BINANCE) and set(venues["coinbase"]) == set(COINBASE)

    raw = read_kind(recording, "raw", "binance")
    assert "binance~2" in set(raw["conn"])  # the handover's standby recorded the same events
    timeline = load_binance(recording)
    frames = list(zip(timeline.keys, timeline.payloads, strict=True))
    assert len(set(frames)) == len(frames) > 80  # each event served once

    books, seen = await replay(recording, tmp_path / "replay1.sqlite")
    assert all(gaps == resyncs == 0 for _name, gaps, resyncs in seen), seen
    for key, (seq, (bids, asks)) in live.items():
        assert books[key] == (seq, (bids, asks)), key
        assert len(bids) > 10 and len(asks) > 10

    again, seen_again = await replay(recording, tmp_path / "replay2.sqlite")
    assert again == books and seen_again == seen

    # From the middle: Binance's REST depth is the book there (recorded snapshot + diffs) and
    # each Coinbase product starts on a snapshot rebuilt there; both chain on to the same end.
    middle = timeline.recv_ns[len(timeline) // 2]
    later, seen_later = await replay(recording, tmp_path / "replay3.sqlite", middle)
    assert all(gaps == resyncs == 0 for _name, gaps, resyncs in seen_later), seen_later
    assert later == books


async def next_message(ws: Any) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
    return msg


async def test_the_wire_numbers_each_connection_and_starts_books_on_snapshots(
    tmp_path: Path,
) -> None:
    recording, _live = await record(tmp_path)
    config = ReplayConfig(path=str(recording), speed=0)
    coinbase = CoinbaseReplayServer(config)
    binance = BinanceReplayServer(config)
    await coinbase.start()
    await binance.start()
    try:
        # Coinbase: sequence_num counts this connection's messages from 0 without a hole; a
        # level2 (re)subscribe starts the product on a snapshot; an unknown product is refused.
        async with connect(coinbase.ws_url, close_timeout=1) as ws:
            for channel in ("heartbeats", "level2"):
                body = {"type": "subscribe", "channel": channel, "product_ids": ["BTC-USD"]}
                await ws.send(json.dumps(body))
            received = [await next_message(ws) for _ in range(20)]
            body = {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]}
            await ws.send(json.dumps(body))
            while (msg := await next_message(ws))["channel"] != "subscriptions":
                received.append(msg)
            received.append(msg)
            received.append(await next_message(ws))
            assert received[-1]["channel"] == "l2_data"
            assert received[-1]["events"][0]["type"] == "snapshot"  # the book mid-replay
            assert [m["sequence_num"] for m in received] == list(range(len(received)))
            l2 = [m for m in received if m["channel"] == "l2_data"]
            assert l2[0]["events"][0]["type"] == "snapshot"
            beats = [
                m["events"][0]["heartbeat_counter"]
                for m in received
                if m["channel"] == "heartbeats"
            ]
            assert [int(b) for b in beats] == list(range(1, len(beats) + 1))
            body = {"type": "subscribe", "channel": "level2", "product_ids": ["NOPE-USD"]}
            await ws.send(json.dumps(body))
            while (msg := await next_message(ws)).get("type") != "error":
                pass
            assert "NOPE-USD" in msg["message"]

        # A reconnect goes on where the last connection got to: numbered from 0 again, the
        # product starting on a snapshot of the book there.
        async with connect(coinbase.ws_url, close_timeout=1) as ws:
            body = {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]}
            await ws.send(json.dumps(body))
            again = [await next_message(ws) for _ in range(2)]
        assert [m["sequence_num"] for m in again] == [0, 1]
        assert again[1]["channel"] == "l2_data"
        assert again[1]["events"][0]["type"] == "snapshot"

        # Binance: the depth is Binance's shape; unknown symbols are refused as Binance does.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{binance.rest_url}/api/v3/depth?symbol=BTCUSDT") as reply:
                depth = await reply.json()
            assert depth["lastUpdateId"] > 0 and 10 < len(depth["bids"]) <= 100  # limit: 100
            async with http.get(f"{binance.rest_url}/api/v3/depth?symbol=XRPUSDT") as reply:
                assert reply.status == 400 and (await reply.json())["code"] == -1121
            async with http.get(f"{binance.rest_url}/api/v3/exchangeInfo") as reply:
                names = {s["symbol"] for s in (await reply.json())["symbols"]}
            assert {"BTCUSDT", "ETHUSDT"} <= names
            url = f"{binance.ws_url}/stream?streams=xrpusdt@trade"
            async with http.get(url.replace("ws://", "http://")) as reply:
                assert reply.status == 400
        assert binance.timeline is not None
        recorded = binance.timeline.keys.count("btcusdt@depth@100ms")
        async with connect(f"{binance.ws_url}/stream?streams=btcusdt@depth@100ms") as ws:
            frames = [await next_message(ws) for _ in range(min(recorded, 20))]
        assert len(frames) > 5
        assert {f["stream"] for f in frames} == {"btcusdt@depth@100ms"}
        ids = [(f["data"]["U"], f["data"]["u"]) for f in frames]
        assert all(u + 1 == next_u for (_, u), (next_u, _) in itertools.pairwise(ids))
    finally:
        await coinbase.stop()
        await binance.stop()

    # A recording without the REST answers: the rules are synthesised for the recorded symbols.
    binance_timeline = load_binance(recording)
    binance_timeline.rest.pop("/api/v3/exchangeInfo")
    coinbase_timeline = load_coinbase(recording)
    coinbase_timeline.rest.clear()
    binance = BinanceReplayServer(config, binance_timeline)
    coinbase = CoinbaseReplayServer(config, coinbase_timeline)
    await binance.start()
    await coinbase.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{binance.rest_url}/api/v3/exchangeInfo") as reply:
                info = await reply.json()
            path = "/api/v3/brokerage/market/products"
            async with http.get(f"{coinbase.rest_url}{path}") as reply:
                products = await reply.json()
    finally:
        await binance.stop()
        await coinbase.stop()
    by_name = {s["symbol"]: s for s in info["symbols"]}
    assert set(by_name) == {"BTCUSDT", "ETHUSDT"}
    ticks = {f["filterType"]: f for f in by_name["BTCUSDT"]["filters"]}
    assert ticks["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert {p["product_id"] for p in products["products"]} == set(COINBASE)

    # --symbols names instruments of any venue; OKX (which always runs) must keep one.
    replay, okx_symbols, _warnings = replay_setup(str(recording), symbols="BTC-USDT,BTC-USD")
    assert okx_symbols == ("BTC-USDT",)
    chosen = with_replay(parse_config({}), replay, okx_symbols).exchanges
    assert chosen.binance.symbols == ("BTC-USDT",) and chosen.coinbase.symbols == ("BTC-USD",)
    with pytest.raises(RecordingError, match="OKX always runs"):
        replay_setup(str(recording), symbols="BTC-USD")
    with pytest.raises(RecordingError, match="DOGE-USD not in the recording"):
        replay_setup(str(recording), symbols="DOGE-USD")
