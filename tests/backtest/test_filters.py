"""A bot's signal filters in backtests: the backtester sends what the real bot manager sends.

The bot manager (strength, cooldown, confirmation) runs on the same candles as the backtester's
:func:`~desk.backtest.filters.filtered_codes`; the signals it sends, on the bars it sends them,
must be the codes the kernels run on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desk.backtest.batch import evaluate_many
from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.data import Candles, simulate_candles
from desk.backtest.filters import filtered_codes, strategy_codes
from desk.backtest.run import backtest, evaluate, make_strategy
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.events import Candle
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig, BotSignal, SignalFate
from desk.signals.order_sink import PaperSink
from desk.signals.strategy import EXIT_ANY, LONG, SHORT
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

SYMBOL, TIMEFRAME = "BTC-USDT", "10s"
CODE = {"long": LONG, "short": SHORT, "flat": EXIT_ANY}
MEDIAN = -1.0
"""A ``min_strength`` of the median strength of the strategy's signals on these candles."""
FILTERS = [
    {"confirm_bars": 2},
    {"confirm_bars": 4},
    {"cooldown_s": 60.0},
    {"min_strength": MEDIAN},
    {"min_strength": MEDIAN, "cooldown_s": 45.0, "confirm_bars": 3},
]


@pytest.fixture(scope="module")
def candles() -> Candles:
    """Half an hour of the simulator's market in 10 s candles (seeded)."""
    return simulate_candles(0.5, SYMBOL, TIMEFRAME, seed=5, steps_per_second=10)


def _candle(c: Candles, i: int) -> Candle:
    end = int(c.end[i])
    return Candle(
        ts_exchange=end, ts_recv=end, venue="okx", symbol=SYMBOL, timeframe=TIMEFRAME,
        end=end, open=float(c.open[i]), high=float(c.high[i]), low=float(c.low[i]),
        close=float(c.close[i]), volume=float(c.volume[i]), quote_volume=0.0, trades=1,
        closed=True,
    )  # fmt: skip


async def _sent_by_manager(
    c: Candles, strategy: str, params: dict[str, Any], filters: dict[str, Any], tmp_path: Path
) -> np.ndarray:
    """Codes of what the real bot manager sends, on the bar it sends them, candle by candle."""
    bus, clock = Bus(), TestClock(int(c.end[0]) - c.bar_ns)
    store = SqliteStore(StorageConfig(sqlite_path=str(tmp_path / "bots.sqlite")))
    await store.open()
    manager = BotManager(bus, store, PaperSink(), clock)
    sent: list[BotSignal] = []

    def note(event: Any) -> None:
        if isinstance(event, BotSignal) and event.fate is SignalFate.SENT:
            sent.append(event)

    bus.subscribe("bot_signals:*", note)
    try:
        manager.add_bot(
            BotConfig(
                bot_id="f",
                strategy=strategy,
                params=params,
                symbol=SYMBOL,
                timeframe=TIMEFRAME,
                size=1.0,
                **filters,
            )
        )
        manager.start_bot("f")
        for i in range(len(c)):
            clock.set_ns(int(c.end[i]))
            bus.publish(topics.market_data(SYMBOL), _candle(c, i))
    finally:
        manager.close()
        await store.close()
    bar_of = {int(t): i for i, t in enumerate(c.end)}
    out = np.zeros(len(c), dtype=np.int8)
    for e in sent:
        out[bar_of[e.signal.ts]] = CODE[e.signal.direction.value]
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items())
)
@pytest.mark.parametrize(
    ("strategy", "params"),
    [("ma_crossover", {"fast": 3, "slow": 8}), ("rsi_mean_reversion", {"n": 6})],
)
async def test_the_backtest_sends_what_the_bot_manager_sends(
    candles: Candles, strategy: str, params: dict[str, Any], filters: dict[str, Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    if filters.get("min_strength") == MEDIAN:
        found = make_strategy(strategy, params).array_signals(candles.arrays())
        filters = {**filters, "min_strength": float(np.median([s.strength for _, s in found]))}
    live = await _sent_by_manager(candles, strategy, params, filters, tmp_path)
    config = BacktestConfig(**filters)
    ours = filtered_codes(make_strategy(strategy, params), candles.arrays(), config, 0)
    unfiltered = make_strategy(strategy, params).batch_codes(candles.arrays())
    assert np.count_nonzero(live) >= 3, "the filters should leave some signals"
    assert ours.tolist() == live.tolist()
    assert np.count_nonzero(ours) < np.count_nonzero(unfiltered) or not np.array_equal(
        np.flatnonzero(ours), np.flatnonzero(unfiltered)
    ), "these filters should change what is sent"


def test_without_filters_the_codes_are_the_strategys_own(candles: Candles) -> None:
    strategy = make_strategy("ma_crossover", {"fast": 3, "slow": 8})
    codes = strategy_codes(strategy, candles.arrays(), BacktestConfig(), 0)
    assert codes.tolist() == strategy.batch_codes(candles.arrays()).tolist()


def test_confirmation_trades_later_and_less(candles: Candles) -> None:
    params = {"fast": 3, "slow": 8}
    plain = backtest(candles, "ma_crossover", params, BacktestConfig())
    confirmed = backtest(candles, "ma_crossover", params, BacktestConfig(confirm_bars=3))
    assert 0 < confirmed.signals < plain.signals
    assert confirmed.metrics["trades"] < plain.metrics["trades"]


def test_a_sweep_with_filters_matches_one_run_at_a_time(candles: Candles) -> None:
    config = BacktestConfig(confirm_bars=2, cooldown_s=30.0)
    sets = [{"fast": f, "slow": s} for f in (2, 3, 5) for s in (8, 13)]
    arrays = candles.arrays()
    many = evaluate_many(
        arrays, [make_strategy("ma_crossover", p) for p in sets], config, bar_ns=candles.bar_ns
    )
    for params, metrics in zip(sets, many, strict=True):
        one, _ = evaluate(arrays, "ma_crossover", params, config, bar_ns=candles.bar_ns)
        assert metrics == one


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_strength", 1.5, "`min_strength` must be in [0, 1]"),
        ("cooldown_s", -1.0, "`cooldown_s` must be >= 0"),
        ("confirm_bars", 0, "`confirm_bars` must be >= 1"),
    ],
)
def test_bad_filters_are_refused_by_name(field: str, value: Any, message: str) -> None:
    with pytest.raises(BacktestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        BacktestConfig(**{field: value})
