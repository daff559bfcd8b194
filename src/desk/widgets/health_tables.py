"""The health mode's tables: feeds, feed integrity, engine/process and bus queues.

Each is a ``KeyedTable`` with fixed column widths chosen to fit beside its neighbour at 80
columns; each turns part of a ``HealthView`` into rows of text. Problem values are returned as
``Text`` carrying a component-class style name (warning / error) resolved by the table, so the
colours stay theme variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text

from desk.bridge.views import ConnectionHealth, HealthView, QueueHealth
from desk.core.enums import ConnectionState
from desk.widgets.formatting import (
    fmt_age_ms,
    fmt_bytes,
    fmt_duration,
    fmt_ms,
    fmt_rate,
    sparkline,
)
from desk.widgets.health_history import HealthHistory
from desk.widgets.keyed_table import Column, KeyedTable

TREND_WIDTH = 8
STALE_MESSAGE_MS = 5_000


class HealthTable(KeyedTable):
    """Resolves the 'ok' / 'warning' / 'error' marks of cells to theme-coloured styles."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "health--ok",
        "health--warning",
        "health--error",
        "health--muted",
    }

    def mark(self, text: str, level: str) -> Text:
        if not level:
            return Text(text)
        return Text(text, style=self.get_component_rich_style(f"health--{level}", partial=True))


class FeedTable(HealthTable):
    """One row per connection, grouped by venue: the venue is named on its first row only,
    and a connection named after its venue shows only the rest (``okx-public`` -> public)."""

    COLUMNS = (
        Column("venue", "venue", 8),
        Column("name", "connection", 10),
        Column("state", "state", 12),
        Column("rate", "msg/s", 6, right=True),
        Column("trend", "trend", TREND_WIDTH),
        Column("p50", "p50 ms", 6, right=True),
        Column("p99", "p99 ms", 6, right=True),
        Column("age", "last msg", 8, right=True),
    )

    def show_health(self, health: HealthView, history: HealthHistory) -> None:
        rows: dict[str, Sequence[str | Text]] = {}
        for venue, connections in by_venue(health.connections).items():
            for i, c in enumerate(connections):
                shown = venue if i == 0 else ""
                rows[c.name] = (shown, *self._row(c, history))
        self.show(rows)

    def _row(self, c: ConnectionHealth, history: HealthHistory) -> Sequence[str | Text]:
        state = {
            ConnectionState.CONNECTED: "ok",
            ConnectionState.CONNECTING: "warning",
        }.get(c.state, "error")
        age = "warning" if c.last_message_age_ms > STALE_MESSAGE_MS else ""
        trend = sparkline(history.values(f"msgs:{c.name}"), TREND_WIDTH)
        prefix = f"{c.venue}-"
        return (
            c.name[len(prefix) :] if c.name.startswith(prefix) else c.name,
            self.mark(c.state.value, state),
            fmt_rate(c.msgs_per_s),
            self.mark(trend, "muted"),
            fmt_ms(c.latency_p50_ms),
            fmt_ms(c.latency_p99_ms),
            self.mark(fmt_age_ms(c.last_message_age_ms), age),
        )


class IntegrityTable(HealthTable):
    COLUMNS = (
        Column("name", "connection", 12),
        Column("reconnects", "recon", 5, right=True),
        Column("gaps", "gaps", 5, right=True),
        Column("resyncs", "resync", 6, right=True),
        Column("checksum", "cksum", 5, right=True),
        Column("decode", "decode", 6, right=True),
        Column("books", "books", 7, right=True),
    )

    def show_health(self, health: HealthView) -> None:
        self.show({c.name: self._row(c) for c in health.connections})

    def _row(self, c: ConnectionHealth) -> Sequence[str | Text]:
        def count(value: int, level: str = "warning") -> Text:
            return self.mark(str(value), level if value else "")

        books = self.mark(
            f"{c.books_ready}/{c.books_total}", "warning" if c.books_ready < c.books_total else ""
        )
        return (
            c.name,
            count(c.reconnects),
            count(c.gaps),
            count(c.resyncs),
            count(c.checksum_failures, "error"),
            count(c.decode_errors, "error"),
            books,
        )


