"""Replay rate at ``--speed max``: messages/s through the full feed path, beside the raw read
rate of the parquet files.

Prints figures only, each beside its reference measured in the same run (this machine is
shared and noisy: compare ratios).

A recording is written first (raw schema, zstd, one file per ~hour): ``books`` updates of
~20 levels with real CRC32 checksums and ``trades`` pushes, interleaved 1:1, receive times
10 ms apart (``bench/okx_messages.py``). Then:

1. raw read: ``pyarrow.parquet.read_table`` of every raw file (rows/s) - the floor;
2. timeline load: ``load_timeline`` (read, sort by ``recv_ns``, filter, per-symbol start);
3. replay at max: a ``ReplayServer`` (speed 0) serving it over a real loopback WebSocket to an
   ``OkxFeed`` (decode, sequence and checksum checks, book apply, Trade/BookChanged publish):
   messages/s from the subscribe to the last frame handled;
4. Binance replay at max: a Binance recording (combined ``depth@100ms`` diffs of ~20 levels
   chained on ``U``/``u``, and the REST depth snapshot the live feed started from,
   ``bench/binance_feed.py``) served by a ``BinanceReplayServer`` to a ``BinanceFeed`` (REST
   snapshot at the replay position, buffer, ``U``/``u`` chaining, book apply): messages/s,
   beside the raw read rate of the same files.

    .venv/bin/python bench/replay.py [--updates 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from binance_feed import depth_messages  # bench/ is on sys.path
from desk.core.bus import Bus
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.feed import BinanceFeed
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.feeds.validation import ValidationConfig
from desk.sim.replay.binance_server import BinanceReplayServer
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.server import ReplayServer
from desk.sim.replay.timeline import load_timeline
from okx_messages import book_messages, trade_messages  # bench/ is on sys.path

SYMBOL = "BTC-USDT"
START_NS = 1_700_000_000_000 * 1_000_000
STEP_NS = 10_000_000
ROWS_PER_FILE = 360_000  # an hour of frames 10 ms apart


def write_recording(root: Path, updates: int) -> tuple[int, int]:
    """The recording (see the module docstring); (frames, bytes of parquet)."""
    books = book_messages(updates, checksum=True, symbol=SYMBOL)
    trades = trade_messages(updates, symbol=SYMBOL)
    frames = [books[0]]
    channels = ["books"]
    for book, trade in zip(books[1:], trades, strict=True):
        frames += (book, trade)
        channels += ("books", "trades")
    recv = [START_NS + i * STEP_NS for i in range(len(frames))]
    day = dt.datetime.fromtimestamp(START_NS / 1e9, dt.UTC)
    folder = root / "venue=okx" / "kind=raw" / f"date={day:%Y-%m-%d}"
    folder.mkdir(parents=True)
    size = 0
    for n, lo in enumerate(range(0, len(frames), ROWS_PER_FILE)):
        hi = lo + ROWS_PER_FILE
        count = len(frames[lo:hi])
        table = pa.table(
            {
                "recv_ns": pa.array(recv[lo:hi], pa.int64()),
                "venue": ["okx"] * count,
                "conn": ["okx"] * count,
                "stream": ["ws"] * count,
                "channel": channels[lo:hi],
                "symbol": [SYMBOL] * count,
                "payload": pa.array(frames[lo:hi], pa.binary()),
            }
        )
        path = folder / f"{n:02d}.parquet"
        pq.write_table(table, path, compression="zstd")
        size += path.stat().st_size
    return len(frames), size


def raw_read_rate(root: Path, frames: int, rounds: int) -> float:
    files = sorted(root.rglob("*.parquet"))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        rows = sum(pq.read_table(f).num_rows for f in files)
        best = min(best, time.perf_counter() - started)
        assert rows == frames
    return frames / best


def timeline_rate(root: Path, frames: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        timeline = load_timeline(root)
        best = min(best, time.perf_counter() - started)
        assert len(timeline) == frames
    return frames / best


async def replay_rate(root: Path, frames: int) -> tuple[float, int]:
    """Messages/s through the feed at speed max, and its checksum failures."""
    server = ReplayServer(ReplayConfig(path=str(root), speed=0))
    await server.start()
    config = OkxConfig(
        ws_public_url=server.ws_public_url,
        rest_url=server.rest_url,
        validation=ValidationConfig(max_clock_skew=0),
    )
    feed = OkxFeed(config, [SYMBOL], ["books", "trades"], Bus())
    started = time.perf_counter()
    await feed.start()
    try:
        while feed.counters.messages < frames:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        await feed.stop()
        await server.stop()
    return frames / elapsed, feed.counters.checksum_failures


def write_binance(root: Path, updates: int) -> int:
    """A Binance recording: the REST snapshot, then ``updates`` diffs 10 ms apart; frames."""
    snapshot, diffs = depth_messages(updates)
    rest = msgspec.json.encode(
        {"lastUpdateId": snapshot.last_update_id, "bids": snapshot.bids, "asks": snapshot.asks}
    )
    payloads = [rest, *diffs]
    count = len(payloads)
    day = dt.datetime.fromtimestamp(START_NS / 1e9, dt.UTC)
    folder = root / "venue=binance" / "kind=raw" / f"date={day:%Y-%m-%d}"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "recv_ns": pa.array([START_NS + i * STEP_NS for i in range(count)], pa.int64()),
            "venue": ["binance"] * count,
            "conn": ["rest"] + ["binance"] * updates,
            "stream": ["rest:/api/v3/depth"] + ["ws"] * updates,
            "channel": [""] + ["depth@100ms"] * updates,
            "symbol": [SYMBOL] * count,
            "payload": pa.array(payloads, pa.binary()),
        }
    )
    pq.write_table(table, folder / "00.parquet", compression="zstd")
    return updates


async def binance_replay_rate(root: Path, frames: int) -> tuple[float, int]:
    """Messages/s through the Binance feed at speed max, and its gaps plus resyncs."""
    server = BinanceReplayServer(ReplayConfig(path=str(root), speed=0))
    await server.start()
    config = BinanceConfig(
        symbols=(SYMBOL,),
        ws_url=server.ws_url,
        rest_url=server.rest_url,
        book_ticker=False,
        validation=ValidationConfig(max_clock_skew=0),
    )
    feed = BinanceFeed(config, Bus())
    started = time.perf_counter()
    await feed.start()
    try:
        while feed.counters.messages < frames:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        await feed.stop()
        await server.stop()
    return frames / elapsed, feed.counters.gaps + feed.counters.resyncs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=50_000, help="book updates (and trades)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frames, size = write_recording(root, args.updates)
        print(f"recording: {frames:,} frames, {size / frames:.0f} bytes/frame in parquet")
        raw = raw_read_rate(root, frames, args.rounds)
        loaded = timeline_rate(root, frames, args.rounds)
        best, failures = 0.0, 0
        for _ in range(args.rounds):
            rate, failures = asyncio.run(replay_rate(root, frames))
            best = max(best, rate)
        binance_root = root / "binance"
        binance_frames = write_binance(binance_root, args.updates)
        binance_raw = raw_read_rate(binance_root, binance_frames + 1, args.rounds)
        binance_best, breaks = 0.0, 0
        for _ in range(args.rounds):
            rate, breaks = asyncio.run(binance_replay_rate(binance_root, binance_frames))
            binance_best = max(binance_best, rate)
    print(f"raw parquet read (reference) {raw:>12,.0f} msg/s")
    print(f"timeline load (read+sort)    {loaded:>12,.0f} msg/s   {loaded / raw:.2f}x raw read")
    print(
        f"replay --speed max via feed  {best:>12,.0f} msg/s   {best / raw:.3f}x raw read "
        f"(checksum failures {failures})"
    )
    print(f"binance raw read (reference) {binance_raw:>12,.0f} msg/s")
    print(
        f"binance replay --speed max   {binance_best:>12,.0f} msg/s   "
        f"{binance_best / binance_raw:.3f}x raw read (gaps + resyncs {breaks})"
    )


if __name__ == "__main__":
    main()
