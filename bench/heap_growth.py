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
import ctypes
import gc
import sys
import tempfile
import time
import tracemalloc

import psutil

from desk.config import parse_config
from desk.engine.engine import Engine


def _cached(owner: object) -> list[tuple[str, object]]:
    """(name, lru_cache wrapper) of a module's functions and its classes' methods."""
    found = []
    for attr, value in list(vars(owner).items()):
        if isinstance(value, type) and value.__module__ == getattr(owner, "__name__", None):
            found += [(f"{attr}.{name}", wrapper) for name, wrapper in _cached(value)]
            continue
        value = getattr(value, "__func__", value)  # classmethod, staticmethod
        if callable(getattr(value, "cache_info", None)):
            found.append((attr, value))
    return found


def lru_caches() -> list[str]:
    """Every functools cache of desk, rich and textual with how full it is: which still fill."""
    found = []
    for name, module in list(sys.modules.items()):
        if name.startswith(("desk.", "rich.", "textual.")):
            for attr, wrapper in _cached(module):
                stats = wrapper.cache_info()  # type: ignore[attr-defined]
                if stats.currsize:
                    found.append(f"{name}.{attr} {stats.currsize}/{stats.maxsize}")
    return sorted(found)


def malloc_summary() -> str:
    """glibc's mallinfo2: bytes malloc holds from the system and how much of it is free."""

    class MallInfo2(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]  # fmt: skip

    try:
        call = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return "no mallinfo2"
    call.restype = MallInfo2
    info = call()
    return (
        f"malloc: heap {info.arena / 2**20:.1f} MiB (free {info.fordblks / 2**20:.1f}), "
        f"mmapped {info.hblkhd / 2**20:.1f} MiB in {info.hblks}"
    )


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
            print(
                f"{elapsed:5.0f} s  RSS {rss:4.0f} MiB  traced {traced:5.1f} MiB  "
                f"{malloc_summary()}",
                flush=True,
            )
            if early is None and elapsed >= first:
                gc.collect()
                early = tracemalloc.take_snapshot()
        gc.collect()
        if early is not None:
            print(f"grown most from {first:.0f} s to the end:")
            for stat in tracemalloc.take_snapshot().compare_to(early, "lineno")[:top]:
                print(f"  {stat}")
        print("caches (entries/max): " + ", ".join(lru_caches()))

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
