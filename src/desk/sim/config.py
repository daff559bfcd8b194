"""The exchange simulator's settings (``simulator``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from desk.core.config import FrozenConfig, Port, PositiveFloat


class SimulatorConfig(FrozenConfig, frozen=True):
    """The built-in exchange simulator, started in-process when ``enabled``.

    When enabled, the OKX URLs are replaced by the simulator's own loopback URLs.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Port = 0
    seed: int = 7
    checksum: bool = True
    update_interval: PositiveFloat = 0.1
    steps_per_second: PositiveFloat = 200.0
    silence_timeout: PositiveFloat = 30.0
    firehose: bool = False  # push after every market step, as fast as the CPU allows
    # hours of market simulated before start (bar history for market/candles and charts)
    history_hours: Annotated[float, msgspec.Meta(ge=0, le=96)] = 24.0


CATCH_UP_S = 0.1
"""At most this much market time is simulated in one go after the loop was blocked.

A simulator that fell behind (a busy machine, a long GC, a debugger) skips the rest instead of
catching up a whole second of steps at once: catching up blocks the event loop it shares with
the other venues' simulators and the feeds, which then fall further behind.
"""


def catch_up_cap(steps_per_second: float) -> int:
    """The most market steps one tick of a simulator's market loop may run."""
    return max(1, int(steps_per_second * CATCH_UP_S))
