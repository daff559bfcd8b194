"""The trading signal a strategy emits, and the direction it points.

A signal is a decision, not an order: sizing, risk and the OMS turn it into orders (DESIGN.md
section 5), and every signal is stored with its reason whether or not it was executed, so it
carries the indicator values that caused it and a sentence a person can audit.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Direction(StrEnum):
    """Where the strategy wants the position: LONG, SHORT, or FLAT (close / stay neutral)."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """One decision, taken on the close of the candle that ended at ``ts`` (ns).

    ``strength`` is in [0, 1] (how convinced the strategy is; sizing may scale by it), ``price``
    is the close it was decided at, ``indicators`` the values that caused it and ``reason`` the
    same in words, e.g. "fast SMA 101.2 crossed above slow SMA 100.9".
    """

    ts: int
    symbol: str
    timeframe: str
    direction: Direction
    strength: float
    price: float
    indicators: dict[str, float]
    reason: str
    strategy: str
