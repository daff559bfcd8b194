"""Health probes of the engine process: event-loop lag, CPU and memory."""

from __future__ import annotations

import asyncio
import time
from collections import deque

import psutil

from desk.bridge.views import QueueHealth


class LoopLagMonitor:
    """Measures how late the event loop wakes a timer that should fire every ``interval``.

    A lag of more than a few ms means something blocks the loop (a slow handler, a sync call).
    """

    def __init__(self, interval: float = 0.1, window: int = 600) -> None:
        self.interval = interval
        self._samples: deque[float] = deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def _run(self) -> None:
        while True:
            expected = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self._samples.append(max(0.0, (time.perf_counter() - expected) * 1000))

    @property
    def last_ms(self) -> float:
        return self._samples[-1] if self._samples else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self._samples:
            return 0.0
        ordered = sorted(self._samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class ProcessProbe:
    """CPU percent and resident memory of this process (psutil).

    psutil measures CPU since its previous call, so a reading taken by several callers would
    depend on who asked last; the probe re-measures at most once per ``cpu_window`` seconds and
    hands every caller that same figure.
    """

    def __init__(self, cpu_window: float = 1.0) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # first call primes the counter
        self._cpu_window = cpu_window
        self._cpu_at = time.monotonic()
        self._cpu = 0.0

    def cpu_percent(self) -> float:
        now = time.monotonic()
        if now - self._cpu_at >= self._cpu_window:
            self._cpu = self._process.cpu_percent(None)
            self._cpu_at = now
        return self._cpu

    def rss_bytes(self) -> int:
        return self._process.memory_info().rss


def bounded_histories(execution: object | None) -> list[QueueHealth]:
    """The OMS's bounded histories as queue rows: kept of cap (a warning when nearly full),
    ``over`` = done orders pruned so far / late reports for pruned orders."""
    oms = getattr(execution, "oms", None)
    if oms is None:
        return []
    return [
        QueueHealth(
            name=b.name, depth=b.size, maxsize=b.cap, dropped=0, over_bound=b.pruned or b.late
        )
        for b in oms.bounded()
    ]
