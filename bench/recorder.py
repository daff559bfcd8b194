"""The recorder: what it costs the feed, how fast it writes, how small the files are.

Prints figures only, each beside its reference measured in the same run (this machine is
shared and noisy: compare ratios).

1. Feed hot path with the recorder on vs off: ``books`` updates and ``trades`` pushes through
   ``OkxFeed.handle_message`` as the read loop calls it, with the recorder's frame tap and its
   ``market_data`` subscriber in front (on) or not (off). Goal: on ≤ 10% slower.
2. The recorder's write rate: messages/s its worker turns into parquet (raw + L2 books +
   trades + gap rows, zstd, fsync), and the feed rate if both shared one core (the worst case:
   the writer thread holds the GIL while it builds tables).
3. Bytes per message: the raw JSON as received vs raw in parquet vs normalised (L2 book rows,
   trade rows): the compression ratios on books and on trades.
4. The writer per venue: each venue's book frames (OKX ``books``, Binance ``depthUpdate`` plus
   its REST snapshot, Coinbase ``l2_data``) turned into raw + L2 parquet, beside that venue's
   feed (``handle_message``, fresh book each round) on the same frames: writer/feed above 1
   means one writer keeps up with that feed at full speed.

    .venv/bin/python bench/recorder.py [--updates 5000] [--trades 5000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.parquet as pq

from binance_feed import _feed as binance_feed  # bench/ is on sys.path
from binance_feed import depth_messages
from coinbase_feed import RECV_NS as COINBASE_NOW_NS
from coinbase_feed import _feed as coinbase_feed
from coinbase_feed import l2_messages
from desk.core import topics
from desk.core.bus import Bus
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.storage.recording.config import RecorderConfig
from desk.storage.recording.recorder import Recorder
from okx_messages import book_messages, trade_messages

SYMBOL = "BTC-USDT"
DATA_NOW_NS = (1_700_000_000_000 + 250_000) * 1_000_000


def _feed(bus: Bus, snapshot: bytes) -> OkxFeed:
    feed = OkxFeed(OkxConfig(verify_checksum=False), [SYMBOL], ["books", "trades"], bus)
    feed.keeper.on_subscribed("books", SYMBOL)
    feed.handle_message(snapshot, DATA_NOW_NS)
    return feed


def _best(run: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def hot_path(
    messages: list[bytes], snapshot: bytes, rounds: int, root: Path
) -> tuple[float, float]:
    """(off, on) messages/s through the read loop's per-frame work."""
    config = RecorderConfig(enabled=True, path=str(root), max_backlog=10_000_000)

    def run(with_recorder: bool) -> Callable[[], None]:
        def go() -> None:
            bus = Bus()
            feed = _feed(bus, snapshot)
            tap = None
            if with_recorder:
                recorder = Recorder(config)
                bus.subscribe(topics.market_data("*"), recorder.on_market)
                tap = recorder.frame_tap
            handle = feed.handle_message
            now = DATA_NOW_NS
            for m in messages:  # what WsConnection._read does per frame
                if tap is not None:
                    tap("okx", m, now)
                handle(m, now)

        return go

    off = on = float("inf")
    for _ in range(rounds):  # interleaved, so a noisy neighbour hits both alike
        off = min(off, _best(run(False), 1))
        on = min(on, _best(run(True), 1))
    return len(messages) / off, len(messages) / on


async def write_rate(
    messages: list[bytes], snapshot: bytes, root: Path
) -> tuple[float, Recorder, int]:
    """Messages/s the worker writes (raw, books, trades), and the recorder that wrote them."""
    config = RecorderConfig(
        enabled=True,
        path=str(root),
        kinds=("raw", "books", "trades"),
        max_backlog=10_000_000,
        flush_interval=3600,
    )
    bus = Bus()
    recorder = Recorder(config, clock=lambda: DATA_NOW_NS)
    bus.subscribe(topics.market_data("*"), recorder.on_market)
    feed = _feed(bus, snapshot)
    recorder.frame_tap("okx", snapshot, DATA_NOW_NS)
    for m in messages:
        recorder.frame_tap("okx", m, DATA_NOW_NS)
        feed.handle_message(m, DATA_NOW_NS)
    count = len(messages) + 1
    started = time.perf_counter()
    await recorder.flush()  # parts of the open hour, as every flush_interval
    elapsed = time.perf_counter() - started
    await recorder.flush(final=True)  # the hourly merge: once an hour, not timed
    return count / elapsed, recorder, count


def _size(root: Path, kind: str) -> int:
    return sum(p.stat().st_size for p in root.glob(f"venue=okx/kind={kind}/**/*.parquet"))


