"""What a bot saw when it became active, stored with the bot event (an audit's starting point).

When a bot starts (``started``) or resumes automatic trading (``mode`` to ``auto``), the event's
detail gains ``seen``:

    {"seen": {"book": {"bid": [[60000.1, 0.5], ...], "ask": [...], "seq_id": 123},
              "candles": [{"end": ns, "open": .., "high": .., "low": .., "close": ..,
                           "volume": ..}, ...],             # the last closed, oldest first
              "indicators": {"rsi_14": 48.2, "atr_14": 3.1, ...}}}   # NaN while warming up -> null

``ActivationWatch`` keeps the last ``keep`` closed candles of every (symbol, timeframe) from the
bus; the engine lends it the books and the live indicator values, and hangs it on the bot
manager as ``activation``. Without one (a bare manager in tests) events are stored as before.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from desk.core.bus import Bus
from desk.core.events import Candle

BOOK_LEVELS = 5
CANDLES_KEPT = 5


def activating(kind: str, detail: Mapping[str, Any]) -> bool:
    """Whether a bot event makes the bot trade on its own from now on."""
    return kind == "started" or (kind == "mode" and detail.get("new") == "auto")


def _finite(value: float) -> float | None:
    return value if isinstance(value, float | int) and math.isfinite(value) else None


class ActivationWatch:
    """Book tops, last candles and indicator values for a bot's activation event."""

    def __init__(
        self,
        bus: Bus,
        book: Callable[[str], Any],
        indicators: Callable[[str, str], Mapping[str, float]],
        keep: int = CANDLES_KEPT,
    ) -> None:
        self.book = book
        self.indicators = indicators
        self.keep = keep
        self._candles: dict[tuple[str, str], deque[Candle]] = {}
        bus.subscribe("market_data:*", self.on_market_data)

    def on_market_data(self, event: Any) -> None:
        if type(event) is not Candle or not event.closed:
            return
        key = (event.symbol, event.timeframe)
        kept = self._candles.get(key)
        if kept is None:
            kept = self._candles[key] = deque(maxlen=self.keep)
        kept.append(event)

    def seen(self, symbol: str, timeframe: str) -> dict[str, Any]:
        """The snapshot of ``symbol`` on ``timeframe`` now (module docstring)."""
        book = self.book(symbol)
        tops: dict[str, Any] = {"bid": [], "ask": [], "seq_id": None}
        if book is not None:
            tops = {
                "bid": [list(level) for level in book.bids(BOOK_LEVELS)],
                "ask": [list(level) for level in book.asks(BOOK_LEVELS)],
                "seq_id": getattr(book, "seq_id", None),
            }
        candles = [
            {
                "end": c.end,
                "open": c.open,
                "high": c.high,
                "low": c.low,
                "close": c.close,
                "volume": c.volume,
            }
            for c in self._candles.get((symbol, timeframe), ())
        ]
        values = {k: _finite(v) for k, v in self.indicators(symbol, timeframe).items()}
        return {"book": tops, "candles": candles, "indicators": values}


def with_activation(
    watch: ActivationWatch | None, symbol: str, timeframe: str, kind: str, detail: dict[str, Any]
) -> dict[str, Any]:
    """``detail``, plus ``seen`` when the event activates the bot and a watch is lent."""
    if watch is None or not activating(kind, detail):
        return detail
    return {**detail, "seen": watch.seen(symbol, timeframe)}


def describe_seen(seen: Mapping[str, Any]) -> str:
    """A one-line summary for the bot detail's event list: 'bid 60000.1 ask 60000.2 close
    60000.3 rsi_14 48.2' (what is missing is left out)."""
    parts = []
    book = seen.get("book") or {}
    for side in ("bid", "ask"):
        levels = book.get(side) or []
        if levels:
            parts.append(f"{side} {levels[0][0]:g}")
    candles = seen.get("candles") or []
    if candles:
        parts.append(f"close {candles[-1]['close']:g}")
    rsi = (seen.get("indicators") or {}).get("rsi_14")
    if rsi is not None:
        parts.append(f"rsi_14 {rsi:.1f}")
    return " ".join(parts) or "an empty market"
