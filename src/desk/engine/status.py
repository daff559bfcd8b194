"""The one-line status the headless engine logs periodically."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts


def format_status(engine: EngineParts) -> str:
    parts: list[str] = []
    feeds = engine.feeds
    if feeds is not None:
        for feed in feeds.feeds:
            c = feed.counters.snapshot()
            ready = sum(1 for book in feed.books.values() if book)
            parts.append(
                f"{feed.name} {feed.state} {c.msgs_per_s:,.0f} msg/s "
                f"{c.bytes_per_s / 1024:,.0f} KiB/s "
                f"books {ready}/{len(feed.books)} lat p50 {c.latency_p50_ms:.1f}ms "
                f"p99 {c.latency_p99_ms:.1f}ms reconnects {c.reconnects} gaps {c.gaps} "
                f"resyncs {c.resyncs} cksum {c.checksum_failures} decode {c.decode_errors}"
            )
    parts.append(f"candles {engine.candles_closed}")
    parts.append(f"sqlite backlog {engine.store.backlog} written {engine.store.rows_written}")
    parts.append(f"loop lag p99 {engine.loop_lag.percentile_ms(0.99):.1f}ms")
    parts.append(f"rss {engine.process.rss_bytes() / 2**20:,.0f}MiB")
    return " | ".join(parts)
