"""The seam between bots and execution: where a bot's accepted signals go.

THIS IS WHERE THE OMS PLUGS IN. The :class:`~desk.signals.bot_manager.BotManager` hands every
signal that passed its filters (fate ``SENT``) to an :class:`OrderSink`. Today that is
:class:`PaperSink`, which only records what it would have traded. The OMS (pre-trade risk, order
state machine, venues; DESIGN.md section 5) will implement the same two methods: ``submit``
turns the signal into orders that move the bot's position to its target and returns an id;
``position`` reports the bot's position as execution sees it.

Target semantics: a signal names the position the bot wants, not a trade. LONG targets
``+bot.size``, SHORT ``-bot.size``, FLAT ``0``; the sink trades the difference.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec

from desk.signals.bots import BotConfig
from desk.signals.signal import Direction, Signal


def target_position(bot: BotConfig, direction: Direction) -> float:
    """The position a signal in ``direction`` asks for: +size, -size or 0."""
    if direction is Direction.LONG:
        return bot.size
    if direction is Direction.SHORT:
        return -bot.size
    return 0.0


class OrderRefused(Exception):
    """The sink refused to trade a signal for a reason that is policy, not failure (risk
    denied it, trading halted, reconciliation pending): the signal's fate is FILTERED_RISK."""


@runtime_checkable
class OrderSink(Protocol):
    """What the bot manager sends accepted signals to (the OMS implements this later)."""

    def submit(self, bot: BotConfig, signal: Signal) -> str:
        """Act on ``signal`` for ``bot`` (move its position to the signal's target); an id.

        Raising :class:`OrderRefused` marks the signal ``FILTERED_RISK``; any other exception
        marks it ``FAILED``. The manager records the reason and goes on. An empty id means there
        was nothing to trade (already at the target).
        """
        ...

    def position(self, bot_id: str) -> float:
        """The bot's current position in the sink's view (0 for a bot it has never seen)."""
        ...


class PaperOrder(msgspec.Struct, frozen=True, kw_only=True):
    """What :class:`PaperSink` would have traded: ``quantity`` = target - previous position."""

    order_id: str
    bot_id: str
    symbol: str
    ts: int
    direction: Direction
    price: float
    target: float
    quantity: float


class PaperSink:
    """An in-memory :class:`OrderSink` that records intended trades and fills them at once.

    The stand-in for the OMS until it exists; also handy in tests.
    """

    def __init__(self) -> None:
        self.orders: list[PaperOrder] = []
        self._positions: dict[str, float] = {}

    def submit(self, bot: BotConfig, signal: Signal) -> str:
        target = target_position(bot, signal.direction)
        previous = self._positions.get(bot.bot_id, 0.0)
        order_id = f"paper-{len(self.orders) + 1}"
        self.orders.append(
            PaperOrder(
                order_id=order_id,
                bot_id=bot.bot_id,
                symbol=signal.symbol,
                ts=signal.ts,
                direction=signal.direction,
                price=signal.price,
                target=target,
                quantity=target - previous,
            )
        )
        self._positions[bot.bot_id] = target
        return order_id

    def position(self, bot_id: str) -> float:
        return self._positions.get(bot_id, 0.0)


class UnavailableSink:
    """Refuses every signal with one reason (execution could not start); positions are 0."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def submit(self, bot: BotConfig, signal: Signal) -> str:
        raise OrderRefused(f"execution unavailable: {self.reason}")

    def position(self, bot_id: str) -> float:
        return 0.0
