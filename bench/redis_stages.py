"""When each stage of a paced tick happened, for ``bench/tick_to_order_redis.py --stages``.

The tracer wraps methods of the live objects (:meth:`Stages.wrap`), so the marks come from the
real path; a wrapper costs about a microsecond, the same in every run. Each stage keeps the
first time it happened in a tick; the report gives each stage's p50 after the tick and the
p25 / p50 / p75 of its step from the stage before it in the same tick.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Stages:
    """Marks per tick (see the module docstring); ``order`` is the order of the report."""

    def __init__(self, order: list[str]) -> None:
        self.order = ["tick", *order]
        self.marks: dict[str, int] = {}
        self.rows: list[dict[str, int]] = []

    def mark(self, name: str) -> None:
        if name not in self.marks:
            self.marks[name] = time.perf_counter_ns()

    def next_tick(self) -> None:
        if self.marks:
            self.rows.append(self.marks)
        self.marks = {}
        self.mark("tick")

    def wrap(self, obj: Any, attr: str, before: str | None, after: str | None) -> None:
        """Mark ``before`` / ``after`` around every call of ``obj.attr`` (sync or async)."""
        inner = getattr(obj, attr)
        mark = self.mark
        if asyncio.iscoroutinefunction(inner):

            async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
                if before:
                    mark(before)
                result = await inner(*args, **kwargs)
                if after:
                    mark(after)
                return result

            setattr(obj, attr, wrapped_async)
            return

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            result = inner(*args, **kwargs)
            if after:
                mark(after)
            return result

        setattr(obj, attr, wrapped)

    def report(self, skip: int = 3) -> None:
        """A stage that did not happen on a tick is left out of that tick's steps."""
        self.next_tick()
        rows = [r for r in self.rows[skip:] if len(r) > 1]
        if not rows:
            return
        print(f"  stages after the tick, microseconds ({len(rows)} ticks):")
        print(f"    {'stage':34} {'p50':>8}   {'step p25':>8} {'p50':>8} {'p75':>8}")
        for at, name in enumerate(self.order):
            since, step = [], []
            for r in rows:
                if name not in r:
                    continue
                since.append((r[name] - r["tick"]) / 1000)
                before = [r[e] for e in self.order[:at] if e in r]
                step.append((r[name] - before[-1]) / 1000 if before else 0.0)
            if name != "tick" and since:
                print(
                    f"    {name:34} {pct(since, 0.5):8.1f}   {pct(step, 0.25):8.1f} "
                    f"{pct(step, 0.5):8.1f} {pct(step, 0.75):8.1f}"
                )
