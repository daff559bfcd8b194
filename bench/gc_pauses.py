"""How long the cyclic garbage collector pauses the running engine, by generation.

Runs ``desk engine``'s Engine headless on the in-process OKX simulator in firehose mode (as
bench/heap_growth.py does) for ``--seconds``, records every collection with ``gc.callbacks``
(start/stop, ``perf_counter_ns`` and ``thread_time_ns``) and prints per generation:
collections a second, wall pause p50/p99/max, CPU pause p50/p99/max and CPU time a second (on a
busy machine the wall clock's tail is mostly other processes), the length of the young list a
young collection scanned; plus the engine's msg/s. Headless, the young list is mostly the
in-process simulator's resting orders (desk.sim). Each run is its own process (a fresh heap),
under a schedule:

* ``cpython``: CPython's own thresholds (700, 10, 10), the engine's policy off (the reference);
* ``policy``: engine/gc_policy.py as the engine runs it;
* ``every:P/M``: the policy with another schedule: a young collection every P seconds, the
  middle one every M young ones (default ``MIDDLE_EVERY``), everything about every 30 s.

Schedules take turns (A B A B ...) ``--rounds`` times, so load from the rest of the machine hits
each alike; the summary gives each one's figures as ratios to the first schedule's, run for run.
``--ui``: the whole desk (engine and Textual App in one process, ``App.run_test`` at 120x45, as
``desk --sim`` runs them) instead of the headless engine; there the frames (10 a second) drive
the young collections, so ``every:P/M`` only changes M.

    .venv/bin/python bench/gc_pauses.py [--seconds 60] [--rounds 2] [--ui]
        [--schedules cpython,policy,every:0.1/5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from desk.config import parse_config
from desk.engine import engine as engine_module
from desk.engine import gc_policy
from desk.engine.engine import Engine

WARMUP_S = 5.0


class PauseRecorder:
    """Every collection's pause by generation: wall and CPU time (ns), and the young list's
    length at each young collection. The CPU time (``thread_time``) leaves out the time the
    machine ran something else: on a busy machine the wall clock's tail is mostly that."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}
        self.young: list[int] = []
        self._started = (0, 0)
        self.on = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            if info["generation"] == 0 and self.on:
                self.young.append(len(gc.get_objects(0)))  # before the clock starts
            self._started = (time.perf_counter_ns(), time.thread_time_ns())
        elif self.on:
            wall, cpu = self._started
            self.pauses[info["generation"]].append(
                (time.perf_counter_ns() - wall, time.thread_time_ns() - cpu)
            )

    def reset(self) -> None:
        self.pauses = {0: [], 1: [], 2: []}
        self.young = []


def quantile(values: list[int], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``, 0 if there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def feed_messages(engine: Engine) -> int:
    feeds = engine.feeds
    return sum(feed.counters.messages for feed in feeds.feeds) if feeds is not None else 0


def engine_config(workdir: str) -> Any:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "storage": {"sqlite_path": f"{workdir}/gc.sqlite"},
            "simulator": {"enabled": True, "port": 0, "seed": 7, "firehose": True,
                          "steps_per_second": 100_000},
        }
    )  # fmt: skip


def use_schedule(schedule: str) -> bool:
    """Set the process's policy up for ``schedule``; whether the policy runs at all.

    ``every:P/M``: a young collection every P seconds (from the engine's timer), the middle
    one every M young ones, and everything every so many middle ones that a full collection
    still comes about every 30 s."""
    if schedule.startswith("every:"):
        period, _, middle = schedule.removeprefix("every:").partition("/")
        period_s = float(period)
        gc_policy.MIDDLE_EVERY = int(middle or gc_policy.MIDDLE_EVERY)
        gc_policy.FULL_EVERY = max(1, round(30 / (period_s * gc_policy.MIDDLE_EVERY)))
        engine_module.collect_every = functools.partial(gc_policy.collect_every, period_s)
    return schedule != "cpython"


async def measure(engine: Engine, recorder: PauseRecorder, seconds: float) -> dict[str, Any]:
    """Record ``seconds`` after the warm-up; the figures of that window."""
    await asyncio.sleep(WARMUP_S)
    recorder.reset()
    recorder.on = True
    first, started = feed_messages(engine), time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    recorder.on = False
    return {
        "seconds": elapsed,
        "msgs": feed_messages(engine) - first,
        "pauses": recorder.pauses,
        "young": recorder.young,
    }


