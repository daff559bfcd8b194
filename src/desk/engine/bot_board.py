"""Folds bot signals and bot changes from the bus into the recent history a UI samples.

Subscribed to ``bot_signals:*`` (the same topic on Redis), so an attached UI can keep the same
board on its side of the wire. Cheap per event: one small view built, one deque append.
"""

from __future__ import annotations

from collections import deque
from itertools import count
from typing import Any

from desk.bridge.views import BotEventView, SignalView
from desk.core.bus import Bus
from desk.signals.activation import describe_seen
from desk.signals.bots import BotEvent, BotSignal

SIGNAL_HISTORY = 5000
EVENT_HISTORY = 2000


class BotBoard:
    """The last :data:`SIGNAL_HISTORY` signals (with their fate) and bot changes."""

    def __init__(self, bus: Bus) -> None:
        self.signals: deque[SignalView] = deque(maxlen=SIGNAL_HISTORY)
        self.events: deque[BotEventView] = deque(maxlen=EVENT_HISTORY)
        self.signal_version = 0
        self.event_version = 0
        self.signals_seen = 0
        self._signal_seq = count(1)
        self._event_seq = count(1)
        bus.subscribe("bot_signals:*", self.on_bot_event)

    def on_bot_event(self, event: Any) -> None:
        if isinstance(event, BotSignal):
            self._on_signal(event)
        elif isinstance(event, BotEvent):
            self._on_change(event)

    def _on_signal(self, event: BotSignal) -> None:
        sig = event.signal
        self.signals.append(
            SignalView(
                seq=next(self._signal_seq),
                ts=sig.ts,
                recorded_ns=event.ts_recv,
                bot_id=event.bot_id,
                symbol=sig.symbol,
                timeframe=sig.timeframe,
                strategy=sig.strategy,
                direction=str(sig.direction),
                strength=sig.strength,
                price=sig.price,
                fate=str(event.fate),
                reason=sig.reason,
                indicators=dict(sig.indicators),
                order_id=event.order_id,
            )
        )
        self.signals_seen += 1
        self.signal_version += 1

    def _on_change(self, event: BotEvent) -> None:
        self.events.append(
            BotEventView(
                seq=next(self._event_seq),
                ts=event.ts_recv,
                bot_id=event.bot_id,
                kind=event.kind,
                summary=summarize_change(event.kind, event.detail),
                actor=event.actor,
            )
        )
        self.event_version += 1

    def recent_signals(
        self,
        *,
        bot_id: str | None = None,
        fate: str | None = None,
        symbol: str | None = None,
        text: str = "",
        limit: int = 200,
    ) -> tuple[list[SignalView], int]:
        """Newest first, filtered; also how many matched in all (before ``limit``)."""
        needle = text.lower()
        out: list[SignalView] = []
        total = 0
        for sig in reversed(self.signals):
            if bot_id and sig.bot_id != bot_id:
                continue
            if fate and not sig.fate.startswith(fate):
                continue
            if symbol and sig.symbol != symbol:
                continue
            if needle and needle not in _haystack(sig):
                continue
            total += 1
            if len(out) < limit:
                out.append(sig)
        return out, total

    def recent_events(self, bot_id: str, limit: int = 50) -> list[BotEventView]:
        """One bot's changes, newest first."""
        return [e for e in reversed(self.events) if e.bot_id == bot_id][:limit]


def _haystack(sig: SignalView) -> str:
    return (
        f"{sig.bot_id} {sig.symbol} {sig.strategy} {sig.direction} {sig.fate} {sig.reason}".lower()
    )


def summarize_change(kind: str, detail: dict[str, Any]) -> str:
    """A bot change in words: 'mode auto -> paused', 'params fast 5 -> 8'."""
    if detail.get("seen"):  # an activation: what the bot saw (desk.signals.activation)
        rest = {k: v for k, v in detail.items() if k != "seen"}
        return f"{summarize_change(kind, rest)}; saw {describe_seen(detail['seen'])}"
    if kind == "mode":
        return f"mode {detail.get('old')} -> {detail.get('new')}"
    if kind == "params":
        old, new = detail.get("old") or {}, detail.get("new") or {}
        changed = [f"{k} {old.get(k, '-')} -> {v}" for k, v in new.items() if old.get(k) != v]
        return "params " + (", ".join(changed) if changed else "unchanged")
    if kind == "params_source":
        return f"params from backtest run #{detail.get('backtest_id')}"
    if kind in ("started", "stopped"):
        return kind
    if kind == "restored":
        return f"restored {detail.get('state')} / {detail.get('mode')}"
    if "error" in detail:
        return f"{kind}: {detail['error']}"
    return kind
