"""What a bot is: its configuration, its state and mode, and what became of each signal.

A bot = a strategy + one symbol + timeframe + a size + its own signal filters + a mode
(DESIGN.md section 5). The :class:`~desk.signals.bot_manager.BotManager` runs bots; this module
holds only the data types, so the UI and storage can share them without the manager.

Confirmation (``confirm_bars``): a direction must have *stood* for ``confirm_bars`` consecutive
closed candles of the bot's timeframe before it is acted on. The candle a signal was decided on
counts as the first; each later candle that brings no reversal (no signal, or a signal in the
same direction) adds one; a signal in another direction restarts the count. With the default of
1 every signal is confirmed at once. An unconfirmed signal is recorded as ``FILTERED_UNCONFIRMED``
and held; when the count reaches ``confirm_bars`` it is re-evaluated (stamped with the
confirming candle's time and close) and recorded again with its final fate.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

import msgspec

from desk.core.events import Event
from desk.signals.signal import Direction, Signal

BOT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")


class BotMode(StrEnum):
    """AUTO: signals become orders. PAUSED: signals are recorded, not sent. MANUAL: the operator
    trades the bot's position by hand; signals are recorded, not sent."""

    AUTO = "auto"
    PAUSED = "paused"
    MANUAL = "manual"


class BotState(StrEnum):
    """RUNNING bots are fed candles; STOPPED bots are not."""

    STOPPED = "stopped"
    RUNNING = "running"


class SignalFate(StrEnum):
    """What the manager did with one signal (stored with it)."""

    SENT = "sent"
    FILTERED_STOPPED = "filtered_stopped"
    FILTERED_PAUSED = "filtered_paused"
    FILTERED_MANUAL = "filtered_manual"
    FILTERED_STRENGTH = "filtered_strength"
    FILTERED_COOLDOWN = "filtered_cooldown"
    FILTERED_UNCONFIRMED = "filtered_unconfirmed"
    FILTERED_RISK = "filtered_risk"  # the OMS/risk refused it (reason in bot_events)
    FAILED = "failed"  # passed every filter but the order sink raised (see bot_events)
    LATE = "late"  # a deferred decision (a model's) that arrived after a newer bar: not traded
    WATCHED = "watched"  # a watcher's signal (the spread watcher): recorded, never traded


class BotConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One bot's configuration; validated on construction (ValueError naming the field).

    ``bot_id``: 1..32 of letters, digits, ``-``, ``_``. ``size`` > 0: the position a LONG
    signal targets (SHORT targets ``-size``, FLAT 0) with ``sizing: fixed``; with ``fraction``
    the target is ``fraction`` of equity at the signal's price, with ``atr`` it is
    ``risk_budget / (atr_multiple * ATR(14))`` of the bot's timeframe, and ``size`` caps both
    (:mod:`desk.execution.sizing`; rounded down to the lot). ``min_strength`` in [0, 1]: weaker
    signals are filtered. ``cooldown_s`` >= 0: seconds after a sent signal during which later
    ones are filtered. ``confirm_bars`` >= 1: see the module docstring. ``mode``: the mode the
    bot starts in. ``venue``: the venue whose candles drive the bot (``okx`` by default).
    """

    bot_id: str
    strategy: str
    symbol: str
    timeframe: str
    size: float
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    min_strength: float = 0.0
    cooldown_s: float = 0.0
    confirm_bars: int = 1
    mode: BotMode = BotMode.AUTO
    sizing: Literal["fixed", "fraction", "atr"] = "fixed"
    fraction: float = 0.0
    risk_budget: float = 0.0
    atr_multiple: float = 2.0
    venue: str = "okx"
    """The venue whose candles the bot reads and on which it trades (paper off OKX)."""

    def __post_init__(self) -> None:
        if not isinstance(self.bot_id, str) or not BOT_ID_PATTERN.fullmatch(self.bot_id):
            raise ValueError(
                f"`bot_id` must be 1-32 letters, digits, '-' or '_', got {self.bot_id!r}"
            )
        if not self.strategy:
            raise ValueError("`strategy` must be named")
        if not self.symbol:
            raise ValueError("`symbol` must be given")
        if not self.timeframe:
            raise ValueError("`timeframe` must be given")
        if not self.size > 0:
            raise ValueError(f"`size` must be > 0, got {self.size!r}")
        if not 0.0 <= self.min_strength <= 1.0:
            raise ValueError(f"`min_strength` must be in [0, 1], got {self.min_strength!r}")
        if not self.cooldown_s >= 0:
            raise ValueError(f"`cooldown_s` must be >= 0, got {self.cooldown_s!r}")
        if isinstance(self.confirm_bars, bool) or self.confirm_bars < 1:
            raise ValueError(f"`confirm_bars` must be >= 1, got {self.confirm_bars!r}")
        if not isinstance(self.params, dict):
            raise ValueError(f"`params` must be a mapping, got {self.params!r}")
        BotMode(self.mode)
        if self.sizing == "fraction" and not 0 < self.fraction <= 1:
            raise ValueError(
                f"`fraction` must be in (0, 1] for fraction sizing, got {self.fraction!r}"
            )
        if self.sizing == "atr" and not (self.risk_budget > 0 and self.atr_multiple > 0):
            raise ValueError("`risk_budget` and `atr_multiple` must be > 0 for atr sizing")


class BotStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one bot for the UI. ``position`` is the order sink's view."""

    bot_id: str
    strategy: str
    symbol: str
    timeframe: str
    state: BotState
    mode: BotMode
    position: float
    last_signal_ts: int | None
    last_signal_direction: Direction | None
    signal_count: int
    sent_count: int


class BotEvent(Event, frozen=True, kw_only=True):
    """A change to a bot (added, started, stopped, mode, params, restored, sink_error).

    Published on ``bot_signals:{bot_id}`` and stored in the ``bot_events`` table. ``actor`` is
    "operator" for a person's action, "system" for the desk's own (e.g. restore after restart).
    """

    bot_id: str
    kind: str
    detail: dict[str, Any]
    actor: str


class BotSignal(Event, frozen=True, kw_only=True):
    """A signal a bot produced and its fate; published on ``bot_signals:{bot_id}``."""

    bot_id: str
    signal: Signal
    fate: SignalFate
    order_id: str = ""
