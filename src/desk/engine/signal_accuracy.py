"""Each bot's signal accuracy: did the price go where its signals pointed?

A LONG (SHORT) signal is *followed* when the close of the N-th closed bar after it, on the
bot's symbol and timeframe, is above (below) the price the signal was decided at; N is
``trading.bots_accuracy_bars``. An unchanged close is not followed. FLAT signals point nowhere
and are not scored. Every signal counts whatever its fate: the question is whether the strategy
was right, not whether it traded (the PnL beside it says that).

Nothing here is on the per-tick path. Signals come from ``bot_signals:*`` (a few a minute). The
closed bars are read from the engine's :class:`~desk.engine.state.MarketState`, which keeps the
last ``CANDLE_HISTORY`` of each symbol and timeframe and counts every one it appended
(``candle_version``), only when a signal arrives or the bots view is built. A signal whose N-th
bar has already left that history when it is next looked at cannot be scored: it is counted in
``expired``, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from desk.bridge.views import BotView
from desk.signals.bots import BotSignal
from desk.signals.signal import Direction

if TYPE_CHECKING:
    from collections.abc import Sequence

    from desk.core.bus import Bus
    from desk.engine.state import MarketState

SIGNS = {Direction.LONG: 1, Direction.SHORT: -1}


@dataclass(slots=True)
class _Pending:
    """A signal waiting for its N-th bar: bars closing after ``after`` (its own bar) count."""

    bot_id: str
    sign: int
    price: float
    after: int
    bars_left: int
    seen: int  # the bar count (``candle_version``) up to which bars were looked at


@dataclass(slots=True)
class Score:
    followed: int = 0
    resolved: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.followed / self.resolved if self.resolved else None


class SignalAccuracy:
    """Scores every bot's LONG/SHORT signals against the bars that came after them."""

    def __init__(self, bus: Bus, state: MarketState, bars: int) -> None:
        if bars < 1:
            raise ValueError(f"bars must be at least 1, got {bars}")
        self.bars = bars
        self.state = state
        self.scores: dict[str, Score] = {}
        self.pending: dict[tuple[str, str], list[_Pending]] = {}
        self.expired = 0
        bus.subscribe("bot_signals:*", self.on_bot_event)

    def on_bot_event(self, event: Any) -> None:
        if isinstance(event, BotSignal):
            self.add(event.bot_id, event.signal)

    def add(self, bot_id: str, signal: Any) -> None:
        """Start scoring one signal (a :class:`~desk.signals.signal.Signal`)."""
        sign = SIGNS.get(signal.direction)
        key = (signal.symbol, signal.timeframe)
        history = self.state.candles.get(key)
        if sign is None or history is None:
            return
        # Bars after the signal's own that are already in the history (a decision delivered
        # late, off the event loop) count too: start looking that many bars back.
        already = 0
        for bar in reversed(history):
            if bar.end <= signal.ts:
                break
            already += 1
        seen = self.state.candle_version.get(key, 0) - already
        self.scores.setdefault(bot_id, Score())
        pending = _Pending(bot_id, sign, signal.price, signal.ts, self.bars, seen)
        self.pending.setdefault(key, []).append(pending)
        self.update()

    def update(self) -> None:
        """Score every pending signal whose N-th bar has closed since it was last looked at."""
        for key, waiting in self.pending.items():
            if waiting:
                self.pending[key] = self._advance(key, waiting)

    def _advance(self, key: tuple[str, str], waiting: list[_Pending]) -> list[_Pending]:
        version = self.state.candle_version.get(key, 0)
        history = self.state.candles[key]
        newest = max(version - p.seen for p in waiting)
        if newest <= 0:
            return waiting
        recent = list(history)[-newest:] if newest <= len(history) else list(history)
        still: list[_Pending] = []
        for p in waiting:
            new = version - p.seen
            if new > len(history):  # its bars left the history unseen: it cannot be scored
                self.expired += 1
                continue
            p.seen = version
            if self._walk(p, recent[len(recent) - new :] if new else ()):
                continue
            still.append(p)
        return still

    def _walk(self, p: _Pending, bars: Sequence[Any]) -> bool:
        """Count ``bars`` for ``p``; True once it is scored."""
        for bar in bars:
            if bar.end <= p.after:
                continue
            p.bars_left -= 1
            if p.bars_left == 0:
                score = self.scores.setdefault(p.bot_id, Score())
                score.resolved += 1
                score.followed += (bar.close - p.price) * p.sign > 0
                return True
        return False

    def annotate(self, bots: list[BotView]) -> list[BotView]:
        """``bots`` with their accuracy filled in (brought up to date first)."""
        self.update()
        out = []
        for bot in bots:
            score = self.scores.get(bot.bot_id)
            if score is not None and score.resolved:
                bot = msgspec.structs.replace(
                    bot, accuracy=score.accuracy, accuracy_signals=score.resolved
                )
            out.append(bot)
        return out
