"""Signals a bot sustains: candles from the simulator's market through the whole bot path.

The simulator's synthetic market (seeded) is stepped offline and its trades aggregated into 1s
candles for BTC-USDT. Those candles are then pushed, as fast as the CPU allows, through:

* reference: ``strategy.on_candle`` alone (the decision, nothing else);
* bot path: bus -> BotManager (filters, fate) -> PaperSink -> SQLite write-behind into a real
  file (flushed before the clock stops) -> ``bot_signals:{id}`` -> the UI's BotBoard.

It prints candles/s and signals/s for each, with the strategy parameters chosen to signal
often (MA crossover fast=2, slow=3: a signal every few bars). Figures only, never asserts.

    .venv/bin/python bench/bot_signals.py [--candles 5000] [--bots 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_MS, TestClock
from desk.core.events import Candle
from desk.engine.bot_board import BotBoard
from desk.market.candles import CandleAggregator
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig
from desk.signals.order_sink import PaperSink
from desk.signals.strategies import create_strategy
from desk.sim.instruments import DEFAULT_INSTRUMENTS
from desk.sim.market import SyntheticMarket
from desk.storage.config import StorageConfig

SYMBOL = "BTC-USDT"
PARAMS = {"fast": 2, "slow": 3}
STEP_MS = 50


def simulator_candles(count: int, seed: int = 7) -> list[Candle]:
    """``count`` closed 1s candles of the simulator's BTC-USDT market (20 steps a second)."""
    spec = next(s for s in DEFAULT_INSTRUMENTS if s.inst_id == SYMBOL)
    market = SyntheticMarket([spec], seed=seed)
    tick, lot = float(spec.tick_sz), float(spec.lot_sz)
    clock = TestClock(1_700_000_000_000 * NS_PER_MS)
    out: list[Candle] = []
    agg = CandleAggregator("okx", SYMBOL, ("1s",), clock, out.append)
    while len(out) < count:
        clock.advance_ns(STEP_MS * NS_PER_MS)
        ts_ms = clock.now_ns() // NS_PER_MS
        market.step(ts_ms)
        for trade in market.drain_trades(SYMBOL):
            agg.on_trade(clock.now_ns(), trade.price * tick, trade.size * lot)
        agg.on_clock()
    return [c for c in out if c.closed][:count]


def reference(candles: list[Candle]) -> tuple[float, int]:
    strategy = create_strategy("ma_crossover", PARAMS)
    start = time.perf_counter()
    signals = sum(1 for c in candles if strategy.on_candle(c) is not None)
    return time.perf_counter() - start, signals


async def bot_path(candles: list[Candle], bots: int, db: Path) -> tuple[float, int, int]:
    from desk.storage.sqlite import SqliteStore

    bus = Bus()
    store = SqliteStore(StorageConfig(sqlite_path=str(db)))
    await store.open()
    board = BotBoard(bus)
    manager = BotManager(bus, store, PaperSink(), TestClock(0))
    for i in range(bots):
        config = BotConfig(
            bot_id=f"bot{i}",
            strategy="ma_crossover",
            symbol=SYMBOL,
            timeframe="1s",
            size=1.0,
            params=PARAMS,
        )
        manager.add_bot(config)
        manager.start_bot(config.bot_id)
    await store.flush()
    topic = topics.market_data(SYMBOL)
    publish = bus.publish
    start = time.perf_counter()
    for i, candle in enumerate(candles):
        publish(topic, candle)
        if i % 1000 == 999:
            await asyncio.sleep(0)  # let the SQLite writer run, as the event loop would
    await store.flush()
    elapsed = time.perf_counter() - start
    rows = store.rows_written
    await store.close()
    return elapsed, board.signals_seen, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=5_000)
    parser.add_argument("--bots", type=int, default=1)
    args = parser.parse_args()

    t0 = time.perf_counter()
    candles = simulator_candles(args.candles)
    print(
        f"{len(candles):,} 1s candles from the simulator market in {time.perf_counter() - t0:.1f}s"
    )
    reference(candles)  # warm-up
    ref_s, ref_signals = reference(candles)
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, signals, rows = asyncio.run(bot_path(candles, args.bots, Path(tmp) / "b.sqlite"))
    n = len(candles)
    print(
        f"reference  on_candle only      : {n / ref_s:>11,.0f} candles/s  "
        f"{ref_signals / ref_s:>9,.0f} signals/s  ({ref_signals:,} signals)"
    )
    print(
        f"bot path   x{args.bots} (filters+SQLite+bus): {n * args.bots / elapsed:>11,.0f} "
        f"candle-bots/s {signals / elapsed:>9,.0f} signals/s  ({signals:,} signals, "
        f"{rows:,} rows written)"
    )
    print(
        f"ratio bot path / reference (signals/s): {signals / elapsed / (ref_signals / ref_s):.2f}"
    )


if __name__ == "__main__":
    main()
