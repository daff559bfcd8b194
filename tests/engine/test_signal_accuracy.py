"""A bot's signal accuracy on a planted series of closes: the share of its LONG/SHORT signals
whose direction the price followed over the next N bars, as the bots mode shows it."""

from __future__ import annotations

from typing import Any

import pytest

from desk.bridge.views import BotView
from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_S
from desk.core.events import Candle
from desk.engine.signal_accuracy import SignalAccuracy
from desk.engine.state import CANDLE_HISTORY, MarketState
from desk.signals.bots import BotSignal, SignalFate
from desk.signals.signal import Direction, Signal

SYM, TF = "BTC-USDT", "1m"
L, S, F = Direction.LONG, Direction.SHORT, Direction.FLAT
CLOSES = [100.0, 101.0, 102.0, 101.0, 100.0, 99.0, 100.0, 101.0, 102.0, 103.0]


def end_of(bar: int) -> int:
    return (bar + 1) * 60 * NS_PER_S


def candle(bar: int, close: float, symbol: str = SYM) -> Candle:
    end = end_of(bar)
    return Candle(
        ts_exchange=end,
        ts_recv=end,
        venue="okx",
        symbol=symbol,
        timeframe=TF,
        end=end,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
        quote_volume=close,
        trades=1,
        closed=True,
    )


def bot_signal(bot_id: str, bar: int, direction: Direction, price: float, **kw: Any) -> BotSignal:
    signal = Signal(
        ts=end_of(bar),
        symbol=kw.get("symbol", SYM),
        timeframe=TF,
        direction=direction,
        strength=1.0,
        price=price,
        indicators={},
        reason="planted",
        strategy="ma_crossover",
    )
    fate = kw.get("fate", SignalFate.SENT)
    return BotSignal(
        ts_exchange=signal.ts, ts_recv=signal.ts, bot_id=bot_id, signal=signal, fate=fate
    )


def bot_view(bot_id: str) -> BotView:
    return BotView(
        bot_id=bot_id,
        strategy="ma_crossover",
        symbol=SYM,
        timeframe=TF,
        state="running",
        mode="auto",
        size=1.0,
        position=0.0,
        pnl=1.5,
        last_signal_ts=None,
        last_signal_direction=None,
        signal_count=0,
        sent_count=0,
        params={},
        min_strength=0.0,
        cooldown_s=0.0,
        confirm_bars=1,
    )


class Rig:
    def __init__(self, bars: int) -> None:
        self.bus = Bus()
        self.state = MarketState(self.bus, (SYM, "ETH-USDT"), (TF,))
        self.accuracy = SignalAccuracy(self.bus, self.state, bars)

    def close(self, bar: int, symbol: str = SYM) -> None:
        self.bus.publish(topics.market_data(symbol), candle(bar, CLOSES[bar % 10], symbol))

    def say(self, bot_id: str, bar: int, direction: Direction, **kw: Any) -> None:
        price = CLOSES[bar % 10]
        event = bot_signal(bot_id, bar, direction, price, **kw)
        self.bus.publish(topics.bot_signals(bot_id), event)

    def shown(self, bot_id: str) -> BotView:
        return self.accuracy.annotate([bot_view(bot_id)])[0]


def test_accuracy_on_a_planted_series_counts_the_signals_the_price_followed() -> None:
    """N = 2 bars. Each signal is published while its own bar is dispatched, before the
    engine's state holds that bar (the bot manager's exact-topic handler runs first)."""
    rig = Rig(bars=2)
    plan = {1: L, 2: L, 3: S, 5: S, 6: L, 7: F, 8: L}
    for bar in range(10):
        if bar in plan:
            rig.say(
                "b1",
                bar,
                plan[bar],
                fate=SignalFate.FILTERED_PAUSED if bar == 3 else SignalFate.SENT,
            )
        rig.close(bar)
    # LONG@1 101 -> bar 3 101: a tie, not followed; LONG@2 102 -> bar 4 100: no;
    # SHORT@3 101 -> bar 5 99: yes (filtered, still scored); SHORT@5 99 -> bar 7 101: no;
    # LONG@6 100 -> bar 8 102: yes; FLAT@7 points nowhere; LONG@8 waits for bar 10.
    shown = rig.shown("b1")
    assert (shown.accuracy, shown.accuracy_signals) == (pytest.approx(2 / 5), 5)
    assert shown.pnl == 1.5  # the rest of the view is left alone
    rig.close(10)  # bar 10 closes at 100 < 102: LONG@8 was wrong
    assert rig.shown("b1").accuracy_signals == 6
    assert rig.shown("b1").accuracy == pytest.approx(2 / 6)


def test_a_decision_delivered_after_newer_bars_is_scored_from_its_own_bar() -> None:
    rig = Rig(bars=2)
    for bar in range(5):
        rig.close(bar)
    rig.say("late", 2, S)  # SHORT at bar 2's 102; bars 3 and 4 are already in: 100 < 102
    shown = rig.shown("late")
    assert (shown.accuracy, shown.accuracy_signals) == (1.0, 1)


def test_a_bot_without_resolved_signals_shows_none_and_other_symbols_do_not_count() -> None:
    rig = Rig(bars=3)
    rig.say("eth", 0, L, symbol="ETH-USDT")
    for bar in range(6):
        rig.close(bar)  # BTC bars only: the ETH signal waits
    assert rig.shown("eth").accuracy is None
    assert rig.shown("eth").accuracy_signals == 0
    assert rig.shown("nobody").accuracy is None
    for bar in range(1, 4):
        rig.close(bar, "ETH-USDT")
    assert rig.shown("eth").accuracy_signals == 1


def test_a_signal_whose_bars_left_the_history_unseen_is_expired_not_guessed() -> None:
    rig = Rig(bars=1)
    rig.close(0)
    rig.say("b1", 0, L)
    for bar in range(1, CANDLE_HISTORY + 10):  # nobody asks for a view meanwhile
        rig.close(bar)
    shown = rig.shown("b1")
    assert shown.accuracy is None
    assert rig.accuracy.expired == 1


def test_bars_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SignalAccuracy(Bus(), MarketState(Bus(), (SYM,), (TF,)), 0)
