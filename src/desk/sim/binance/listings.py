"""The simulated Binance Spot symbols: their rules, their prices and their wire strings.

Binance writes every price and quantity with eight decimals (``"25.35190000"``, a removed level
``"0.00000000"``), in payloads, REST books and ``exchangeInfo`` filters alike; ``wire_decimal``
formats tick and lot multiples that way, exactly (no float on the way).

Each venue of the simulator is its own synthetic market: the Binance market runs on a seed of
its own (``venue_seed``) and starts ``price_offset_bps`` away from the shared reference prices, so
the venues' prices differ a little and drift apart (cross-venue spreads exist).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from desk.sim.instruments import InstrumentSpec, Step

WIRE_DECIMALS = 8
_SCALE = 10**WIRE_DECIMALS
VENUE = "binance"


def wire_decimal(step: Step, units: int) -> str:
    """``units`` steps as Binance writes them: (tick 0.01, 6001234) -> ``"60012.34000000"``."""
    if step.decimals > WIRE_DECIMALS:
        raise ValueError(f"Binance writes {WIRE_DECIMALS} decimals; a step of 1e-{step.decimals}")
    scaled = units * step.mantissa * 10 ** (WIRE_DECIMALS - step.decimals)
    whole, frac = divmod(scaled, _SCALE)
    return f"{whole}.{frac:08d}"


def pad(text: str) -> str:
    """A decimal string with eight decimals: ``"0.01"`` -> ``"0.01000000"``."""
    return f"{Decimal(text):.{WIRE_DECIMALS}f}"


def venue_seed(seed: int, venue: str = VENUE) -> int:
    """The seed of one venue's synthetic market, derived from the simulator's seed."""
    return zlib.crc32(f"{seed}:{venue}".encode())


@dataclass(frozen=True, slots=True)
class Listing:
    """One simulated Binance symbol: its market spec (desk name, tick, lot, start price), its
    native name and the notional filter ``InstrumentSpec`` has no field for."""

    spec: InstrumentSpec
    min_notional: str = "5"
    max_notional: str = "9000000"

    @property
    def native(self) -> str:
        """``BTC-USDT`` -> ``BTCUSDT``."""
        return self.spec.inst_id.replace("-", "")

    @property
    def stream_symbol(self) -> str:
        return self.native.lower()

    def price(self, ticks: int) -> str:
        return wire_decimal(self.spec.tick, ticks)

    def qty(self, lots: int) -> str:
        return wire_decimal(self.spec.lot, lots)

    def quote(self, ticks_times_lots: int) -> str:
        """A quote volume (a sum of ticks * lots) with Binance's eight decimals."""
        exact = Decimal(self.spec.notional_str(ticks_times_lots))
        return f"{exact:.{WIRE_DECIMALS}f}"


_REFERENCE = (  # desk name, tick, step, min qty, reference price, quote notional of an order
    ("BTC-USDT", "0.01", "0.00001", "0.00001", "60000", 3000.0),
    ("ETH-USDT", "0.01", "0.0001", "0.0001", "3000", 2000.0),
    ("SOL-USDT", "0.01", "0.001", "0.001", "150", 1000.0),
)


def default_listings(price_offset_bps: float = 2.0) -> tuple[Listing, ...]:
    """BTCUSDT, ETHUSDT and SOLUSDT with Binance's real ticks and steps, started
    ``price_offset_bps`` above the reference prices the other venues start from."""
    listings = []
    for code, (name, tick, step, min_qty, price, notional) in enumerate(_REFERENCE):
        factor = Decimal(1) + Decimal(repr(price_offset_bps)) / Decimal(10_000)
        start = (Decimal(price) * factor).quantize(Decimal(tick), rounding=ROUND_HALF_UP)
        spec = InstrumentSpec(name, tick, step, min_qty, str(start), 2_000_000_000 + code, notional)
        listings.append(Listing(spec))
    return tuple(listings)
