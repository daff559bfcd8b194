"""The simulated Coinbase products: their rules, their start prices, their seed.

Coinbase quotes in USD and in USDT (``BTC-USD`` and ``BTC-USDT`` are different books), with a
cent price increment and satoshi size steps, plus a minimum order value (``quote_min_size``).

The synthetic market behind each product is the venue-neutral one (``desk.sim.market``), seeded
per venue (``venue_seed``) and started ``price_offset_bps`` away from the reference prices other
venues' simulators start at, so the same symbol trades at slightly different prices here than on
the simulated OKX: cross-venue spreads exist (and drift, since each venue's market walks alone).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from desk.sim.instruments import InstrumentSpec

VENUE = "coinbase"
DEFAULT_PRICE_OFFSET_BPS = 2.5
"""How far above the reference price each product starts, in basis points."""


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """One simulated product: where its market starts plus the rules the venue publishes."""

    product_id: str
    price_increment: str
    base_increment: str
    base_min_size: str
    reference_price: str
    order_notional: float
    quote_min_size: str = "1"
    base_max_size: str = "10000"
    quote_max_size: str = "50000000"

    @property
    def base(self) -> str:
        return self.product_id.split("-")[0]

    @property
    def quote(self) -> str:
        return self.product_id.split("-")[1]

    def market_spec(self, offset_bps: float, code: int) -> InstrumentSpec:
        """The venue-neutral instrument spec, its start price moved by ``offset_bps``, on tick."""
        tick = Decimal(self.price_increment)
        price = Decimal(self.reference_price) * (1 + Decimal(repr(offset_bps)) / 10_000)
        on_tick = (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick
        return InstrumentSpec(
            self.product_id,
            self.price_increment,
            self.base_increment,
            self.base_min_size,
            format(on_tick.normalize(), "f"),
            code,
            self.order_notional,
        )


SAT = "0.00000001"
DEFAULT_PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec("BTC-USD", "0.01", SAT, SAT, "60000", 3000.0),
    ProductSpec("BTC-USDT", "0.01", SAT, SAT, "60000", 3000.0),
    ProductSpec("ETH-USD", "0.01", SAT, SAT, "3000", 2000.0),
    ProductSpec("ETH-USDT", "0.01", SAT, SAT, "3000", 2000.0),
    ProductSpec("SOL-USDT", "0.01", SAT, SAT, "150", 1000.0),
)


def venue_seed(seed: int) -> int:
    """The market seed of this venue for a simulator ``seed``: differs from other venues'."""
    return zlib.crc32(f"{seed}:{VENUE}".encode())


def product_json(p: ProductSpec) -> dict[str, object]:
    """One entry of ``GET /api/v3/brokerage/market/products`` (the fields Coinbase documents;
    prices and volumes the simulator does not track are left empty)."""
    return {
        "product_id": p.product_id,
        "price": "",
        "price_percentage_change_24h": "",
        "volume_24h": "",
        "volume_percentage_change_24h": "",
        "base_increment": p.base_increment,
        "quote_increment": p.price_increment,
        "quote_min_size": p.quote_min_size,
        "quote_max_size": p.quote_max_size,
        "base_min_size": p.base_min_size,
        "base_max_size": p.base_max_size,
        "base_name": p.base,
        "quote_name": p.quote,
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": "SPOT",
        "quote_currency_id": p.quote,
        "base_currency_id": p.base,
        "mid_market_price": "",
        "alias": "",
        "alias_to": [],
        "base_display_symbol": p.base,
        "quote_display_symbol": p.quote,
        "view_only": False,
        "price_increment": p.price_increment,
        "display_name": p.product_id,
        "product_venue": "CBE",
    }
