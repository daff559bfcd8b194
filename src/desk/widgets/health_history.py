"""Short histories of health rates for the sparklines (no Textual).

One point per second of engine time (``HealthView.ts``), however often the screen samples, so a
sparkline's width means the same span of time at any refresh rate.
"""

from __future__ import annotations

from collections import deque

from desk.bridge.views import HealthView
from desk.widgets.formatting import NS

HISTORY_POINTS = 120


class HealthHistory:
    """Per-second series: msgs/s per connection, loop lag p99 and CPU."""

    def __init__(self, points: int = HISTORY_POINTS) -> None:
        self.points = points
        self.series: dict[str, deque[float]] = {}
        self._last_second = -1

    def record(self, health: HealthView) -> bool:
        """Append one point per series when ``health`` is from a new second."""
        second = health.ts // NS
        if second == self._last_second:
            return False
        self._last_second = second
        self._add("loop_lag", health.loop_lag_p99_ms)
        self._add("cpu", health.cpu_percent)
        for connection in health.connections:
            self._add(f"msgs:{connection.name}", connection.msgs_per_s)
        return True

    def _add(self, name: str, value: float) -> None:
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = deque(maxlen=self.points)
        series.append(value)

    def values(self, name: str) -> list[float]:
        return list(self.series.get(name, ()))
