"""The backtest kernel against the live path on the same candles.

The same simulated candles go (a) through the backtester and (b) one by one through the real
engine path: the bot manager feeds a bot, whose signal becomes an order through the OmsSink,
pre-trade risk, the OMS (recording to a real SQLite file before sending) and the paper venue,
which fills it against the order book. The book is set so that what the market offers after a
candle closes is the next candle's open, which is what the kernel assumes by default; the
portfolio is marked at each close before the candle is published, as the engine's marks are
the latest prices. Both must give the same fills (times, sides, sizes, prices), the same
round trips, and the same final equity up to the rounding of float fees against exact ones.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from desk.backtest.config import BacktestConfig
from desk.backtest.data import Candles, default_instrument, simulate_candles
from desk.backtest.run import backtest
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.enums import Mode, Side
from desk.core.events import Candle
from desk.execution.config import ExecutionConfig
from desk.execution.risk_rules import RiskConfig
from desk.execution.service import ExecutionService
from desk.market.book import OrderBook
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

SYMBOL, TIMEFRAME = "BTC-USDT", "10s"
CASH = 100_000.0
# Limits far from this test's sizes: risk still runs every check, none of them bites.
ROOMY = RiskConfig(
    max_order_notional=Decimal(10**9),
    max_position_notional_per_bot=Decimal(10**9),
    max_position_notional_per_symbol=Decimal(10**9),
    daily_loss_limit=Decimal(10**9),
    daily_loss_halt=None,
)


class _Endpoints:
    ws_private_url = "ws://unused"
    rest_url = "http://unused"


@pytest.fixture(scope="module")
def candles() -> Candles:
    """One hour of the simulator's BTC-USDT market in 10 s candles (seeded)."""
    return simulate_candles(1.0, SYMBOL, TIMEFRAME, seed=11, steps_per_second=20)


def _candle(c: Candles, i: int) -> Candle:
    end = int(c.end[i])
    return Candle(
        ts_exchange=end,
        ts_recv=end,
        venue="okx",
        symbol=SYMBOL,
        timeframe=TIMEFRAME,
        end=end,
        open=float(c.open[i]),
        high=float(c.high[i]),
        low=float(c.low[i]),
        close=float(c.close[i]),
        volume=float(c.volume[i]),
        quote_volume=float(c.volume[i] * c.close[i]),
        trades=1,
        closed=True,
    )


async def _replay_live(
    c: Candles, bot: dict[str, Any], tmp_path: Path
) -> tuple[list[tuple[int, str, Decimal, Decimal]], Decimal, Decimal]:
    """(fills as (time, side, size, price), final equity, fees) of the live path."""
    instrument = default_instrument(SYMBOL, "paper")
    assert instrument is not None
    clock = TestClock(int(c.end[0]) - c.bar_ns)
    bus = Bus()
    store = SqliteStore(
        StorageConfig(sqlite_path=str(tmp_path / "desk.sqlite"), flush_interval=0.01)
    )
    await store.open()
    book = OrderBook(SYMBOL, venue="paper")
    execution = ExecutionService(
        ExecutionConfig(venue="paper", starting_cash=CASH, risk=ROOMY),
        bus,
        store,
        clock,
        mode=Mode.PAPER,
        symbols=[SYMBOL],
        okx=_Endpoints(),
        book=lambda symbol: book if symbol == SYMBOL else None,
        instruments={SYMBOL: instrument},
    )
    manager = BotManager(bus, store, execution.sink, clock)
    try:
        await execution.start()
        assert not execution.oms.trading_blocked
        manager.add_bot(msgspec.convert(bot, BotConfig))
        manager.start_bot(bot["bot_id"])
        oms, portfolio = execution.oms, execution.portfolio
        n = len(c)
        for i in range(n):
            # What is on offer once candle i has closed: the next candle's open, both sides.
            px = f"{c.open[min(i + 1, n - 1)]:.1f}"
            book.apply_snapshot([(px, "1000")], [(px, "1000")])
            clock.set_ns(int(c.end[i]))
            portfolio.mark(SYMBOL, Decimal(repr(float(c.close[i]))))
            bus.publish(topics.market_data(SYMBOL), _candle(c, i))
            if i < n - 1:  # the kernel never fills a signal on the last bar's close
                await wait_until(lambda: not oms.open_orders(), 30, f"the fill after bar {i}")
        equity, fees = portfolio.equity(), portfolio.totals().fees
        fills = [
            (f.ts_exchange, "buy" if f.side is Side.BUY else "sell", f.size, f.price)
            for f in reversed(oms.fills(limit=10_000))
        ]
        return fills, equity, fees
    finally:
        manager.close()
        await execution.stop()
        await store.close()


