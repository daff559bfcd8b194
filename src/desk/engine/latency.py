"""The health view's latency distributions: exchange-to-receive per venue, and tick-to-order.

The histograms live where the times are taken: each feed's counters
(:attr:`~desk.feeds.counters.FeedCounters.latency_histogram`, exchange time to receive) and the
bot manager's ``tick_to_order`` (a closed bar's receive to the order its bot handed to
execution). Here they are merged per venue and copied into views, on demand: a UI asks a couple
of times a second, the hot path never waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desk.bridge.views import LatencyView
from desk.core.histogram import LatencyHistogram

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts

EXCHANGE = "exchange"
TICK_TO_ORDER = "tick_to_order"
BOTS = "bots"


def latency_views(engine: EngineParts) -> list[LatencyView]:
    """One view per venue with a feed (exchange-to-receive), then the bots' tick-to-order."""
    per_venue: dict[str, LatencyHistogram] = {}
    feeds = engine.feeds
    for feed in feeds.feeds if feeds is not None else ():
        merged = per_venue.setdefault(feed_venue(feed), LatencyHistogram())
        merged.merge(feed.counters.latency_histogram)
    views = [latency_view(venue, EXCHANGE, h) for venue, h in per_venue.items()]
    timed = getattr(engine.bots, "tick_to_order", None)
    if timed is not None:
        views.append(latency_view(BOTS, TICK_TO_ORDER, timed.histogram))
    return views


def latency_view(name: str, path: str, histogram: LatencyHistogram) -> LatencyView:
    return LatencyView(
        name=name,
        path=path,
        counts=list(histogram.counts),
        count=histogram.count,
        sum_ns=histogram.sum_ns,
        min_ns=histogram.min_ns,
        max_ns=histogram.max_ns,
    )


def feed_venue(feed: Any) -> str:
    """The venue a feed connection belongs to (its reporter names it in every event)."""
    reporter = getattr(feed, "reporter", None)
    return str(getattr(reporter, "venue", "") or getattr(feed, "venue", "") or "okx")
