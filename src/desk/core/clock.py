"""Clocks: the live one reads the system, the test one is moved by hand."""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time in ns since the epoch."""

    def now_ns(self) -> int:
        return time.time_ns()


class TestClock:
    """A clock that only moves when told to; for deterministic tests."""

    __test__ = False  # not a pytest class

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set_ns(self, now_ns: int) -> None:
        self._now = now_ns

    def advance_ns(self, delta_ns: int) -> None:
        self._now += delta_ns
