"""The trades hot path: a new second's latency fold waits until the frame's trades are out, and
the per-symbol dedupe the feed keeps is the shared deduplicator's."""

from __future__ import annotations

import json

from desk.core.bus import Bus
from desk.core.events import Trade
from desk.feeds.dedupe import TradeDeduplicator
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed

SYMBOL = "BTC-USDT"
TS_MS = 1_700_000_000_000
MS = 1_000_000


def trades_frame(trade_id: int, ts_ms: int) -> bytes:
    data = {"instId": SYMBOL, "tradeId": str(trade_id), "px": "60000", "sz": "0.01",
            "side": "buy", "ts": str(ts_ms), "count": "1", "seqId": trade_id}  # fmt: skip
    frame = {"arg": {"channel": "trades", "instId": SYMBOL}, "data": [data]}
    return json.dumps(frame, separators=(",", ":")).encode()


def test_a_new_seconds_fold_runs_after_the_frames_trades_are_published() -> None:
    bus, feed_ref, pending_at_publish = Bus(), [], []
    bus.subscribe(
        f"market_data:{SYMBOL}",
        lambda e: pending_at_publish.append(len(feed_ref[0].counters._unfolded)),
    )
    feed = OkxFeed(OkxConfig(), [SYMBOL], ["trades"], bus)
    feed_ref.append(feed)
    feed.handle_message(trades_frame(1, TS_MS), (TS_MS + 2) * MS)
    feed.handle_message(trades_frame(2, TS_MS + 1), (TS_MS + 3) * MS)
    feed.handle_message(trades_frame(3, TS_MS + 1000), (TS_MS + 1005) * MS)  # a new second
    # each trade's own sample is taken before it is published; the third trade, the first of a
    # new second, went out with the first second's sample still pending: the fold came after
    assert pending_at_publish == [1, 1, 2]
    assert feed.counters._unfolded == []  # and the fold ran once it had
    histogram = feed.counters.latency_histogram
    assert (histogram.count, histogram.min_ns, histogram.max_ns) == (3, 2 * MS, 5 * MS)


def test_the_feed_drops_replays_known_to_the_shared_deduplicator() -> None:
    """The deduplicator handed in is used even while empty (an empty one is falsy)."""
    dedupe, published = TradeDeduplicator(), []
    bus = Bus()
    bus.subscribe(f"market_data:{SYMBOL}", published.append)
    feed = OkxFeed(OkxConfig(), [SYMBOL], ["trades"], bus, dedupe=dedupe)
    assert not dedupe.is_duplicate("okx", SYMBOL, "7")
    feed.handle_message(trades_frame(7, TS_MS), (TS_MS + 1) * MS)
    feed.handle_message(trades_frame(8, TS_MS), (TS_MS + 1) * MS)
    assert [t.trade_id for t in published if type(t) is Trade] == ["8"]
    assert feed.counters.duplicate_trades == 1
    dedupe.clear()
    feed.handle_message(trades_frame(8, TS_MS), (TS_MS + 1) * MS)
    assert [t.trade_id for t in published] == ["8", "8"]