class ProcessTable(HealthTable):
    COLUMNS = (
        Column("metric", "engine", 8),
        Column("value", "value", 16, right=True),
        Column("trend", "trend", 8),
    )

    def show_health(self, health: HealthView, history: HealthHistory) -> None:
        over = bool(health.max_memory_bytes) and health.rss_bytes > health.max_memory_bytes
        sqlite_level = "error" if health.sqlite_write_errors else ""
        lag = f"{fmt_ms(health.loop_lag_ms)} p99 {fmt_ms(health.loop_lag_p99_ms)} ms"
        memory = f"{fmt_bytes(health.rss_bytes)}/{fmt_bytes(health.max_memory_bytes)}"
        self.show(
            {
                "lag": ("loop lag", lag, self._trend(history, "loop_lag")),
                "cpu": ("cpu", f"{health.cpu_percent:.0f}%", self._trend(history, "cpu")),
                "memory": ("memory", self.mark(memory, "error" if over else ""), ""),
                "sqlite": (
                    "sqlite",
                    self.mark(
                        f"q {health.sqlite_backlog} · err {health.sqlite_write_errors}",
                        sqlite_level,
                    ),
                    "",
                ),
                "rows": ("rows", f"{health.sqlite_rows_written:,}", ""),
                "uptime": ("uptime", fmt_duration(health.uptime_s), ""),
                **self._recorder_rows(health),
            }
        )

    def _trend(self, history: HealthHistory, name: str) -> Text:
        return self.mark(sparkline(history.values(name), 8), "muted")

    def _recorder_rows(self, health: HealthView) -> dict[str, tuple[str, str | Text, str]]:
        """The recorder's rows/s and bytes written, backlog and drops, free disk (if on)."""
        rec = health.recorder
        if rec is None:
            return {}
        queue = f"q {_short(rec.backlog)} · drop {_short(rec.dropped)}"
        level = "error" if rec.last_error or rec.dropped else ""
        if not level and rec.backlog >= 0.8 * rec.max_backlog:
            level = "warning"
        return {
            "rec": ("recorder", f"{fmt_rate(rec.rows_per_s)}/s {fmt_bytes(rec.bytes_written)}", ""),
            "rec_q": ("rec q", self.mark(queue, level), ""),
            "rec_disk": (
                "rec disk",
                self.mark(
                    "write error" if rec.last_error else f"{fmt_bytes(rec.free_bytes)} free",
                    "error" if rec.last_error else "",
                ),
                "",
            ),
        }


class QueueTable(HealthTable):
    COLUMNS = (
        Column("name", "queue", 13),
        Column("depth", "depth", 11, right=True),
        Column("dropped", "drops", 6, right=True),
        Column("over", "over", 4, right=True),
    )

    def show_health(self, health: HealthView) -> None:
        rows = {q.name: self._row(q) for q in health.queues}
        self.show(rows or {"": (self.mark("(none)", "muted"), "", "", "")})

    def _row(self, q: QueueHealth) -> Sequence[str | Text]:
        full = q.maxsize and q.depth >= 0.8 * q.maxsize
        depth = f"{_short(q.depth)}/{_short(q.maxsize)}" if q.maxsize else _short(q.depth)
        return (
            q.name[:13],
            self.mark(depth, "warning" if full else ""),
            self.mark(str(q.dropped), "error" if q.dropped else ""),
            self.mark(_short(q.over_bound), "warning" if q.over_bound else ""),
        )


def by_venue(connections: Sequence[ConnectionHealth]) -> dict[str, list[ConnectionHealth]]:
    """The connections grouped by venue, venues in the order they first appear."""
    groups: dict[str, list[ConnectionHealth]] = {}
    for c in connections:
        groups.setdefault(c.venue, []).append(c)
    return groups


def _short(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1e6:.0f}M"
    if count >= 10_000:
        return f"{count / 1e3:.0f}k"
    return str(count)
