"""Simulated instruments and exact decimal formatting of tick and lot multiples.

Prices and sizes live as integers (``ticks * tickSz``, ``lots * lotSz``) and are turned into
wire strings here, never through a float: tick ``"0.1"`` and 600123 ticks -> ``"60012.3"``,
lot ``"0.00000001"`` and 1234567 lots -> ``"0.01234567"``. Strings are the minimal decimal
representation of the exact value, as OKX sends them (``"8477"``, ``"0.12060306"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


def format_scaled(value: int, decimals: int) -> str:
    """``value * 10**-decimals`` as the shortest exact decimal string: (1230, 2) -> "12.3"."""
    if decimals <= 0:
        return str(value * 10**-decimals)
    digits = str(abs(value)).rjust(decimals + 1, "0")
    head, tail = digits[:-decimals], digits[-decimals:].rstrip("0")
    text = f"{head}.{tail}" if tail else head
    return f"-{text}" if value < 0 else text


@dataclass(frozen=True, slots=True)
class Step:
    """A decimal step such as a tick or lot size: ``value = mantissa * 10**-decimals``."""

    mantissa: int
    decimals: int

    @classmethod
    def parse(cls, text: str) -> Step:
        value = Decimal(text)
        if not value.is_finite() or value <= 0:
            raise ValueError(f"step must be a positive decimal, got {text!r}")
        _sign, digits, exponent = value.normalize().as_tuple()
        mantissa = int("".join(map(str, digits)))
        assert isinstance(exponent, int)
        if exponent > 0:
            return cls(mantissa * 10**exponent, 0)
        return cls(mantissa, -exponent)

    def format(self, units: int) -> str:
        """``units`` steps as a wire string."""
        return format_scaled(units * self.mantissa, self.decimals)

    def units(self, text: str) -> int:
        """The exact number of steps in ``text``; ``ValueError`` if it is not a multiple."""
        scaled = Decimal(text).scaleb(self.decimals)
        units, rest = divmod(scaled, self.mantissa)
        if rest != 0 or scaled != scaled.to_integral_value():
            raise ValueError(f"{text!r} is not a multiple of {self.format(1)!r}")
        return int(units)

    def to_float(self, units: int) -> float:
        return units * self.mantissa / 10**self.decimals


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One simulated spot instrument, with the numbers the generator needs.

    ``price`` is where the latent fair price starts; ``order_notional`` is the typical size of a
    liquidity provider's order near the touch, in quote currency.
    """

    inst_id: str
    tick_sz: str
    lot_sz: str
    min_sz: str
    price: str
    inst_id_code: int
    order_notional: float = 1500.0
    tick: Step = field(init=False)
    lot: Step = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tick", Step.parse(self.tick_sz))
        object.__setattr__(self, "lot", Step.parse(self.lot_sz))
        if self.inst_id.count("-") != 1:
            raise ValueError(f"spot instrument ids look like BASE-QUOTE, got {self.inst_id!r}")
        self.lot.units(self.min_sz)

    @property
    def base_ccy(self) -> str:
        return self.inst_id.split("-")[0]

    @property
    def quote_ccy(self) -> str:
        return self.inst_id.split("-")[1]

    @property
    def min_lots(self) -> int:
        return self.lot.units(self.min_sz)

    def price_str(self, ticks: int) -> str:
        return self.tick.format(ticks)

    def size_str(self, lots: int) -> str:
        return self.lot.format(lots)

    def notional_str(self, ticks_times_lots: int) -> str:
        """A sum of ``ticks * lots`` products (quote volume) as an exact string."""
        scale = self.tick.mantissa * self.lot.mantissa
        return format_scaled(ticks_times_lots * scale, self.tick.decimals + self.lot.decimals)


DEFAULT_INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    InstrumentSpec("BTC-USDT", "0.1", "0.00000001", "0.00001", "60000", 1000000000, 3000.0),
    InstrumentSpec("ETH-USDT", "0.01", "0.000001", "0.0001", "3000", 1000000001, 2000.0),
    InstrumentSpec("SOL-USDT", "0.001", "0.0001", "0.001", "150", 1000000002, 1000.0),
)
