"""Instrument trading rules: price tick, size lot, minimum size, and exact rounding to them.

Venues reject an order whose price is not a multiple of the tick or whose size is not a multiple
of the lot (OKX 51121), so desk keeps the venue's rule strings (``tick_size="0.1"``) and does the
grid arithmetic in ``decimal.Decimal``. Outgoing prices and sizes are formatted from tick/lot
multiples, never from a float's repr: 42219.94 on a 0.1 tick becomes "42219.9", never
"42219.900000000001" or "4.22199e+04".

Floats carry noise (0.1 + 0.2 == 0.30000000000000004), so a value within ``GRID_TOLERANCE`` of a
step of the grid counts as on it before directional rounding: rounding that value up on a 0.1
tick gives 0.3, not 0.4.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from typing import Literal

import msgspec

RoundMode = Literal["nearest", "down", "up"]
"""``down``/``up`` go to the lower/higher multiple (bids down, asks up keeps an order passive);
``nearest`` rounds half away from zero."""

GRID_TOLERANCE = Decimal("1e-9")
"""In steps: a value this close to a multiple is treated as that multiple (float noise)."""

_ROUNDING = {"nearest": ROUND_HALF_UP, "down": ROUND_FLOOR, "up": ROUND_CEILING}


def _to_decimal(value: float) -> Decimal:
    """The decimal a float was meant to be: its shortest repr, not its binary expansion."""
    if not math.isfinite(value):
        raise ValueError(f"cannot round {value!r} to a grid")
    return Decimal(repr(float(value)))


def _snap(value: Decimal, step: Decimal, mode: RoundMode) -> Decimal:
    """``value`` moved to a multiple of ``step`` by ``mode``, exactly."""
    steps = value / step
    nearest = steps.to_integral_value(rounding=ROUND_HALF_UP)
    if abs(steps - nearest) <= GRID_TOLERANCE:
        return nearest * step
    return steps.to_integral_value(rounding=_ROUNDING[mode]) * step


def _decimals(step: Decimal) -> int:
    """Digits after the point needed to write any multiple of ``step`` ("0.10" -> 1, "5" -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _on_grid(text: str, step: Decimal) -> bool:
    """Whether ``text`` is a finite decimal that is an exact multiple of ``step``."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return False
    return value.is_finite() and value % step == 0


class Instrument(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """One tradable instrument and its venue's rules, as the venue writes them (strings).

    ``symbol`` is desk's normalised name (``BTC-USDT``; quotes are kept, ``BTC-USD`` is not
    ``BTC-USDT``), ``native`` the venue's (``BTCUSDT`` on Binance).

    ``dict=True`` only lets the derived values below be cached on the frozen instance.
    """

    venue: str
    symbol: str
    base: str
    quote: str
    tick_size: str
    lot_size: str
    min_size: str
    state: str = "live"
    native: str = ""
    """The venue's own name (``BTCUSDT`` on Binance); "" when it is ``symbol`` itself."""
    min_notional: str = ""
    """The smallest order value in the quote currency the venue takes ("" if it sets none)."""

    @property
    def native_symbol(self) -> str:
        """The name the venue writes: ``native`` or, when that is empty, ``symbol``."""
        return self.native or self.symbol

    # -- derived values (computed once) ------------------------------------------------------

    @cached_property
    def tick(self) -> Decimal:
        """The price step, exact."""
        return Decimal(self.tick_size)

    @cached_property
    def lot(self) -> Decimal:
        """The size step, exact."""
        return Decimal(self.lot_size)

    @cached_property
    def tick_f(self) -> float:
        """The price step as a float, for hot-path arithmetic (bands, spreads in ticks)."""
        return float(self.tick_size)

    @cached_property
    def lot_f(self) -> float:
        """The size step as a float."""
        return float(self.lot_size)

    @cached_property
    def min_size_f(self) -> float:
        """The minimum order size as a float."""
        return float(self.min_size)

    @cached_property
    def price_decimals(self) -> int:
        """Digits after the point in a formatted price."""
        return _decimals(self.tick)

    @cached_property
    def size_decimals(self) -> int:
        """Digits after the point in a formatted size."""
        return _decimals(self.lot)

    @property
    def is_live(self) -> bool:
        """Only a ``live`` instrument accepts orders (OKX: suspend, preopen, ... do not)."""
        return self.state == "live"

    # -- rounding and formatting ---------------------------------------------------------------

    def round_price(self, px: float, mode: RoundMode = "nearest") -> float:
        """``px`` on the tick grid (the float nearest to the exact multiple)."""
        return float(_snap(_to_decimal(px), self.tick, mode))

    def round_size(self, sz: float, mode: RoundMode = "down") -> float:
        """``sz`` on the lot grid; down by default so an order never exceeds what was asked."""
        return float(_snap(_to_decimal(sz), self.lot, mode))

    def format_price(self, px: float, mode: RoundMode = "nearest") -> str:
        """``px`` rounded to the tick and written with the tick's decimals, for the wire."""
        exact = _snap(_to_decimal(px), self.tick, mode)
        return f"{exact:.{self.price_decimals}f}"

    def format_size(self, sz: float, mode: RoundMode = "down") -> str:
        """``sz`` rounded to the lot and written with the lot's decimals, for the wire."""
        exact = _snap(_to_decimal(sz), self.lot, mode)
        return f"{exact:.{self.size_decimals}f}"

    # -- checks ------------------------------------------------------------------------------

    def is_price_on_tick(self, px: str) -> bool:
        """Whether the price string is an exact multiple of the tick (no float involved)."""
        return _on_grid(px, self.tick)

    def is_size_on_lot(self, sz: str) -> bool:
        """Whether the size string is an exact multiple of the lot (no float involved)."""
        return _on_grid(sz, self.lot)

    def meets_min_size(self, sz: str) -> bool:
        """Whether the size string is at least the venue's minimum order size."""
        try:
            return Decimal(sz) >= Decimal(self.min_size)
        except (InvalidOperation, TypeError):
            return False


