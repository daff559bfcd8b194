"""Book rows of every venue in one schema: an engine with Binance and Coinbase on their
simulators (real WebSockets and REST) records them, a Binance planned reconnect keeps its two
connections apart in raw, and a book rebuilt from nothing but the L2 rows equals the
simulator's own book at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from desk.engine.engine import Engine
from tests.storage.recording.support import read_kind, sim_config
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

BINANCE = {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"}
COINBASE = ("BTC-USD", "ETH-USDT")
Book = tuple[list[tuple[float, float]], list[tuple[float, float]]]


def rebuild(rows: pd.DataFrame, binance_rule: bool) -> dict[str, Book]:
    """Replay L2 rows the way a reader would: a snapshot message (rows sharing symbol,
    local_timestamp and seq_id) replaces the whole book, an update sets each level (amount 0
    deletes). ``binance_rule``: updates already in the last snapshot (seq_id <= its seq_id) are
    skipped, as Binance's procedure says."""
    books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
    loaded: dict[str, int] = {}
    current: dict[str, tuple[int, int]] = {}
    columns = ("symbol", "local_timestamp", "is_snapshot", "side", "price", "amount", "seq_id")
    for symbol, local, snapshot, side, price, amount, seq in zip(
        *(rows[c] for c in columns), strict=True
    ):
        bids, asks = books.setdefault(symbol, ({}, {}))
        if snapshot:
            if current.get(symbol) != (local, seq):
                bids.clear()
                asks.clear()
                current[symbol] = (local, seq)
                loaded[symbol] = seq
        else:
            current.pop(symbol, None)
            if binance_rule and seq <= loaded.get(symbol, -1):
                continue
        levels = bids if side == "bid" else asks
        if amount == 0:
            levels.pop(price, None)
        else:
            levels[price] = amount
    return {
        symbol: (sorted(bids.items(), reverse=True), sorted(asks.items()))
        for symbol, (bids, asks) in books.items()
    }


def as_floats(book: Any) -> Book:
    bids, asks = book
    return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


async def test_binance_and_coinbase_books_rebuild_from_the_recorded_l2_rows(
    tmp_path: Path,
) -> None:
    exchanges = {
        "binance": {"enabled": True, "symbols": list(BINANCE)},
        "coinbase": {"enabled": True, "symbols": list(COINBASE)},
    }
    config = sim_config(
        tmp_path,
        exchanges=exchanges,
        symbols=("BTC-USDT",),  # OKX: one symbol, a light market (three simulators run here)
        steps_per_second=50,
        flush_interval=0.2,
    )
    engine = Engine(config)
    await engine.start()
    try:
        feeds = engine.feeds
        assert feeds is not None
        await feeds.wait_ready(30)
        binance = feeds.feed("BTC-USDT", "binance")
        coinbase = feeds.feed("BTC-USD", "coinbase")
        await wait_until(lambda: binance.counters.messages > 40, 30, "Binance frames")
        assert binance.handover.begin("test: planned reconnect")
        await wait_until(lambda: binance.handovers >= 1, 30, "the handover")
        start = binance.counters.messages
        await wait_until(lambda: binance.counters.messages > start + 40, 30, "more frames")
        await wait_until(lambda: coinbase.counters.messages > 40, 30, "Coinbase frames")

        binance_sim = engine.simulators["binance"]
        coinbase_sim = engine.simulators["coinbase"]
        binance_sim.pause()
        coinbase_sim.pause()
        coinbase_sim.publish()
        for symbol, native in BINANCE.items():
            await wait_until(
                lambda s=symbol, n=native: binance.books[s].seq_id == binance_sim.last_update_id(n),
                30,
                f"the Binance {symbol} book to catch up",
            )
        for symbol in COINBASE:
            await wait_until(
                lambda s=symbol: coinbase.books[s].copy_levels() == coinbase_sim.published_book(s),
                30,
                f"the Coinbase {symbol} book to catch up",
            )
        expected = {
            "binance": {s: as_floats(binance_sim.book(n)) for s, n in BINANCE.items()},
            "coinbase": {s: as_floats(coinbase_sim.published_book(s)) for s in COINBASE},
        }
    finally:
        await engine.stop()
    root = tmp_path / "rec"

    for venue, symbols in (("binance", list(BINANCE)), ("coinbase", list(COINBASE))):
        l2 = read_kind(root, "books", venue)
        assert set(l2["exchange"]) == {venue}
        assert set(l2["symbol"]) == set(symbols)  # desk's names, not BTCUSDT
        assert l2["is_snapshot"].any() and (~l2["is_snapshot"]).any()
        assert (l2["seq_id"] >= 0).all()
        books = rebuild(l2, binance_rule=venue == "binance")
        for symbol in symbols:
            assert books[symbol] == expected[venue][symbol], f"{venue} {symbol}"
            assert len(books[symbol][0]) > 10 and len(books[symbol][1]) > 10

    updates = read_kind(root, "books", "binance").query("~is_snapshot")
    assert (updates["prev_seq_id"] < updates["seq_id"]).all()  # U - 1 < u

    raw = read_kind(root, "raw", "binance")
    ws = raw[raw["stream"] == "ws"]
    assert set(ws["conn"]) == {"binance", "binance~2"}  # the standby recorded apart
    depth = ws[ws["channel"] == "depth@100ms"]
    assert set(depth["symbol"]) == set(BINANCE)
    assert not depth.duplicated(["conn", "payload"]).any()
    rest = raw[raw["stream"] == "rest:/api/v3/depth"]
    assert set(rest["symbol"]) == set(BINANCE)  # the snapshots the books started from
    assert all(p.startswith(b'{"lastUpdateId"') for p in rest["payload"])

    raw = read_kind(root, "raw", "coinbase")
    l2_frames = raw[raw["channel"] == "l2_data"]
    assert set(l2_frames["symbol"]) == set(COINBASE)
    assert "heartbeats" in set(raw["channel"])
    assert (raw.loc[raw["stream"] != "ws", "conn"] == "rest").all()
