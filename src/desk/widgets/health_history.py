"""Short histories of health rates for the sparklines, and of latency counts for windows
(no Textual).

One point per second of engine time (``HealthView.ts``), however often the screen samples, so a
sparkline's width means the same span of time at any refresh rate. The latency histograms in a
view count everything since the engine started; the counts kept here turn them into a recent
window (:meth:`HealthHistory.latency_window`): now minus a minute ago.
"""

from __future__ import annotations

from collections import deque

from desk.bridge.views import HealthView, LatencyView
from desk.widgets.formatting import NS
from desk.widgets.latency_bars import latency_key

HISTORY_POINTS = 120
LATENCY_WINDOW_S = 60


class HealthHistory:
    """Per-second series: msgs/s per connection, loop lag p99 and CPU; latency counts."""

    def __init__(self, points: int = HISTORY_POINTS) -> None:
        self.points = points
        self.series: dict[str, deque[float]] = {}
        self.latency: deque[tuple[int, dict[str, tuple[int, ...]]]] = deque(maxlen=points)
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
        counts = {latency_key(view): tuple(view.counts) for view in health.latencies}
        self.latency.append((second, counts))
        return True

    def _add(self, name: str, value: float) -> None:
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = deque(maxlen=self.points)
        series.append(value)

    def values(self, name: str) -> list[float]:
        return list(self.series.get(name, ()))

    def latency_window(
        self, view: LatencyView, span_s: int = LATENCY_WINDOW_S
    ) -> tuple[list[int] | None, int]:
        """(counts of ``view`` over about the last ``span_s`` seconds, the seconds covered).

        The window starts at the newest kept point at least ``span_s`` old (older when the
        screen was away: the seconds say so). (None, 0) while there is no such point, or when
        the counts went down (a new engine): the view's own counts, since its start, stand.
        """
        if not self.latency:
            return None, 0
        now = self.latency[-1][0]
        key = latency_key(view)
        for second, counts in reversed(self.latency):
            if second > now - span_s:
                continue
            before = counts.get(key)
            if before is None or len(before) != len(view.counts):
                return None, 0
            window = [a - b for a, b in zip(view.counts, before, strict=True)]
            if min(window) < 0:
                return None, 0
            return window, now - second
        return None, 0
