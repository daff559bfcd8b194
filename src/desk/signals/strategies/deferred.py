"""Strategies whose decision on a bar comes after the bar: a model inferring off the event loop.

A :class:`DeferredStrategy` is fed candles like any strategy, but :meth:`on_candle` returns
None at once and the decision comes later, from another thread, back on the event loop. The
bot manager gives it, when it becomes a bot's strategy (:meth:`bind`), a ``deliver(signal,
late)`` callback and the :class:`StrategyServices` it needs (the model pool, the order books);
the manager runs a delivered signal through the same fates, audit and overrides as any other,
or records it with the fate ``late`` when ``late`` is true (the decision arrived after a newer
bar: it is not traded).

Its lifecycle, driven by the manager: :meth:`prepare` when the bot starts (load what it needs:
the first model bot imports torch here), :meth:`take_over` when it replaces another strategy
of the same bot (a live parameter change; it may refuse, and the bot keeps the old one),
:meth:`close` when the bot stops or the strategy is replaced. :meth:`on_market` sees the
symbol's other market events (trades, book changes) when ``wants_market`` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from desk.signals.model.live import ModelPool
from desk.signals.signal import Signal
from desk.signals.strategy import BaseStrategy

Deliver = Callable[[Signal, bool], None]
"""deliver(signal, late): hand a decision to the bot manager."""

__all__ = ["DeferredStrategy", "Deliver", "StrategyServices"]


@dataclass(frozen=True, eq=False)
class StrategyServices:
    """What the bot manager lends its deferred strategies."""

    models: ModelPool
    book: Callable[[str], Any] | None = None  # symbol -> its live order book, or None
    clock: Callable[[], int] | None = None  # ns since the epoch (received times)
    orders: Callable[[Any], Any] | None = None  # OrderRequest -> Order: risk, then the OMS
    bus: Any = None  # the engine's bus (strategies that follow their own orders' updates)


def _no_delivery(signal: Signal, late: bool) -> None:
    """Until bound: decisions go nowhere."""


class DeferredStrategy(BaseStrategy):
    """Base of strategies that decide off the event loop (module docstring)."""

    wants_market: ClassVar[bool] = False
    every_venue: ClassVar[bool] = False  # market events of every venue, not the bot's only

    owner: str = ""
    deliver: Deliver = staticmethod(_no_delivery)
    services: StrategyServices | None = None

    def bind(self, owner: str, deliver: Deliver, services: StrategyServices) -> None:
        """Become ``owner``'s strategy: decisions go to ``deliver``."""
        self.owner, self.deliver, self.services = owner, deliver, services

    def prepare(self) -> None:
        """Load what deciding needs (the bot starts); ValueError says why it cannot."""

    def take_over(self, old: BaseStrategy, *, running: bool) -> None:
        """Replace ``old`` as the bot's strategy; ValueError refuses (``old`` stays)."""
        if running:
            self.prepare()

    def close(self) -> None:
        """Let go of what :meth:`prepare` loaded; decisions still in flight are dropped."""

    def on_market(self, event: Any) -> None:
        """A market event of the bot's symbol other than a candle (``wants_market`` only)."""
