"""History at start: charts backfilled from the venue's REST candles, bots warmed up on them but
trading only on live bars."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest

from desk.config import DeskConfig, with_simulator
from desk.core import topics
from desk.core.clock import NS_PER_S
from desk.core.events import Candle
from desk.engine.backfill import BarPlan, build_candles, plan
from desk.engine.engine import Engine
from desk.feeds.okx.rest import RestCandle
from desk.signals.bots import BotConfig, BotSignal
from tests.waiting import wait_until

SYM = "BTC-USDT"
BARS = 40


@pytest.mark.parametrize(
    ("timeframe", "bar", "per"),
    [
        ("1m", "1m", 1),
        ("5m", "5m", 1),
        ("10m", "5m", 2),
        ("1h", "1H", 1),
        ("8h", "4H", 2),
        ("1d", "1Dutc", 1),
        ("1w", "1Dutc", 7),
        ("1s", None, 0),
        ("3s", None, 0),
    ],
)
def test_plan_fetches_or_rebuilds_each_timeframe(timeframe: str, bar: str | None, per: int) -> None:
    p = plan(timeframe)
    assert (p.bar, p.per) == (bar, per)


def row(start_s: int, o: str, h: str, lo: str, c: str, vol: str, done: bool = True) -> RestCandle:
    return RestCandle(start_s * 1000, o, h, lo, c, vol, str(float(vol) * float(c)), done)


def test_build_candles_right_aligns_rebuilds_and_drops_partial_bars() -> None:
    p = BarPlan("10m", "5m", 300, 2)
    rows = [  # newest first, as OKX sends them
        row(1800, "13", "13", "12", "12", "1", done=False),
        row(1500, "11", "14", "10", "13", "2"),
        row(1200, "10", "12", "9", "11", "3"),
        row(900, "9", "9", "9", "10", "1"),  # second half of a bar whose first half is missing
    ]
    closed, forming = build_candles(SYM, p, rows, now_ns=1900 * NS_PER_S)
    [bar] = closed
    assert bar.end == 1800 * NS_PER_S, "the bar of 1200-1800 s is stamped by its end"
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (10.0, 14.0, 9.0, 13.0, 5.0)
    assert bar.closed and bar.backfill and bar.timeframe == "10m"
    assert forming is not None and forming.end == 2400 * NS_PER_S and not forming.closed


def sim_config(tmp_path: Path, bars: int = BARS) -> DeskConfig:
    config = with_simulator(DeskConfig())
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "desk.sqlite"))
    candles = msgspec.structs.replace(config.candles, backfill_bars=bars)
    trading = msgspec.structs.replace(config.trading, symbols=(SYM,))
    bot = BotConfig(
        bot_id="warm1",
        strategy="ma_crossover",
        params={"fast": 2, "slow": 3},
        symbol=SYM,
        timeframe="1m",
        size=0.001,
    )
    return msgspec.structs.replace(
        config, storage=storage, candles=candles, trading=trading, bots=(bot,)
    )


async def test_engine_starts_with_history_and_bots_trade_only_live(tmp_path: Path) -> None:
    engine = Engine(sim_config(tmp_path))
    seen: list[Any] = []
    engine.bus.subscribe(topics.market_data(SYM), seen.append)
    engine.bus.subscribe("bot_signals:*", seen.append)
    await engine.start()
    try:
        backfilled = [e for e in seen if isinstance(e, Candle) and e.backfill]
        by_tf: dict[str, list[Candle]] = {}
        for c in backfilled:
            by_tf.setdefault(c.timeframe, []).append(c)
        minutes = by_tf["1m"]
        assert len(minutes) == BARS and all(c.closed for c in minutes)
        ends = [c.end for c in minutes]
        assert all(b - a == 60 * NS_PER_S for a, b in pairwise(ends))
        assert time.time_ns() - 120 * NS_PER_S < ends[-1] <= time.time_ns()
        assert len(by_tf["5m"]) == BARS and len(by_tf["1h"]) >= 20, "24 h of simulated past"
        assert "1s" not in by_tf and "3s" not in by_tf, "no second bars over REST: live only"
        forming = engine.candles[SYM].forming("1m")
        assert forming is not None and forming.end == ends[-1] + 60 * NS_PER_S
        early = [e.signal.ts for e in seen if isinstance(e, BotSignal)]  # a minute may close
        assert all(ts > ends[-1] for ts in early), "no signal from a backfilled bar"
        strategy = engine.bots.strategy("warm1")
        assert strategy._prev, "the bot warmed up on the backfilled bars"  # type: ignore[attr-defined]

        # live bars: a sharp rise then a sharp fall must give signals, decided on live bars
        last = minutes[-1]
        for i, close in enumerate([last.close * 1.2, last.close * 1.3, last.close * 0.5] * 2, 1):
            live = msgspec.structs.replace(
                last, end=last.end + i * 60 * NS_PER_S, close=close, backfill=False
            )
            engine.bus.publish(topics.market_data(SYM), live)
        await wait_until(lambda: any(isinstance(e, BotSignal) for e in seen), what="a signal")
        signals = [e for e in seen if isinstance(e, BotSignal)]
        assert all(s.signal.ts > last.end for s in signals)
    finally:
        await engine.stop()


async def test_backfill_off_leaves_charts_to_fill_live(tmp_path: Path) -> None:
    engine = Engine(sim_config(tmp_path, bars=0))
    seen: list[Any] = []
    engine.bus.subscribe(topics.market_data(SYM), seen.append)
    await engine.start()
    try:
        assert not [e for e in seen if isinstance(e, Candle)]
        assert engine.candles[SYM].forming("1m") is None
    finally:
        await engine.stop()
