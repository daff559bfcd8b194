"""``/ws/bot/{bot_id}/status``: the bot's state, mode, position and PnL, and every signal with
its fate (sent, or why not), read from the views every ``1/status_hz`` seconds."""

from __future__ import annotations

import time
from collections.abc import Iterable

from desk.bridge.views import BotView, SignalView
from desk.gateway.clients import PollingStream
from desk.gateway.messages import BotState, BotStatus, SignalItem, encode
from desk.gateway.source import DeskViews

SIGNALS_LOOKED_AT = 500
"""Signals read per look: more than a bot sends between two looks."""
SIGNALS_IN_SNAPSHOT = 20
"""Recent signals a client gets on joining."""


class BotStream(PollingStream):
    route = "/ws/bot/{bot_id}/status"

    def __init__(self, bot_id: str, interval: float, views: DeskViews) -> None:
        super().__init__(interval)
        self.bot_id = bot_id
        self._views = views
        self._state: BotState | None = None
        self._last_seq = 0

    def open(self) -> None:
        signals = self._signals()
        self._last_seq = signals[0].seq if signals else 0
        self._state = self._bot()
        super().open()

    def _bot(self) -> BotState | None:
        for view in self._views.bots().bots:
            if view.bot_id == self.bot_id:
                return bot_state(view)
        return None

    def _signals(self) -> list[SignalView]:
        """This bot's recent signals, newest first."""
        return self._views.signals(bot_id=self.bot_id, limit=SIGNALS_LOOKED_AT).signals

    def poll(self) -> Iterable[bytes]:
        state = self._bot()
        if state is None:  # not (or no longer) in this engine
            return ()
        new = [s for s in self._signals() if s.seq > self._last_seq]
        if state == self._state and not new:
            return ()
        self._state = state
        if new:
            self._last_seq = new[0].seq
        new.reverse()
        return (encode(BotStatus(ts=time.time_ns(), bot=state, signals=_items(new))),)

    def snapshot(self) -> Iterable[bytes]:
        if self._state is None:
            return ()
        recent = [s for s in self._signals() if s.seq <= self._last_seq][:SIGNALS_IN_SNAPSHOT]
        recent.reverse()
        return (encode(BotStatus(ts=time.time_ns(), bot=self._state, signals=_items(recent))),)


def bot_state(view: BotView) -> BotState:
    return BotState(
        bot_id=view.bot_id,
        strategy=view.strategy,
        symbol=view.symbol,
        timeframe=view.timeframe,
        state=view.state,
        mode=view.mode,
        position=view.position,
        pnl=view.pnl,
        signal_count=view.signal_count,
        sent_count=view.sent_count,
        last_signal_ts=view.last_signal_ts,
    )


def _items(signals: list[SignalView]) -> list[SignalItem]:
    return [
        SignalItem(
            seq=s.seq,
            ts=s.ts,
            direction=s.direction,
            strength=s.strength,
            price=s.price,
            fate=s.fate,
            reason=s.reason,
            order_id=s.order_id,
        )
        for s in signals
    ]
