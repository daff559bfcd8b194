"""Clocks: the live one reads the system, the data one follows the market data (a replay), the
test one is moved by hand."""

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


class DataClock:
    """The market data's own time: the latest exchange time seen (``observe``), never earlier.

    A replay (``candles.clock: data``) runs the engine on this clock, so what is timed on it
    (a bot's cooldown, risk's order rate and daily loss, order and signal stamps) behaves as it
    did when the data was recorded, at whatever speed it is played. 0 before any data.
    """

    def __init__(self) -> None:
        self._now = 0

    def now_ns(self) -> int:
        return self._now

    def observe(self, event: object) -> None:
        """A bus handler: move to the event's exchange time if it is later."""
        ts = getattr(event, "ts_exchange", 0)
        if ts > self._now:
            self._now = ts


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
