"""The replay server on a recorded OKX session: the real feed rebuilds the recorded books with
every checksum verified, filters select what is served, bad recordings are refused clearly."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
import pytest
import websockets

from desk.core.bus import Bus
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.feeds.validation import ValidationConfig
from desk.sim.replay.books import rebuild
from desk.sim.replay.config import ReplayConfig, parse_speed
from desk.sim.replay.files import RecordingError
from desk.sim.replay.server import ReplayServer
from desk.sim.replay.timeline import SNAPSHOT, load_timeline
from tests.sim.replay.recording import SYMBOLS
from tests.waiting import wait_until

BTC, ETH = SYMBOLS


def feed_on(server: ReplayServer, symbols: tuple[str, ...], bus: Bus) -> OkxFeed:
    config = OkxConfig(
        ws_public_url=server.ws_public_url,
        rest_url=server.rest_url,
        validation=ValidationConfig(max_clock_skew=0),  # recorded times are in the past
    )
    return OkxFeed(config, symbols, ("books", "trades", "tickers"), bus)


@pytest.mark.asyncio
async def test_feed_rebuilds_every_recorded_book_with_zero_checksum_failures(
    recording: Path,
) -> None:
    server = ReplayServer(ReplayConfig(path=str(recording), speed=0))
    await server.start()
    bus = Bus()
    trades: list[object] = []
    for symbol in SYMBOLS:
        bus.subscribe(f"market_data:{symbol}", trades.append)
    feed = feed_on(server, SYMBOLS, bus)
    await feed.start()
    try:
        await asyncio.wait_for(server.finished.wait(), 30)
        total = len(server.timeline)
        await wait_until(lambda: feed.counters.messages >= total, 20, "every frame decoded")
        books = sum(1 for channel, _ in server.timeline.keys if channel == "books")
        checksummed = sum(
            1
            for (channel, _), raw in zip(
                server.timeline.keys, server.timeline.payloads, strict=True
            )
            if channel == "books" and b'"checksum":0,' not in raw
        )
        assert books > 50 and checksummed == books  # the recording carries real CRC32s
        c = feed.counters
        assert (c.checksum_failures, c.gaps, c.resyncs, c.decode_errors) == (0, 0, 0, 0)
        # The book the feed holds is the recorded stream's book at its last seqId: the server
        # rebuilds the same one independently from the frames (its REST book).
        async with aiohttp.ClientSession() as http:
            for symbol in SYMBOLS:
                url = f"{server.rest_url}/api/v5/market/books?instId={symbol}&sz=400"
                async with http.get(url) as reply:
                    rest = (await reply.json())["data"][0]
                book = feed.books[symbol]
                assert book.seq_id == rest["seqId"]
                assert book.bids() == [(float(p), float(s)) for p, s, *_ in rest["bids"]]
                assert book.asks() == [(float(p), float(s)) for p, s, *_ in rest["asks"]]
        # And the connection stays open, idle, after the end: ping is still answered.
        async with websockets.connect(server.ws_public_url) as ws:
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 10) == "pong"
    finally:
        await feed.stop()
        await server.stop()


@pytest.mark.asyncio
async def test_unknown_instrument_is_refused_as_okx_does(recording: Path) -> None:
    server = ReplayServer(ReplayConfig(path=str(recording), speed=0))
    async with server, websockets.connect(server.ws_public_url) as ws:
        args = [{"channel": "books", "instId": "XRP-USDT"}]
        await ws.send(json.dumps({"id": "7", "op": "subscribe", "args": args}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (reply["event"], reply["code"], reply["id"]) == ("error", "60018", "7")
        assert "XRP-USDT" in reply["msg"]


@pytest.mark.asyncio
async def test_a_replay_from_the_middle_starts_on_a_true_snapshot_and_chains_on(
    recording: Path,
) -> None:
    """--from between snapshots: the book at that moment is served as a snapshot (checksum
    recomputed) and the recorded updates chain on it; the end state equals a full replay's."""
    whole = load_timeline(recording)
    middle = whole.recv_ns[len(whole) // 2]
    ends = {}
    for start in (None, middle):
        config = ReplayConfig(path=str(recording), speed=0, start_ns=start or 0)
        async with ReplayServer(config) as server:
            if start is not None:
                first = server.timeline.payloads[0]
                assert SNAPSHOT in first[:200] and b'"checksum":0,' not in first
            feed = feed_on(server, SYMBOLS, Bus())
            await feed.start()
            try:
                await asyncio.wait_for(server.finished.wait(), 30)
                c, total = feed.counters, len(server.timeline)
                await wait_until(lambda c=c, n=total: c.messages >= n, 20, "every frame")
                assert (c.checksum_failures, c.gaps, c.resyncs, c.decode_errors) == (0, 0, 0, 0)
                ends[start] = {s: (b.seq_id, b.bids(), b.asks()) for s, b in feed.books.items()}
            finally:
                await feed.stop()
    assert ends[None] == ends[middle]


def test_from_to_and_symbols_select_what_is_served(recording: Path) -> None:
    whole = load_timeline(recording)
    assert set(whole.symbols) == set(SYMBOLS)
    lo = whole.recv_ns[len(whole) // 4]
    hi = whole.recv_ns[3 * len(whole) // 4]
    part = load_timeline(recording, start_ns=lo, end_ns=hi, symbols=[ETH])
    assert part.symbols == (ETH,)
    assert all(lo <= ns <= hi for ns in part.recv_ns)
    assert part.recv_ns == sorted(part.recv_ns)
    # the replay of ETH starts with a snapshot of its book at --from, never mid-book
    assert part.keys[0] == ("books", ETH) and SNAPSHOT in part.payloads[0][:200]
    assert part.recv_ns[0] == lo
    with pytest.raises(RecordingError, match="no OKX market-data frames"):
        load_timeline(recording, start_ns=hi + 10**12)


def test_bad_recordings_are_refused_and_corrupt_files_skipped_by_name(
    recording: Path, tmp_path: Path
) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        load_timeline(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="no raw recording of okx"):
        load_timeline(tmp_path / "empty")
    copy = tmp_path / "copy"
    shutil.copytree(recording, copy)
    partition = next((copy / "venue=okx" / "kind=raw").iterdir())
    bad = partition / "01.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    (partition / "02.parquet.tmp").write_bytes(b"an hour still being written")
    timeline = load_timeline(copy)
    assert [p for p, _ in timeline.skipped] == [bad]
    assert len(timeline) == len(load_timeline(recording))
    only_bad = tmp_path / "only_bad" / "venue=okx" / "kind=raw" / "date=2026-01-01"
    only_bad.mkdir(parents=True)
    (only_bad / "00.parquet").write_bytes(b"garbage")
    with pytest.raises(RecordingError, match=r"00\.parquet"):
        load_timeline(tmp_path / "only_bad")


def test_speed_reads_numbers_and_max() -> None:
    assert parse_speed("1") == 1.0 and parse_speed("10") == 10.0 and parse_speed("max") == 0.0
    for bad in ("0", "-1", "fast", "inf"):
        with pytest.raises(ValueError, match="speed"):
            parse_speed(bad)


@pytest.mark.asyncio
async def test_a_resync_mid_replay_gets_a_snapshot_and_chains_on(recording: Path) -> None:
    """A feed that resubscribes a book mid-replay (as on a gap) gets OKX's answer, a snapshot
    of the book where the replay is, and the next recorded update chains on it."""
    async with ReplayServer(ReplayConfig(path=str(recording), speed=20)) as server:
        feed = feed_on(server, (BTC,), Bus())
        await feed.start()
        try:
            book = feed.books[BTC]
            await wait_until(lambda: book.seq_id > 0, 20, "the first book")
            first = book.seq_id
            await wait_until(lambda: book.seq_id != first, 20, "an update applied")
            assert feed._resubscribe("books", BTC)
            await asyncio.wait_for(server.finished.wait(), 30)
            pushes = sum(1 for key in server.timeline.keys if key[1] == BTC)
            total = pushes + 5 + 1  # 3 + 2 acks, and the resubscribe's snapshot
            c = feed.counters
            await wait_until(lambda: c.messages >= total, 20, "every frame and the snapshot")
            assert (c.checksum_failures, c.gaps, c.resyncs, c.decode_errors) == (0, 0, 0, 0)
            whole = load_timeline(recording, symbols=[BTC])
            last = rebuild(
                p for k, p in zip(whole.keys, whole.payloads, strict=True) if k[0] == "books"
            )
            assert book.seq_id == last.seq_id
            assert book.bids() == [(float(p), float(s)) for p, s, *_ in last.bids]
        finally:
            await feed.stop()


@pytest.mark.asyncio
async def test_a_books_resubscribe_is_answered_with_a_snapshot_the_updates_chain_on(
    recording: Path,
) -> None:
    arg = {"channel": "books", "instId": BTC}
    server = ReplayServer(ReplayConfig(path=str(recording), speed=20))
    async with server, websockets.connect(server.ws_public_url) as ws:

        async def push() -> dict:
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if "data" in msg:
                    return msg

        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        assert (await push())["action"] == "snapshot"
        assert (await push())["action"] == "update"
        await ws.send(json.dumps({"op": "unsubscribe", "args": [arg]}))
        await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        snapshot = await push()
        while snapshot["action"] != "snapshot":  # updates sent before the requests arrived
            snapshot = await push()
        update = await push()
        assert update["action"] == "update"
        assert update["data"][0]["prevSeqId"] == snapshot["data"][0]["seqId"]
        assert snapshot["data"][0]["checksum"] != 0  # recomputed, as the recording has them


async def _books_pushes(ws: websockets.ClientConnection, count: int) -> list[dict]:
    pushes: list[dict] = []
    while len(pushes) < count:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if msg.get("arg", {}).get("channel") == "books" and "data" in msg:
            pushes.append(msg)
    return pushes


@pytest.mark.asyncio
async def test_a_reconnect_goes_on_where_the_last_connection_got_to(recording: Path) -> None:
    """As a live venue: a feed that reconnects mid-replay gets the book as the replay has
    reached it, and the recorded updates chain on from there, not the recording's start."""
    subscribe = json.dumps(
        {"id": "1", "op": "subscribe", "args": [{"channel": "books", "instId": BTC}]}
    )
    async with ReplayServer(ReplayConfig(path=str(recording), speed=1.0)) as server:
        async with websockets.connect(server.ws_public_url) as ws:
            await ws.send(subscribe)
            first = await _books_pushes(ws, 5)
        assert first[0]["action"] == "snapshot"
        seen = first[-1]["data"][0]["seqId"]
        async with websockets.connect(server.ws_public_url) as ws:
            await ws.send(subscribe)
            snapshot, update = await _books_pushes(ws, 2)
        assert snapshot["action"] == "snapshot"
        book = snapshot["data"][0]
        assert book["seqId"] >= seen > first[0]["data"][0]["seqId"]  # not the start again
        assert update["action"] == "update"
        assert update["data"][0]["prevSeqId"] == book["seqId"]  # the updates chain on it
