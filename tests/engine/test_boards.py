"""The bot board (signal history with fates) and the indicator board (live values per pair)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.events import Candle
from desk.engine.bot_board import BotBoard, summarize_change
from desk.engine.indicator_board import IndicatorBoard
from desk.signals import indicators as ind
from desk.signals.bots import BotEvent, BotSignal, SignalFate
from desk.signals.signal import Direction, Signal


def _signal(bot: str, n: int, fate: SignalFate, symbol: str = "BTC-USDT") -> BotSignal:
    sig = Signal(
        ts=n,
        symbol=symbol,
        timeframe="1m",
        direction=Direction.LONG if n % 2 else Direction.SHORT,
        strength=0.5,
        price=100.0 + n,
        indicators={"rsi": 25.0},
        reason=f"reason {n}",
        strategy="rsi_mean_reversion",
    )
    return BotSignal(ts_exchange=n, ts_recv=n, bot_id=bot, signal=sig, fate=fate)


def test_bot_board_keeps_signals_newest_first_and_filters_them() -> None:
    bus = Bus()
    board = BotBoard(bus)
    fates = [SignalFate.SENT, SignalFate.FILTERED_PAUSED, SignalFate.FILTERED_COOLDOWN]
    for n in range(30):
        bot = "a" if n % 3 else "b"
        bus.publish(topics.bot_signals(bot), _signal(bot, n, fates[n % 3]))
    everything, total = board.recent_signals(limit=5)
    assert total == 30 and [s.ts for s in everything] == [29, 28, 27, 26, 25]
    filtered, total = board.recent_signals(fate="filtered")
    assert total == 20 and all(s.fate.startswith("filtered") for s in filtered)
    only_b, total = board.recent_signals(bot_id="b")
    assert total == 10 and {s.bot_id for s in only_b} == {"b"}
    text, total = board.recent_signals(text="REASON 17")
    assert total == 1 and text[0].ts == 17
    assert board.signal_version == 30 and board.signals_seen == 30


def test_bot_board_records_changes_with_who_made_them() -> None:
    bus = Bus()
    board = BotBoard(bus)
    change = BotEvent(
        ts_exchange=0,
        ts_recv=5,
        bot_id="a",
        kind="params",
        detail={"old": {"fast": 5, "slow": 20}, "new": {"fast": 8, "slow": 20}},
        actor="operator",
    )
    bus.publish(topics.bot_signals("a"), change)
    (event,) = board.recent_events("a")
    assert (event.summary, event.actor, event.ts) == ("params fast 5 -> 8", "operator", 5)
    assert board.recent_events("b") == []


@pytest.mark.parametrize(
    ("kind", "detail", "expected"),
    [
        ("mode", {"old": "auto", "new": "manual"}, "mode auto -> manual"),
        ("started", {"state": "running"}, "started"),
        ("restored", {"state": "running", "mode": "paused"}, "restored running / paused"),
        ("sink_error", {"error": "boom"}, "sink_error: boom"),
    ],
)
def test_changes_are_summarized_in_words(kind: str, detail: dict, expected: str) -> None:
    assert summarize_change(kind, detail) == expected


def test_indicator_board_matches_the_batch_kernels() -> None:
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 1, 80))
    high, low = close + rng.uniform(0, 1, 80), close - rng.uniform(0, 1, 80)
    bus = Bus()
    board = IndicatorBoard(bus, ("BTC-USDT",), ("1m",), imbalance=lambda s: 0.25)
    assert board.rows() == []
    for i in range(80):
        candle = Candle(
            ts_exchange=0,
            ts_recv=0,
            venue="okx",
            symbol="BTC-USDT",
            timeframe="1m",
            end=(i + 1) * 60_000_000_000,
            open=float(close[i]),
            high=float(high[i]),
            low=float(low[i]),
            close=float(close[i]),
            volume=1.0,
            quote_volume=float(close[i]),
            trades=1,
            closed=True,
        )
        bus.publish(topics.market_data("BTC-USDT"), candle)
    (row,) = board.rows()
    assert row.bars == 80 and row.imbalance == 0.25
    assert row.rsi_14 == pytest.approx(ind.rsi(close, 14)[-1], rel=1e-12)
    macd, signal, hist = ind.macd(close)
    assert (row.macd, row.macd_signal, row.macd_hist) == pytest.approx(
        (macd[-1], signal[-1], hist[-1]), rel=1e-12
    )
    upper, _, lower = ind.bollinger(close, 20, 2.0)
    assert (row.bb_upper, row.bb_lower) == pytest.approx((upper[-1], lower[-1]), rel=1e-12)
    assert row.atr_14 == pytest.approx(ind.atr(high, low, close, 14)[-1], rel=1e-12)
    assert not math.isnan(row.vol_20) and not math.isnan(row.zscore_20)
