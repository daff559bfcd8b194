"""Frames fuzzed per second through the in-process feed path, next to its references.

The fuzzer of tests/feeds/okx/fuzz.py: the OKX simulator's own pushes (books, trades, tickers),
a share of them corrupted, through ``OkxFeed`` -> ``OrderBook`` -> ``CandleAggregator`` (and, with
``--sqlite``, a ``SqliteStore`` on a temporary file), with the book checked against the venue's
after every cycle. Printed in the same run, because this machine is shared and noisy:

1. the fuzzer with 25% of the frames corrupted (the suite's setting) - the figure;
2. the same with no frame corrupted (the cost of corrupting and refusing);
3. the generator alone, nothing fed (the floor the fuzzer cannot beat).

    .venv/bin/python bench/feed_fuzz.py [--frames 20000] [--rounds 3] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/

from tests.feeds.okx.fuzz import FeedFuzzer

from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

SUITE_FRAMES = 2 * 6000  # tests/feeds/okx/test_fuzz.py: FRAMES per seed, two seeds


def fuzz_rate(frames: int, share: float, seed: int) -> tuple[float, FeedFuzzer]:
    fuzzer = FeedFuzzer(seed, share=share)
    fuzzer.start()
    started = time.perf_counter()
    fuzzer.run(frames)
    return fuzzer.expect.frames / (time.perf_counter() - started), fuzzer


async def fuzz_rate_sqlite(frames: int, share: float, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(StorageConfig(sqlite_path=str(Path(tmp) / "fuzz.sqlite")))
        await store.open()
        fuzzer = FeedFuzzer(
            seed, share=share, on_candle=store.record_candle, on_system=store.record_system_event
        )
        fuzzer.start()
        started = time.perf_counter()
        while fuzzer.expect.frames < frames:
            fuzzer.run(fuzzer.expect.frames + 500)
            await asyncio.sleep(0)
        await store.flush()
        rate = fuzzer.expect.frames / (time.perf_counter() - started)
        await store.close()
    return rate


def generator_rate(frames: int, seed: int) -> float:
    """The simulator's streams producing the same kind of frames, none fed anywhere."""
    fuzzer = FeedFuzzer(seed, share=0.0)
    fuzzer.start()
    produced = 0
    started = time.perf_counter()
    while produced < frames:
        fuzzer.ts_ms += 20
        for _ in range(3):
            fuzzer.market.step(fuzzer.ts_ms)
        now = fuzzer.ts_ms / 1000
        fuzzer.streams.publish_fast(now, fuzzer.ts_ms, 60.0)
        fuzzer.streams.publish_books(now, fuzzer.ts_ms, 60.0)
        fuzzer._remember_truth()
        produced += len(fuzzer._conn.drain())
    return produced / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="also time it with SQLite storage")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # refusals are logged (rate-limited); not what is timed

    fuzzed = max(fuzz_rate(args.frames, 0.25, seed)[0] for seed in range(args.rounds))
    clean = max(fuzz_rate(args.frames, 0.0, seed)[0] for seed in range(args.rounds))
    floor = max(generator_rate(args.frames, seed) for seed in range(args.rounds))
    _, sample = fuzz_rate(args.frames, 0.25, 0)
    e, c = sample.expect, sample.feed.counters
    print(f"in-process feed fuzz, {args.frames:,} frames per run, best of {args.rounds}:")
    print(f"  25% corrupted (the suite's mix)   {fuzzed:>10,.0f} frames/s")
    print(f"  none corrupted (reference)        {clean:>10,.0f} frames/s")
    print(f"  generator alone (floor)           {floor:>10,.0f} frames/s")
    if args.sqlite:
        stored = asyncio.run(fuzz_rate_sqlite(args.frames, 0.25, 0))
        print(f"  25% corrupted, SQLite storage     {stored:>10,.0f} frames/s")
    print(
        f"  one run: {e.corrupted:,} corrupted of {e.frames:,}; decode errors {c.decode_errors:,}"
        f" (bad values {c.bad_values:,}, bad timestamps {c.bad_timestamps:,}), unknown channels"
        f" {c.unknown_channels:,}, unknown symbols {c.unknown_symbols:,}, resyncs {c.resyncs:,};"
        f" book checked {sample.book_checks:,} times"
    )
    print(f"  frames tried in the suite (tests/feeds/okx/test_fuzz.py): {SUITE_FRAMES:,}")


if __name__ == "__main__":
    main()
