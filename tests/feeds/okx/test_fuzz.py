"""Thousands of real OKX frames, a quarter of them corrupted, through the real feed path.

The simulator's own pushes go through ``OkxFeed`` -> ``OrderBook`` -> ``CandleAggregator`` ->
``SqliteStore`` on a file (tests/feeds/okx/fuzz.py has the generator and the corruptions). What a
user depends on: no frame stops the feed, every frame is accounted for, the book is the venue's
book whenever the feed calls it live, and SQLite holds only possible candles and short messages
and goes on writing.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from pathlib import Path

import pytest

from desk.core.clock import NS_PER_S
from desk.core.events import Candle, SystemEvent
from desk.feeds.okx.sync import SyncState
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.feeds.okx.fuzz import BTC, FeedFuzzer, is_valid_candle_row

FRAMES = 6000  # per seed; the figure bench/feed_fuzz.py prints is for this path
SEEDS = (11, 12)
MESSAGE_LIMIT = 1000  # a stored message quoting outside data: 200 chars of it plus the reason


@pytest.mark.parametrize("seed", SEEDS)
async def test_corrupted_frames_are_refused_counted_and_never_reach_books_or_storage(
    tmp_path: Path, seed: int
) -> None:
    db = tmp_path / "fuzz.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(db), flush_interval=0.05))
    await store.open()
    fuzzer = FeedFuzzer(
        seed, share=0.25, on_candle=store.record_candle, on_system=store.record_system_event
    )
    try:
        while fuzzer.expect.frames < FRAMES:  # no exception may escape handle_message
            fuzzer.run(fuzzer.expect.frames + 500)
            await asyncio.sleep(0)  # the SQLite writer commits meanwhile
        fuzzer.share = 0.0  # a clean tail: the book must come back and stay with the venue
        fuzzer.run(fuzzer.expect.frames + 200)
        _assert_every_frame_accounted_for(fuzzer)
        _assert_books_follow_the_venue(fuzzer)
        _assert_only_valid_events(fuzzer)

        # storage keeps writing after all that
        last_end = max(c.end for c in fuzzer.candles) + 3600 * NS_PER_S
        store.record_candle(_candle(last_end))
        store.record_system_event(_event("after the fuzz"))
        await store.flush()
    finally:
        await store.close()
    _assert_storage_holds_only_valid_rows(db, fuzzer, last_end)


def _assert_every_frame_accounted_for(fuzzer: FeedFuzzer) -> None:
    c, e = fuzzer.feed.counters, fuzzer.expect
    assert c.messages == e.frames
    assert e.corrupted > FRAMES // 6, "the fuzzer corrupted a real share of the frames"
    # every corrupted frame is counted as exactly one kind of refusal ...
    assert c.decode_errors == e.decode_errors
    assert c.bad_values == e.values
    assert c.bad_timestamps == e.timestamps
    assert c.unknown_channels == e.unknown_channels
    assert c.unknown_symbols == e.unknown_symbols
    assert c.duplicate_trades == e.duplicate_trades
    assert c.gaps >= e.breaks  # a dropped books frame also shows as a gap on the next one
    # levels of another length ([px, sz]) are not an error: the fast decoder reads any length
    assert e.reshaped > 0 and fuzzer.feed.keeper.lenient_frames == 0
    kinds = e.by_kind
    assert e.corrupted == sum(kinds.values())
    assert e.decode_errors + e.unknown_channels + e.unknown_symbols == e.corrupted - kinds.get(
        "replay", 0
    ) - kinds.get("sequence_break", 0)
    # ... and each kind was tried
    for kind in ("truncate", "garbage", "wrong_type", "missing_key", "value", "far_time"):
        assert kinds.get(kind, 0) > 20, kind
    for kind in ("unknown_channel", "unknown_symbol", "sequence_break", "replay"):
        assert kinds.get(kind, 0) > 20, kind


def _assert_books_follow_the_venue(fuzzer: FeedFuzzer) -> None:
    assert fuzzer.book_checks > fuzzer.cycles // 4, "the book was compared on many cycles"
    assert fuzzer.feed.keeper.syncs[BTC].state is SyncState.LIVE
    assert fuzzer.feed.keeper.ready.is_set()
    bids, asks = fuzzer.truth[fuzzer.feed.books[BTC].seq_id]
    book = fuzzer.feed.books[BTC]
    assert book.raw_bids() == bids and book.raw_asks() == asks and bids and asks


def _assert_only_valid_events(fuzzer: FeedFuzzer) -> None:
    assert fuzzer.trades, "good trades still flow"
    for trade in fuzzer.trades:
        assert 0 < trade.price < 1e12 and math.isfinite(trade.size) and trade.size >= 0
        assert abs(trade.ts_recv - trade.ts_exchange) < 300 * NS_PER_S
    ids = [t.trade_id for t in fuzzer.trades]
    assert len(ids) == len(set(ids)), "no trade twice"
    assert fuzzer.candles
    refusals = [e for e in fuzzer.events if e.kind == "decode_error"]
    assert refusals and all(len(e.message) < MESSAGE_LIMIT for e in fuzzer.events)


def _assert_storage_holds_only_valid_rows(db: Path, fuzzer: FeedFuzzer, last_end: int) -> None:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT open, high, low, close, volume, quote_volume, trades, end_ns FROM candles"
        ).fetchall()
        messages = [m for (m,) in conn.execute("SELECT message FROM system_events")]
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        dead = (
            conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
            if ("dead_letters" in tables)
            else 0
        )
    closed = [c for c in fuzzer.candles if c.closed]
    assert len(rows) >= len({(c.timeframe, c.end) for c in closed}) > 10
    assert all(is_valid_candle_row(row[:7]) for row in rows)
    assert any(row[7] == last_end for row in rows), "the candle written after the fuzz is there"
    assert "after the fuzz" in messages
    assert any("refused" in m for m in messages), "refusals are on record"
    assert max(len(m) for m in messages) < MESSAGE_LIMIT, "no 200 kB string was stored"
    assert dead == 0, "no row had to be put aside: bad values never got as far as SQLite"


def _candle(end: int) -> Candle:
    return Candle(
        ts_exchange=end,
        ts_recv=end,
        venue="okx",
        symbol=BTC,
        timeframe="1m",
        end=end,
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=1.0,
        quote_volume=1.5,
        trades=1,
        closed=True,
    )


def _event(message: str) -> SystemEvent:
    return SystemEvent(ts_exchange=0, ts_recv=1, source="test", kind="note", message=message)
