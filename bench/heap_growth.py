"""What grows in the engine (or the whole desk) under a full-speed feed: Python's heap by line.

Runs ``desk engine``'s Engine on the in-process simulator in firehose mode with tracemalloc on
(``--ui``: the desk itself, engine and Textual UI in one process as ``desk --sim`` runs them,
headless at 120x45 on the market mode, as bench/desk_soak.py leaves it),
prints RSS and the traced heap every 30 s, takes a snapshot at ``--first`` seconds and another
at the end, and prints the source lines whose memory grew most between the two. Figures only;
tracemalloc slows everything and its snapshot costs RSS itself (a bump at ``--first``), so read
the traced heap for growth and this bench's RSS only against itself.

    .venv/bin/python bench/heap_growth.py [--seconds 420] [--first 150] [--top 25] [--ui]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import tracemalloc

import psutil

from desk.config import parse_config
from desk.engine.engine import Engine


async def run(seconds: float, first: float, top: int, ui: bool) -> None:
    workdir = tempfile.mkdtemp(prefix="desk-heap-")
    config = parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "storage": {"sqlite_path": f"{workdir}/heap.sqlite"},
            "simulator": {"enabled": True, "port": 0, "seed": 7, "firehose": True,
                          "steps_per_second": 100_000},
        }
    )  # fmt: skip
    engine = Engine(config)
    process = psutil.Process()

    async def watch() -> None:
        started, early = time.monotonic(), None
        while (elapsed := time.monotonic() - started) < seconds:
            await asyncio.sleep(30)
            elapsed = time.monotonic() - started
            traced = tracemalloc.get_traced_memory()[0] / 2**20
            rss = process.memory_info().rss / 2**20
            print(f"{elapsed:5.0f} s  RSS {rss:4.0f} MiB  traced {traced:5.1f} MiB", flush=True)
            if early is None and elapsed >= first:
                gc.collect()
                early = tracemalloc.take_snapshot()
        gc.collect()
        if early is not None:
            print(f"grown most from {first:.0f} s to the end:")
            for stat in tracemalloc.take_snapshot().compare_to(early, "lineno")[:top]:
                print(f"  {stat}")

    if not ui:
        await asyncio.gather(engine.run(duration=seconds + 5, gc_policy=True), watch())
        return
    from desk.app import DeskApp
    from desk.clients.inprocess import InProcessClient

    app = DeskApp(InProcessClient(engine), config, freeze_gc=True)
    async with app.run_test(size=(120, 45)):
        await watch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=420.0)
    parser.add_argument("--first", type=float, default=150.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--ui", action="store_true", help="the whole desk: engine and UI")
    args = parser.parse_args()
    tracemalloc.start(1)
    asyncio.run(run(args.seconds, args.first, args.top, args.ui))


if __name__ == "__main__":
    main()