async def child(schedule: str, seconds: float, ui: bool) -> dict[str, Any]:
    """One run in this process: the engine (or the desk) under ``schedule``."""
    engine = Engine(engine_config(tempfile.mkdtemp(prefix="desk-gc-")))
    policy = use_schedule(schedule)
    recorder = PauseRecorder()
    gc.callbacks.append(recorder)
    if not ui:
        run = asyncio.get_running_loop().create_task(
            engine.run(duration=WARMUP_S + seconds + 2, gc_policy=policy)
        )
        while engine.feeds is None:
            await asyncio.sleep(0.05)
        figures = await measure(engine, recorder, seconds)
        await run
        return figures
    from desk.app import DeskApp
    from desk.clients.inprocess import InProcessClient

    app = DeskApp(InProcessClient(engine), engine.config, freeze_gc=policy)
    async with app.run_test(size=(120, 45)):
        while engine.feeds is None:
            await asyncio.sleep(0.05)
        return await measure(engine, recorder, seconds)


def summary(figures: dict[str, Any]) -> dict[str, float]:
    """The figures one line shows: msg/s, young list length (median); per generation count/s,
    wall p50/p99/max and CPU p50/p99/max (us), CPU us/s; over all generations the same."""
    seconds = figures["seconds"]
    out = {"msg/s": figures["msgs"] / seconds, "young": quantile(figures["young"], 0.5)}
    every = {"all": [tuple(p) for ps in figures["pauses"].values() for p in ps]}
    every |= {f"g{g}": [tuple(p) for p in ps] for g, ps in figures["pauses"].items()}
    for name, pauses in every.items():
        wall, cpu = [p[0] for p in pauses], [p[1] for p in pauses]
        out[f"{name} n/s"] = len(pauses) / seconds
        out[f"{name} p50"] = quantile(wall, 0.5) / 1e3
        out[f"{name} p99"] = quantile(wall, 0.99) / 1e3
        out[f"{name} max"] = max(wall, default=0) / 1e3
        out[f"{name} cpu p50"] = quantile(cpu, 0.5) / 1e3
        out[f"{name} cpu p99"] = quantile(cpu, 0.99) / 1e3
        out[f"{name} cpu max"] = max(cpu, default=0) / 1e3
        out[f"{name} cpu/s"] = sum(cpu) / 1e3 / seconds
    return out


def print_run(schedule: str, line: dict[str, float]) -> None:
    """One run: a line of totals, then a line a generation (times in us)."""
    print(f"{schedule:<14} {line['msg/s']:9,.0f} msg/s  young list {line['young']:7,.0f} objs")
    for name in ("g0", "g1", "g2", "all"):
        print(
            f"    {name:<3} {line[f'{name} n/s']:5.2f}/s  wall p50 {line[f'{name} p50']:6.0f} "
            f"p99 {line[f'{name} p99']:6.0f} max {line[f'{name} max']:6.0f}  "
            f"cpu p50 {line[f'{name} cpu p50']:6.0f} p99 {line[f'{name} cpu p99']:6.0f} "
            f"max {line[f'{name} cpu max']:6.0f}  "
            f"cpu {line[f'{name} cpu/s']:6.0f} us/s",
            flush=True,
        )


RATIOS = ("msg/s", "g0 p50", "g0 cpu p99", "all p99", "all cpu p99", "all cpu max", "all cpu/s")


def parent(args: argparse.Namespace) -> None:
    """Run the schedules in turns, each in its own process; print each run and the ratios."""
    schedules = args.schedules.split(",")
    lines: dict[str, list[dict[str, float]]] = {s: [] for s in schedules}
    for _ in range(args.rounds):
        for schedule in schedules:
            command = [sys.executable, __file__, "--child", schedule]
            command += ["--seconds", str(args.seconds)] + (["--ui"] if args.ui else [])
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"{schedule} failed:\n{done.stderr[-3000:]}")
            line = summary(json.loads(done.stdout.strip().splitlines()[-1]))
            lines[schedule].append(line)
            print_run(schedule, line)
    reference = lines[schedules[0]]
    for schedule in schedules[1:]:
        ratios = [
            f"{key} {'/'.join(f'{b[key] / a[key]:.2f}' if a[key] else '-' for a, b in zip(reference, lines[schedule], strict=True))}"  # noqa: E501
            for key in RATIOS
        ]
        print(f"{schedule} / {schedules[0]} (run for run): " + ", ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--schedules", default="cpython,policy")
    parser.add_argument("--ui", action="store_true", help="the whole desk: engine and UI")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = asyncio.run(child(args.child, args.seconds, args.ui))
        print(json.dumps(figures))
        return
    parent(args)


if __name__ == "__main__":
    main()
