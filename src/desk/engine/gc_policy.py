"""When Python's cyclic garbage collector runs: the one policy of the App and the headless engine.

CPython collects when new container objects pass a threshold (700). Every order the OMS keeps
(up to ``execution.history``), every row queued for SQLite and every Strip Textual paints is
such an object, so under load a collection lands every few orders (or several times inside a
frame), and its pause falls on whatever runs: a young collection is cheap, a middle one costs
milliseconds, a full one rescans every live object (tens to hundreds of ms with a large order
history). The policy:

* start-up objects (modules, config, instruments, the loaded order history) are frozen out of
  the collector's view once the engine has started (``gc.freeze``): no full collection rescans
  them;
* CPython's own trigger only as a safety net, past :data:`SAFETY_NET` new objects;
* :meth:`CollectorPolicy.collect` runs the collector at a moment the caller chooses: the App
  right after a frame is painted, the headless engine from a timer (:func:`collect_every`),
  between two turns of the event loop, never inside a frame or an order. The young generation
  each time, the middle one every :data:`MIDDLE_EVERY` times, everything every
  :data:`FULL_EVERY` middle ones (about every 30 s at 10 a second).

Why this schedule and not a shorter one (bench/gc_pauses.py measures each by generation,
under the firehose): a young collection's pause shrinks less than its interval, since much of
what it scans lives longer than either: at 50 a second the young list is ~600 objects against
~1,500 at 10 (pause 0.4x), and the collector's total time is 1.7-2.4x. Middle ones every 0.3 s
instead of 1 s cut the App's longest regular pause (9-13 ms of CPU) by about 60% for the same
total, but the full collection every 30 s got much longer (239 ms against 86 ms of CPU, the
one run that caught both; likely what lives 0.3-1 s, cycles included, reaching the old
generation).

The pause is about the same; it falls where nothing is being drawn or sent, and a full rescan
of the frozen start-up heap never happens.

What a pause costs is what the generations hold. Under the firehose the App's oldest generation
held ~100k objects at a full collection, three quarters of them garbage: finished lines of the
ladder and tape that Textual's compositor had memoised inside themselves (a reference cycle),
~15 tracked objects a line, freed by nothing but a full collection. Those are now freed by
their reference count (widgets/styled.py ``FinishedStrip``), the simulator's resting orders and
levels are ``gc=False`` structs (desk.sim), and the tape and ladder cache fewer lines: ~14k
objects are left, a third of them the market books' cells (desk.market.book_side, lists). The
full collection's CPU went from 62-90 ms to 7.7-11 ms, a middle one's from ~8 ms to ~1.7-3 ms
(bench/gc_pauses.py --ui, old and new trees in turns).

After each full collection the C heap's free pages go back to the system (glibc's
``malloc_trim``): frames, decoded payloads and rows bigger than Python's small-object allocator
serves come from malloc, at tens of thousands a second, and the pages they free otherwise stay
with the process, so the heap swings over hours of a full-speed feed (bench/desk_soak.py prints
RSS by kind of memory: with the trim, glibc's heap grew 0.013 MiB/min over two hours; what crept
before was Python's own arenas, pinned by caches still filling, see widgets/candle_grid.py).
A trim costs about a millisecond and runs at most every ~30 s, between two turns of the loop
like the collection itself. ``DESK_MALLOC_TRIM=0`` turns it off (to compare).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import sys
import time
from collections.abc import Callable

log = logging.getLogger("desk.engine.gc_policy")

SAFETY_NET = 100_000
"""CPython's own young collection only past this many new container objects."""
MIDDLE_EVERY = 10
"""The middle generation every this many collections."""
FULL_EVERY = 30
"""Every generation every this many middle collections."""
PERIOD_S = 0.1
"""How often the headless engine collects (the App: after each frame, about as often)."""

_last_collect = -float("inf")  # monotonic time of the last collection by any policy


def malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)``, or None where there is no such call (or it is turned off)."""
    if sys.platform != "linux" or os.environ.get("DESK_MALLOC_TRIM", "1") == "0":
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class CollectorPolicy:
    """Takes the collector's schedule over (:meth:`start`) and gives it back (:meth:`stop`).

    ``start`` and ``stop`` nest: a policy started by the engine and again by the App is given
    back by the last ``stop``. ``collect`` is a no-op while the policy is not started.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None
        self._holders = 0
        self._trim = malloc_trim()
        self.trims = 0
        """Times the C heap was trimmed (after a full collection)."""

    @property
    def running(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        """Freeze what exists now out of the collector's view; raise its own trigger."""
        self._holders += 1
        if self._saved is not None:
            return
        self._saved = gc.get_threshold()
        gc.collect()  # what is garbage now must not be frozen for good
        gc.freeze()
        gc.set_threshold(SAFETY_NET, *self._saved[1:])

    def stop(self) -> None:
        """Give the collector its own schedule and the frozen objects back."""
        if self._saved is None:
            return
        self._holders = max(0, self._holders - 1)
        if self._holders:
            return
        gc.set_threshold(*self._saved)
        gc.unfreeze()
        self._saved = None

    def collect(self) -> None:
        """One collection: the young generation, or an older one when its turn has come."""
        global _last_collect
        if self._saved is None:
            return
        _, young_runs, middle_runs = gc.get_count()
        if middle_runs >= FULL_EVERY:
            gc.collect(2)
            self._release()
        else:
            gc.collect(1 if young_runs >= MIDDLE_EVERY else 0)
        _last_collect = time.monotonic()

    def _release(self) -> None:
        """Hand the C heap's free pages back to the system (see the module docstring)."""
        if self._trim is None:
            return
        started = time.perf_counter()
        released = self._trim()  # 1 if some memory went back to the system
        self.trims += 1
        log.debug(
            "malloc_trim in %.2f ms, released: %s", (time.perf_counter() - started) * 1e3, released
        )

    def collect_if_due(self, period_s: float = PERIOD_S) -> bool:
        """Collect unless some policy did within ``period_s`` (the App's frames, when it runs
        in this process: the engine's timer then leaves the collections to them); whether it
        collected."""
        if self._saved is None or time.monotonic() - _last_collect < period_s:
            return False
        self.collect()
        return True


POLICY = CollectorPolicy()
"""The process's policy (the collector is process-wide): the App and the engine share it."""


async def collect_every(period_s: float = PERIOD_S, policy: CollectorPolicy = POLICY) -> None:
    """Run the policy's collections from a timer until cancelled (the headless engine)."""
    while True:
        await asyncio.sleep(period_s)
        policy.collect_if_due(period_s)
