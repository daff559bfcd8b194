"""``/metrics``: the engine's own counters in the Prometheus text format, read at scrape time.

:class:`DeskCollector` is a prometheus-client custom collector: nothing is counted twice and the
hot path pays nothing for it. Each scrape reads the counters the engine keeps anyway (feed
counters, the bus's queues, the SQLite writer, the OMS, the portfolio, the bots, the models)
and the latency histograms where the latencies are measured (each feed's exchange-to-receive
histogram, the bot manager's tick-to-order histogram; :mod:`desk.core.histogram`). Order flow
the engine keeps no total of (fills, rejects, risk denials) comes from :class:`TradeTally`.

Names follow Prometheus' conventions: the ``desk_`` prefix, base units (seconds, bytes),
``_total`` for counters. Money is in the quote currency. docs/grafana-desk.json uses them (a
test holds it to what is exported).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psutil
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from desk.core.histogram import EDGES_NS
from desk.gateway.clients import GatewayStats
from desk.gateway.metrics_trading import trading_metrics
from desk.gateway.source import EngineSource
from desk.gateway.tally import TradeTally

NS = 1e9
EXPORTED_EDGES = tuple(range(10, len(EDGES_NS), 2))
"""Which of the histogram's edges (:data:`~desk.core.histogram.EDGES_NS`, ten a decade) are
exported as ``le`` buckets: five a decade from 10 µs to 100 s (see :func:`exported_buckets`)."""

FEED_COUNTERS = (
    ("messages", "Frames received"),
    ("bytes", "Bytes received"),
    ("reconnects", "Reconnections"),
    ("gaps", "Sequence gaps found (the book was resynced)"),
    ("resyncs", "Books dropped and fetched again"),
    ("checksum_failures", "Book checksum mismatches"),
    ("decode_errors", "Frames that could not be decoded or were refused"),
    ("crossed_books", "Books found crossed"),
    ("duplicate_trades", "Trades seen twice and dropped"),
)


class DeskCollector(Collector):
    """Reads ``source`` (the engine) at each scrape; see the module docstring."""

    def __init__(
        self, source: EngineSource, stats: GatewayStats, tally: TradeTally, clients: Any
    ) -> None:
        self.source = source
        self.stats = stats
        self.tally = tally
        self._clients = clients  # () -> {route: number of clients}
        self._process = psutil.Process()

    def collect(self) -> Iterator[Metric]:
        yield from self._feeds()
        yield from self._engine()
        yield from self._storage()
        yield from trading_metrics(self.source, self.tally)
        yield from self._gateway()

    # -- feeds -----------------------------------------------------------------------------

    def _feeds(self) -> Iterator[Metric]:
        labels = ["venue", "connection"]
        counters = {
            name: CounterMetricFamily(f"desk_feed_{name}", doc, labels=labels)
            for name, doc in FEED_COUNTERS
        }
        connected = GaugeMetricFamily(
            "desk_feed_connected", "1 while the feed connection is up", labels=labels
        )
        age = GaugeMetricFamily(
            "desk_feed_last_message_age_seconds",
            "Time since the connection last received anything",
            labels=labels,
        )
        latency = HistogramMetricFamily(
            "desk_exchange_to_receive_latency_seconds",
            "Exchange time to local receive time of market data (includes clock offset)",
            labels=labels,
        )
        now = time.time_ns()
        feeds = self.source.feeds
        for feed in feeds.feeds if feeds is not None else ():
            c = feed.counters
            key = [feed_venue(feed), feed.name]
            for name, family in counters.items():
                family.add_metric(key, getattr(c, name, 0))
            connected.add_metric(key, 1.0 if str(feed.state) == "connected" else 0.0)
            if c.last_recv_ns:
                age.add_metric(key, max(0.0, (now - c.last_recv_ns) / NS))
            histogram = getattr(c, "latency_histogram", None)
            if histogram is not None:
                buckets, total = exported_buckets(histogram)
                latency.add_metric(key, buckets, total)
        yield from counters.values()
        yield from (connected, age, latency)
        timed = getattr(self.source.bots, "tick_to_order", None)
        if timed is not None:
            family = HistogramMetricFamily(
                "desk_tick_to_order_latency_seconds",
                "A closed bar's receive to the order its bot handed to execution",
            )
            buckets, total = exported_buckets(timed.histogram)
            family.add_metric([], buckets, total)
            yield family

    # -- the engine process ----------------------------------------------------------------

    def _engine(self) -> Iterator[Metric]:
        source = self.source
        yield _gauge(
            "desk_event_loop_lag_seconds",
            "How late the event loop woke the last 100 ms timer",
            source.loop_lag.last_ms / 1e3,
        )
        yield _gauge(
            "desk_event_loop_lag_p99_seconds",
            "99th percentile of the event loop's lag over the last minute",
            source.loop_lag.percentile_ms(0.99) / 1e3,
        )
        times = self._process.cpu_times()
        yield _counter(
            "desk_process_cpu_seconds", "CPU time of the engine process", times.user + times.system
        )
        yield _gauge(
            "desk_process_resident_memory_bytes",
            "Resident memory of the engine process",
            source.process.rss_bytes(),
        )
        started = source.started_ns
        yield _gauge(
            "desk_uptime_seconds",
            "Time since the engine started",
            (time.time_ns() - started) / NS if started else 0.0,
        )
        yield _counter("desk_candles_closed", "Candles closed", source.candles_closed)
        yield _counter(
            "desk_bus_handler_errors",
            "Exceptions raised by bus subscribers (caught)",
            source.bus.handler_errors,
        )

    # -- queues and storage ----------------------------------------------------------------

    def _storage(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("desk_queue_depth", "Events waiting", labels=["queue"])
        size = GaugeMetricFamily("desk_queue_capacity", "The queue's bound", labels=["queue"])
        dropped = CounterMetricFamily(
            "desk_queue_dropped", "Events dropped (conflated or evicted)", labels=["queue"]
        )
        over = CounterMetricFamily(
            "desk_queue_over_bound",
            "Events queued past the bound by a never-drop queue",
            labels=["queue"],
        )
        for sub in self.source.bus.async_subscribers:
            depth.add_metric([sub.name], sub.depth)
            size.add_metric([sub.name], sub.maxsize)
            dropped.add_metric([sub.name], sub.dropped)
            over.add_metric([sub.name], sub.over_bound)
        store = self.source.store
        depth.add_metric(["sqlite-writer"], store.backlog)
        over.add_metric(["sqlite-writer"], store.over_bound)
        yield from (depth, size, dropped, over)
        yield _gauge("desk_sqlite_backlog_rows", "Rows waiting to be written", store.backlog)
        yield _counter("desk_sqlite_rows_written", "Rows committed to SQLite", store.rows_written)
        yield _counter(
            "desk_sqlite_write_errors", "SQLite write attempts that failed", store.write_errors
        )
        yield _counter(
            "desk_sqlite_dead_letters",
            "Rows put aside in dead_letters",
            getattr(store, "dead_letters", 0),
        )
        link = self.source.redis_link
        if link is not None:
            publisher = link.publisher
            yield _gauge("desk_redis_connected", "1 while the Redis link is up", link.connected)
            yield _gauge(
                "desk_redis_backlog_messages",
                "Orders, fills and events waiting to reach Redis",
                publisher.buffered,
            )
            family = CounterMetricFamily(
                "desk_redis_dropped", "Messages for Redis dropped", labels=["kind"]
            )
            family.add_metric(["market"], publisher.dropped_market)
            family.add_metric(["events"], publisher.dropped_events)
            yield family
            yield _counter("desk_redis_reconnects", "Redis reconnections", publisher.reconnects)

    # -- the gateway itself ----------------------------------------------------------------

    def _gateway(self) -> Iterator[Metric]:
        clients = GaugeMetricFamily(
            "desk_gateway_clients", "WebSocket clients connected", labels=["route"]
        )
        for route, count in sorted(self._clients().items()):
            clients.add_metric([route], count)
        yield clients
        for name, doc, label, counts in (
            ("desk_gateway_connections", "Clients accepted", "route", self.stats.connected),
            ("desk_gateway_messages_sent", "Messages sent to clients", "route", self.stats.sent),
            (
                "desk_gateway_clients_closed",
                "Clients the gateway closed (slow: fell too far behind)",
                "reason",
                self.stats.closed,
            ),
            (
                "desk_gateway_requests_refused",
                "Requests refused (unauthorized, full, not_found, bad_request)",
                "reason",
                self.stats.refused,
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=[label])
            for key, value in sorted(counts.items()):
                family.add_metric([key], value)
            yield family


def exported_buckets(histogram: Any) -> tuple[list[tuple[str, float]], float]:
    """Prometheus buckets (``le`` in seconds, cumulative counts) and the sum in seconds.

    The histogram's own edges are exact, so any subset of them gives exact cumulative counts;
    :data:`EXPORTED_EDGES` are exported (everything below 10 µs falls in the first).
    """
    counts = histogram.counts
    buckets = []
    running = 0
    cursor = 0
    for index in EXPORTED_EDGES:
        running += sum(counts[cursor : index + 1])
        cursor = index + 1
        buckets.append((_le(EDGES_NS[index]), float(running)))
    buckets.append(("+Inf", float(histogram.count)))
    return buckets, histogram.sum_ns / NS


def _le(edge_ns: int) -> str:
    return repr(edge_ns / NS)


def feed_venue(feed: Any) -> str:
    """The venue a feed connection belongs to (its reporter names it in every event)."""
    reporter = getattr(feed, "reporter", None)
    return str(getattr(reporter, "venue", "") or getattr(feed, "venue", "") or "okx")


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value))
