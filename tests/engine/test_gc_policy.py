"""One garbage-collector policy for the App and the headless engine (engine/gc_policy.py):
start-up objects frozen, collections at moments the caller picks, the schedule given back."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from desk.config import DeskConfig
from desk.engine import gc_policy
from desk.engine.engine import Engine
from desk.engine.gc_policy import POLICY, SAFETY_NET, CollectorPolicy, collect_every
from desk.storage.config import StorageConfig
from tests.waiting import wait_until


def test_it_freezes_the_start_up_heap_and_gives_everything_back() -> None:
    saved, frozen = gc.get_threshold(), gc.get_freeze_count()
    policy = CollectorPolicy()
    policy.start()
    try:
        assert policy.running
        assert gc.get_threshold() == (SAFETY_NET, *saved[1:])
        assert gc.get_freeze_count() > frozen
    finally:
        policy.stop()
    assert not policy.running
    assert gc.get_threshold() == saved
    assert gc.get_freeze_count() == frozen


def test_the_last_holder_gives_it_back() -> None:
    saved = gc.get_threshold()
    policy = CollectorPolicy()
    policy.start()  # the engine
    policy.start()  # the App, in the same process
    policy.stop()
    assert policy.running and gc.get_threshold()[0] == SAFETY_NET
    policy.stop()
    assert not policy.running and gc.get_threshold() == saved


def test_each_generation_is_collected_when_its_turn_comes() -> None:
    """The young generation each time; the middle one every MIDDLE_EVERY young ones; all of
    them every FULL_EVERY middle ones (CPython's own counts say whose turn it is)."""
    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    policy = CollectorPolicy()
    policy.start()
    gc.callbacks.append(record)
    try:
        policy.collect()
        assert seen == [0]  # just after start: the young generation
        while 1 not in seen:
            policy.collect()
        assert seen.count(0) == gc_policy.MIDDLE_EVERY
        while 2 not in seen:
            policy.collect()
        assert seen.count(1) == gc_policy.FULL_EVERY
        assert gc.get_count()[1:] == (0, 0)  # a full collection starts every count again
    finally:
        gc.callbacks.remove(record)
        policy.stop()


def test_a_timer_collection_waits_for_one_that_just_happened() -> None:
    policy = CollectorPolicy()
    policy.start()
    try:
        policy.collect()  # e.g. the App's, after a frame
        assert not policy.collect_if_due(period_s=3600)
        assert policy.collect_if_due(period_s=0)
    finally:
        policy.stop()
    assert not policy.collect_if_due(period_s=0)  # stopped: nothing to do


def test_a_full_collection_hands_the_c_heaps_free_pages_back(monkeypatch) -> None:
    """glibc here: after the full collection (its turn comes every FULL_EVERY middle ones) the
    heap is trimmed, so pages freed by big short-lived objects do not stay with the process."""
    policy = CollectorPolicy()
    assert policy._trim is not None, "glibc's malloc_trim should be found on Linux"
    policy.start()
    try:
        for _ in range((gc_policy.FULL_EVERY + 1) * (gc_policy.MIDDLE_EVERY + 1)):
            policy.collect()
        assert policy.trims >= 1
    finally:
        policy.stop()
    monkeypatch.setenv("DESK_MALLOC_TRIM", "0")
    assert CollectorPolicy()._trim is None  # turned off, to compare in a bench


async def test_the_headless_timer_collects() -> None:
    seen: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    policy = CollectorPolicy()
    policy.start()
    gc.callbacks.append(count)
    timer = asyncio.get_running_loop().create_task(collect_every(0.01, policy))
    try:
        await wait_until(lambda: len(seen) >= 3, what="collections from the timer")
    finally:
        timer.cancel()
        gc.callbacks.remove(count)
        policy.stop()


async def test_engine_run_holds_the_policy_while_it_runs(tmp_path: Path, monkeypatch) -> None:
    config = DeskConfig(storage=StorageConfig(sqlite_path=str(tmp_path / "desk.sqlite")))
    engine = Engine(config)
    calls: list[str] = []

    async def start() -> None:
        calls.append("start")

    async def stop() -> None:
        calls.append(f"stop while the policy runs: {POLICY.running}")

    monkeypatch.setattr(engine, "start", start)
    monkeypatch.setattr(engine, "stop", stop)
    saved = gc.get_threshold()
    stopping = asyncio.Event()
    run = asyncio.get_running_loop().create_task(engine.run(stop=stopping))
    await wait_until(lambda: POLICY.running, what="the engine's policy")
    assert gc.get_threshold()[0] == gc_policy.SAFETY_NET
    stopping.set()
    await run
    assert calls == ["start", "stop while the policy runs: True"]
    assert not POLICY.running and gc.get_threshold() == saved