async def _venue_write(
    conn: str, frames: list[bytes], rest: tuple[str, dict[str, str], bytes] | None, root: Path
) -> tuple[float, int]:
    """(frames/s, L2 rows) of one flush of ``frames`` (raw + books) on ``conn``."""
    config = RecorderConfig(
        enabled=True, path=str(root), kinds=("raw", "books"), max_backlog=10_000_000
    )
    recorder = Recorder(config, clock=lambda: DATA_NOW_NS)
    if rest is not None:
        recorder.rest_tap(conn)(*rest)
    for m in frames:
        recorder.frame_tap(conn, m, DATA_NOW_NS + 1)
    started = time.perf_counter()
    await recorder.flush()
    elapsed = time.perf_counter() - started
    await recorder.flush(final=True)
    l2 = sum(
        pq.ParquetFile(p).metadata.num_rows
        for p in root.glob(f"venue={conn}/kind=books/*/*.parquet")
    )
    return len(frames) / elapsed, l2


def _feed_rate(make: Callable[[], Any], frames: list[bytes], now: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        handle = make().handle_message
        gc.collect()
        started = time.perf_counter()
        for m in frames:
            handle(m, now)
        best = min(best, time.perf_counter() - started)
    return len(frames) / best


def venues(updates: int, rounds: int, root: Path) -> None:
    """Section 4 of the module docstring."""
    okx = book_messages(updates)
    snapshot, binance = depth_messages(updates)
    body = msgspec.json.encode(
        {"lastUpdateId": snapshot.last_update_id, "bids": snapshot.bids, "asks": snapshot.asks}
    )
    coinbase = l2_messages(updates, 20)
    cases = (
        ("okx", okx, None, lambda: _feed(Bus(), okx[0]), okx[1:], DATA_NOW_NS),
        (
            "binance",
            binance,
            ("/api/v3/depth", {"symbol": "BTCUSDT"}, body),
            lambda: binance_feed(snapshot),
            binance,
            time.time_ns(),  # its frames are stamped from the clock
        ),
        (
            "coinbase",
            coinbase,
            None,
            lambda: coinbase_feed(("level2",)),
            coinbase,
            COINBASE_NOW_NS,
        ),
    )
    for venue, frames, rest, make, fed, now in cases:
        rate, l2 = 0.0, 0
        for n in range(3):
            got, l2 = asyncio.run(_venue_write(venue, frames, rest, root / f"{venue}{n}"))
            rate = max(rate, got)
        feed = _feed_rate(make, fed, now, rounds)
        print(
            f"writer {venue:<9} {rate:>10,.0f} msg/s ({l2 / len(frames):.1f} L2 rows/msg)   "
            f"feed {feed:>10,.0f} msg/s   writer/feed {rate / feed:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--trades", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    books = book_messages(args.updates)
    snapshot, updates = books[0], books[1:]
    trades = trade_messages(args.trades)
    mixed = [m for pair in zip(updates, trades, strict=False) for m in pair]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        asyncio.run(write_rate(mixed[:200], snapshot, tmp_path / "warm"))  # imports, caches
        off, on = hot_path(mixed, snapshot, args.rounds, tmp_path / "hot")
        print(
            f"feed hot path, books+trades   off {off:>10,.0f} msg/s   on {on:>10,.0f} msg/s   "
            f"on/off {on / off:.3f} ({(1 - on / off) * 100:+.1f}% slower)"
        )
        rate, count = 0.0, 0
        for n in range(3):  # the best of three flushes
            got, _, count = asyncio.run(write_rate(mixed, snapshot, tmp_path / f"mixed{n}"))
            rate = max(rate, got)
        shared = 1 / (1 / on + 1 / rate)
        print(
            f"recorder write rate           {rate:>10,.0f} msg/s ({count:,} msgs: raw + L2 + "
            f"trades, zstd, fsync)"
        )
        print(
            f"feed + writer on one core     {shared:>10,.0f} msg/s   vs off {off:,.0f}: "
            f"on/off {shared / off:.3f}"
        )
        for name, msgs in (("books", [snapshot, *updates]), ("trades", trades)):
            root = tmp_path / name
            asyncio.run(write_rate(msgs[1:] if name == "books" else msgs, snapshot, root))
            json_bytes = sum(len(m) for m in msgs)
            raw = _size(root, "raw")
            norm = _size(root, name)
            n = len(msgs)
            print(
                f"bytes/msg {name:<7} raw JSON {json_bytes / n:>7.1f}   raw parquet "
                f"{raw / n:>6.1f} (x{json_bytes / raw:.1f} smaller)   normalised {norm / n:>6.1f} "
                f"(x{json_bytes / norm:.1f} smaller)"
            )
        venues(args.updates, args.rounds, tmp_path / "venues")


if __name__ == "__main__":
    main()