def native_symbol(venue: str, symbol: str) -> str:
    """The venue's name for desk's ``symbol`` by the venues' naming rules (Binance drops the
    dash: ``BTC-USDT`` -> ``BTCUSDT``; OKX and Coinbase write ``BASE-QUOTE`` as desk does)."""
    return symbol.replace("-", "") if venue == "binance" else symbol


class InstrumentReferential:
    """Every venue's instruments, keyed by venue + native symbol, found by desk's name too.

    ``BTC-USDT`` on OKX and ``BTCUSDT`` on Binance are the same normalised symbol
    (``venues("BTC-USDT")`` lists both); Coinbase ``BTC-USD`` and ``BTC-USDT`` stay two.
    """

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_native: dict[tuple[str, str], Instrument] = {}
        self._by_symbol: dict[tuple[str, str], Instrument] = {}
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: Instrument) -> None:
        """Know (or replace) ``instrument`` of its venue."""
        native = instrument.native_symbol
        self._by_native[(instrument.venue, native)] = instrument
        self._by_symbol[(instrument.venue, instrument.symbol)] = instrument

    def get(self, venue: str, symbol: str) -> Instrument | None:
        """The rules of desk's ``symbol`` on ``venue``."""
        return self._by_symbol.get((venue, symbol))

    def by_native(self, venue: str, native: str) -> Instrument | None:
        """The rules of the venue's own name (``binance``, ``BTCUSDT``)."""
        return self._by_native.get((venue, native))

    def normalised(self, venue: str, native: str) -> str | None:
        """desk's name of a venue's native symbol, None when the venue does not list it."""
        instrument = self._by_native.get((venue, native))
        return None if instrument is None else instrument.symbol

    def venues(self, symbol: str) -> list[str]:
        """The venues that list desk's ``symbol``."""
        return sorted(v for (v, s) in self._by_symbol if s == symbol)

    def symbols(self, venue: str) -> list[str]:
        """desk's names of everything ``venue`` lists."""
        return sorted(s for (v, s) in self._by_symbol if v == venue)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(list(self._by_symbol.values()))
