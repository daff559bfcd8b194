"""A bot's signal filters applied to a strategy's signals, so a backtest trades what the bot would.

A bot does not act on every signal its strategy emits: :class:`~desk.signals.bot_manager.
BotManager` filters each one by strength (``min_strength``), by time since the bot's last sent
signal (``cooldown_s``) and by confirmation (``confirm_bars``: the direction must have stood that
many closed candles; a held signal is sent on the candle that confirms it, at that candle's close).
:func:`filtered_codes` runs the same rules, in the same order, over the strategy's signals (its
batch path, :meth:`~desk.signals.strategy.BaseStrategy.array_signals`, which gives each signal's
strength as live) and returns the candidate codes of the signals the bot would have **sent**, on
the bars it would have sent them. The kernels run on those codes unchanged.

Time is the candle's close time (``end``), which is the engine clock when a bot decides. A signal
before ``start`` (the warm-up) is never sent, so it starts no cooldown, but it counts towards a
streak, as the candles a bot saw before it was started do not (the backtest cannot know when a
bot would have been started; the warm-up is the closest).

One difference is left: when a filter dropped the signal between two sent signals of the same
direction, the kernels skip the second (the position already has that direction). A bot with
``fixed`` sizing trades nothing on it either; with ``fraction`` or ``atr`` sizing it would resize
the position to the new target, which the backtest does not.

Without filters (the defaults) the codes are the strategy's own, untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from desk.backtest.config import BacktestConfig
from desk.signals.signal import Direction, Signal
from desk.signals.strategy import EXIT_ANY, LONG, SHORT, BaseStrategy

NS_PER_S = 1_000_000_000
_CODE = {Direction.LONG: LONG, Direction.SHORT: SHORT, Direction.FLAT: EXIT_ANY}
"""The candidate code that moves the kernel's state machine to a sent signal's direction."""


def has_filters(config: BacktestConfig) -> bool:
    """Whether ``config`` asks for any of a bot's signal filters."""
    return config.min_strength > 0.0 or config.cooldown_s > 0.0 or config.confirm_bars > 1


def strategy_codes(
    strategy: BaseStrategy, arrays: Mapping[str, np.ndarray], config: BacktestConfig, start: int
) -> np.ndarray:
    """The codes a backtest runs on: the strategy's own, or those of the signals the bot's
    filters let through (:func:`filtered_codes`)."""
    if not has_filters(config):
        return strategy.batch_codes(arrays)
    return filtered_codes(strategy, arrays, config, start)


def filtered_codes(
    strategy: BaseStrategy, arrays: Mapping[str, np.ndarray], config: BacktestConfig, start: int
) -> np.ndarray:
    """int8 codes, one per bar: a sent signal's direction on the bar it was sent, else 0."""
    end = np.asarray(arrays["end"])
    n = end.shape[0]
    out = np.zeros(n, dtype=np.int8)
    signals = strategy.array_signals({k: np.asarray(v) for k, v in arrays.items()})
    for i, signal in sent_signals(signals, end, config, start):
        out[i] = _CODE[signal.direction]
    return out


def sent_signals(
    signals: list[tuple[int, Signal]], end: np.ndarray, config: BacktestConfig, start: int
) -> list[tuple[int, Signal]]:
    """(bar, signal) of each signal the bot would send, in order (the manager's fates)."""
    confirm = config.confirm_bars
    cooldown_ns = config.cooldown_s * NS_PER_S
    sent: list[tuple[int, Signal]] = []
    last_sent: int | None = None
    streak_direction: Direction | None = None
    streak = 0
    pending: Signal | None = None

    def passes(signal: Signal, i: int) -> bool:
        """The manager's ``_filter``, up to confirmation, for a signal decided on bar i."""
        if signal.strength < config.min_strength:
            return False
        now = int(end[i])
        return not (cooldown_ns > 0 and last_sent is not None and now - last_sent < cooldown_ns)

    def settle(signal: Signal, i: int) -> None:
        nonlocal last_sent
        if i >= start:
            sent.append((i, signal))
            last_sent = int(end[i])

    nxt = iter(signals)
    upcoming = next(nxt, None)
    i = upcoming[0] if upcoming is not None else end.shape[0]
    while i < end.shape[0]:
        if upcoming is not None and upcoming[0] == i:
            signal = upcoming[1]
            upcoming = next(nxt, None)
            if signal.direction is streak_direction:
                streak += 1
            else:
                streak_direction, streak = signal.direction, 1
            pending = None
            if passes(signal, i):
                if streak < confirm:
                    pending = signal
                else:
                    settle(signal, i)
        elif streak_direction is not None:  # a quiet bar: the direction stood one more bar
            streak += 1
            if pending is not None and streak >= confirm:
                held, pending = pending, None
                if passes(held, i):
                    settle(held, i)
        if pending is not None:
            i += 1
            continue
        if upcoming is None:
            break  # nothing held, no signal to come
        if streak_direction is not None:  # the quiet bars up to the next signal, at once
            streak += upcoming[0] - i - 1
        i = upcoming[0]
    return sent
