"""The App's between-frames garbage collection keeps CPython's generations turning over."""

from __future__ import annotations

import gc

from desk.app import GC_FULL_EVERY, GC_MIDDLE_EVERY, GC_SAFETY_NET, FrameCollector


def test_it_takes_over_the_schedule_and_gives_it_back() -> None:
    saved = gc.get_threshold()
    collector = FrameCollector()
    collector.start()
    try:
        assert collector.running
        assert gc.get_threshold() == (GC_SAFETY_NET, *saved[1:])
    finally:
        collector.stop()
    assert not collector.running
    assert gc.get_threshold() == saved
    collector.collect()  # stopped: a no-op, not an error


def test_older_generations_get_their_turn() -> None:
    collections = [0, 0, 0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections[info["generation"]] += 1

    collector = FrameCollector()
    collector.start()
    gc.callbacks.append(count)
    try:
        for _ in range((GC_MIDDLE_EVERY + 1) * (GC_FULL_EVERY + 1)):  # a young one per frame
            collector.collect()
    finally:
        gc.callbacks.remove(count)
        collector.stop()
    assert collections[1] >= GC_FULL_EVERY  # every GC_MIDDLE_EVERY young ones
    assert collections[2] >= 1  # every GC_FULL_EVERY middle ones