def _kernel_fills(c: Candles, position: np.ndarray) -> list[tuple[int, str, float, float]]:
    """The kernel's fills, read off its position curve: at the open of the bar it changed."""
    before = np.concatenate([[0.0], position[:-1]])
    out = []
    for i in np.flatnonzero(position != before).tolist():
        delta = position[i] - before[i]
        out.append(
            (int(c.end[i]) - c.bar_ns, "buy" if delta > 0 else "sell", abs(delta), c.open[i])
        )
    return out


def _round_trips(fills: list[tuple[int, str, Any, Any]]) -> list[tuple[int, int, str, float]]:
    """(entry time, exit time, side, size) from a fill list: a trip runs from leaving 0 (or a
    flip) to coming back to 0 (or the next flip)."""
    trips, pos, opened, side, size = [], 0.0, 0, "", 0.0
    for ts, way, qty, _ in fills:
        new = pos + (float(qty) if way == "buy" else -float(qty))
        new = 0.0 if abs(new) < 1e-12 else new
        if pos != 0.0 and (new == 0.0 or (new > 0) != (pos > 0)):
            trips.append((opened, ts, side, size))
        if new != 0.0 and (pos == 0.0 or (new > 0) != (pos > 0)):
            opened, side, size = ts, "long" if new > 0 else "short", abs(new)
        elif new != 0.0 and abs(new) > abs(pos):
            size = abs(new)
        pos = new
    return trips


CASES = {
    "fixed": (
        {"sizing": "fixed", "size": 0.05},
        BacktestConfig(cash=CASH, sizing="fixed", size=0.05, leverage=None),
    ),
    "fraction": (
        {"sizing": "fraction", "size": 1_000.0, "fraction": 0.4},
        BacktestConfig(cash=CASH, sizing="fraction", size=1_000.0, fraction=0.4, leverage=None),
    ),
    # A bot's signal filters: held signals sent on the candle that confirms them, a cooldown.
    "filtered": (
        {"sizing": "fixed", "size": 0.05, "confirm_bars": 2, "cooldown_s": 30.0},
        BacktestConfig(
            cash=CASH, sizing="fixed", size=0.05, leverage=None, confirm_bars=2, cooldown_s=30.0
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_live_path_and_kernel_trade_alike(
    candles: Candles, case: str, tmp_path: Path
) -> None:
    sizing, config = CASES[case]
    params = {"fast": 3, "slow": 9}
    bot = {"bot_id": "parity", "strategy": "ma_crossover", "symbol": SYMBOL,
           "timeframe": TIMEFRAME, "params": params, **sizing}  # fmt: skip
    live_fills, live_equity, live_fees = await _replay_live(candles, bot, tmp_path)
    result = backtest(candles, "ma_crossover", params, config)
    assert result.config.tick == 0.1 and result.config.lot == 1e-8  # the instrument's rules

    kernel_fills = _kernel_fills(candles, result.position)
    assert len(kernel_fills) >= 20, "the hour should trade"
    assert [(t, s) for t, s, _, _ in live_fills] == [(t, s) for t, s, _, _ in kernel_fills]
    for (_, _, live_size, live_px), (_, _, size, px) in zip(live_fills, kernel_fills, strict=True):
        assert float(live_size) == pytest.approx(size, rel=1e-12)
        assert float(live_px) == pytest.approx(px, rel=1e-12)

    trades = result.trades_frame()
    kernel_trips = [
        (int(r.entry_time), int(r.exit_time), r.side, r.size)
        for r in trades.itertuples()
        if not r.open
    ]
    live_trips = _round_trips(live_fills)
    assert [t[:3] for t in live_trips] == [t[:3] for t in kernel_trips]
    assert [t[3] for t in live_trips] == pytest.approx([t[3] for t in kernel_trips], rel=1e-12)

    # Fees are exact Decimals live and floats in the kernel: they differ by rounding only.
    assert float(live_fees) == pytest.approx(result.metrics["fees"], rel=1e-9)
    assert float(live_equity) == pytest.approx(result.metrics["final_equity"], abs=1e-6)
    assert result.metrics["final_equity"] != CASH
