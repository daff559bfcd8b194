"""Position sizing: how many base units a bot trades, before risk has its say.

Three methods, each a frozen config struct:

* :class:`FixedSize` - always the same size.
* :class:`FixedFraction` - a fraction of equity, in base units at the current price
  (``equity * fraction / price``).
* :class:`VolatilityScaled` - risk a fixed quote amount against a move of ``k`` ATRs
  (``risk_budget / (k * ATR)``): calm markets get bigger sizes, wild ones smaller.

:func:`size_for` applies one of them, caps the result at the method's ``max_size``, rounds it
*down* to the instrument's lot (an order never exceeds what was sized) and returns 0 when that
is below the instrument's minimum order size (too small to trade; the caller skips the order).
All arithmetic is ``Decimal``; float inputs (an ATR from the indicators) are taken by their
shortest repr, so 0.1 means 0.1.

:func:`round_to_step` is the exact Decimal grid rounding that risk and the paper venue use too.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

import msgspec

from desk.market.instruments import Instrument

StepMode = Literal["down", "up", "nearest"]

_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}
ZERO = Decimal(0)

Number = Decimal | float | int


def to_decimal(value: Number) -> Decimal:
    """``value`` as an exact Decimal; a float by its shortest repr (0.1 -> Decimal("0.1"))."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def round_to_step(value: Decimal, step: Decimal, mode: StepMode) -> Decimal:
    """``value`` moved to a multiple of ``step``: ``down``/``up`` toward -inf/+inf, exactly."""
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    return (value / step).to_integral_value(rounding=_ROUNDING[mode]) * step


def _check_max_size(max_size: Decimal | None) -> None:
    if max_size is not None and max_size <= 0:
        raise ValueError(f"@max_size: must be > 0 (or null for no cap), got {max_size}")


class FixedSize(msgspec.Struct, frozen=True, kw_only=True):
    """Trade ``size`` base units every time."""

    size: Decimal
    """Base units per order, > 0."""
    max_size: Decimal | None = None
    """Upper bound in base units (None: no cap)."""

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"@size: must be > 0, got {self.size}")
        _check_max_size(self.max_size)


class FixedFraction(msgspec.Struct, frozen=True, kw_only=True):
    """Commit ``fraction`` of equity (quote currency) at the current price."""

    fraction: Decimal
    """Share of equity per position, in (0, 1] (0.1 = 10% of equity)."""
    max_size: Decimal | None = None
    """Upper bound in base units (None: no cap)."""

    def __post_init__(self) -> None:
        if not ZERO < self.fraction <= 1:
            raise ValueError(f"@fraction: must be in (0, 1], got {self.fraction}")
        _check_max_size(self.max_size)


class VolatilityScaled(msgspec.Struct, frozen=True, kw_only=True):
    """Size so that a move of ``atr_multiple`` ATRs costs ``risk_budget`` (quote currency)."""

    risk_budget: Decimal
    """Quote amount at risk per position (e.g. 100 USDT), > 0."""
    atr_multiple: Decimal = Decimal(2)
    """``k``: how many ATRs away the notional stop is, > 0."""
    max_size: Decimal | None = None
    """Upper bound in base units (None: no cap)."""

    def __post_init__(self) -> None:
        if self.risk_budget <= 0:
            raise ValueError(f"@risk_budget: must be > 0, got {self.risk_budget}")
        if self.atr_multiple <= 0:
            raise ValueError(f"@atr_multiple: must be > 0, got {self.atr_multiple}")
        _check_max_size(self.max_size)


SizingMethod = FixedSize | FixedFraction | VolatilityScaled


def raw_size(
    method: SizingMethod,
    *,
    price: Number | None = None,
    equity: Number | None = None,
    atr: Number | None = None,
) -> Decimal:
    """The method's size before the cap and the lot; ValueError when an input it needs is bad."""
    if isinstance(method, FixedSize):
        return method.size
    if isinstance(method, FixedFraction):
        if price is None or to_decimal(price) <= 0:
            raise ValueError(f"fixed fraction sizing needs a price > 0, got {price}")
        if equity is None or to_decimal(equity) < 0:
            raise ValueError(f"fixed fraction sizing needs equity >= 0, got {equity}")
        return to_decimal(equity) * method.fraction / to_decimal(price)
    if isinstance(method, VolatilityScaled):
        if atr is None or to_decimal(atr) <= 0:
            raise ValueError(f"volatility sizing needs an ATR > 0, got {atr}")
        return method.risk_budget / (method.atr_multiple * to_decimal(atr))
    raise TypeError(f"unknown sizing method {type(method).__name__}")


def size_for(
    method: SizingMethod,
    instrument: Instrument,
    *,
    price: Number | None = None,
    equity: Number | None = None,
    atr: Number | None = None,
) -> Decimal:
    """Base units to trade: the method's size, capped, rounded down to the lot.

    Returns 0 when the result is below the instrument's minimum size: the caller should not
    send an order then. ``price`` and ``equity`` are needed by :class:`FixedFraction`, ``atr``
    by :class:`VolatilityScaled`.
    """
    size = raw_size(method, price=price, equity=equity, atr=atr)
    if method.max_size is not None:
        size = min(size, method.max_size)
    size = round_to_step(size, instrument.lot, "down")
    if size < Decimal(instrument.min_size):
        return ZERO
    return size
