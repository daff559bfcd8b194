"""Timing a floor and a subject in turns, so a burst of load from the rest of the machine hits both.

Imported by the feed benches (bench/ is on ``sys.path`` as the script's directory).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def best_rates(
    floor: Callable[[], None], subject: Callable[[], None], count: int, rounds: int
) -> tuple[float, float]:
    """Best items/s of each over ``rounds`` runs, taking turns, with the collector off while
    timing (the runs least disturbed by the rest of the machine)."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, run in enumerate((floor, subject)):
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
            gc.enable()
    return count / best[0], count / best[1]
