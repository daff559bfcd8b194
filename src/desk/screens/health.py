"""Health mode: feeds, integrity counters, engine and process, bus queues, latency
distributions, recent events.

Keeps its own short history of rates for the sparklines and of latency counts for the last
minute's distributions; it records only while visible (the App samples hidden screens never),
so the history is of the time you were watching.

The latency table, the rate charts and the events share one container (``#health-lower``) whose
layout is set here, so the grid of the wide layout in desk.tcss keeps its rows.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Footer, Label

from desk.bridge.views import HealthView
from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.widgets.event_log import EventLogView
from desk.widgets.formatting import fmt_bytes, fmt_duration
from desk.widgets.health_history import HealthHistory
from desk.widgets.health_latency import LatencyTable
from desk.widgets.health_tables import FeedTable, IntegrityTable, ProcessTable, QueueTable
from desk.widgets.rate_chart import RateCharts


class HealthScreen(DeskScreen):
    """Everything behind the market view, and whether it is keeping up."""

    MODE_TITLE = "health"
    BINDINGS = bindings("health")
    DEFAULT_CSS = """
    HealthScreen #health-lower { height: 1fr; min-height: 9; }
    HealthScreen.-wide #health-lower { column-span: 2; }
    HealthScreen #latency {
        height: auto;
        border-top: solid $panel;
        border-title-color: $foreground;
        border-title-style: bold;
        scrollbar-size-horizontal: 0;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.history = HealthHistory()
        self.health: HealthView | None = None

    def compose(self) -> ComposeResult:
        yield self.header
        yield Label("", id="memory-warning")
        with Container(id="health-body"):
            yield FeedTable(id="feeds")
            yield IntegrityTable(id="integrity")
            with Horizontal(id="health-system"):
                yield ProcessTable(id="process", show_header=False)
                yield QueueTable(id="queues")
            with Vertical(id="health-lower"):
                yield LatencyTable(id="latency")
                yield RateCharts(id="rate-charts")
                yield EventLogView(id="events")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        titles = {
            "#feeds": "feeds",
            "#integrity": "integrity",
            "#process": "engine · process",
            "#queues": "bus queues",
            "#latency": "latency",
            "#events": "system events",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.feeds = self.query_one(FeedTable)
        self.integrity = self.query_one(IntegrityTable)
        self.process = self.query_one(ProcessTable)
        self.queues = self.query_one(QueueTable)
        self.events = self.query_one(EventLogView)
        self.memory_warning = self.query_one("#memory-warning", Label)
        self.charts = self.query_one(RateCharts)
        self.latency = self.query_one(LatencyTable)

    def sample_body(self, ctx: RefreshContext) -> None:
        """Draw the App's latest health sample (it samples at a steady, lower rate)."""
        self.events.show(ctx.events.since(self.events.last_seq))
        health = ctx.health
        if health is None or (self.health is not None and health.version == self.health.version):
            return
        self.health = health
        self.history.record(health)
        self.feeds.show_health(health, self.history)
        self.integrity.show_health(health)
        self.process.show_health(health, self.history)
        self.queues.show_health(health)
        self.latency.show_latencies(health, self.history)
        self._title_latency()
        if self.charts.display:
            self.charts.show(self.history)
        self._show_memory_warning(health)

    def _title_latency(self) -> None:
        window = self.latency.window_s
        span = f"last {window}s" if window < 120 else f"last {fmt_duration(window)}"
        span = span if window else "since the engine started"
        self.latency.border_title = f"latency · {span}"

    def _show_memory_warning(self, health: HealthView) -> None:
        over = bool(health.max_memory_bytes) and health.rss_bytes > health.max_memory_bytes
        self.memory_warning.display = over
        if over:
            self.memory_warning.update(
                f" ⚠ memory {fmt_bytes(health.rss_bytes)} is over the limit "
                f"{fmt_bytes(health.max_memory_bytes)} (system.max_memory_usage) "
            )
