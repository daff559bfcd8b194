"""Orders, fills and level reports of the matching engine (integer ticks and lots).

Time in force:
* ``GTC``: match what crosses, rest the remainder.
* ``IOC``: match what crosses, cancel the remainder.
* ``FOK``: fill completely right now or do nothing (status ``CANCELED``, no fills).
* ``POST_ONLY``: rest without taking; if it would cross it is rejected untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from desk.core.enums import Side


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class OrderStatus(StrEnum):
    """Order life, named as OKX names its ``state`` values (plus ``rejected``)."""

    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


class Order(msgspec.Struct, gc=False, eq=False):
    """One order; ``price`` is 0 for a market order. Mutated by the engine as it fills.

    Out of the cyclic collector's view (``gc=False``): it holds only numbers, a string and
    enum members, so it can never be part of a reference cycle, and the in-process
    simulator keeps thousands resting (most of the desk's old generation under the
    firehose once the UI's lines were freed, bench/gc_pauses.py --ui)."""

    order_id: int
    owner: str
    side: Side
    price: int
    size: int
    tif: TimeInForce = TimeInForce.GTC
    filled: int = 0
    status: OrderStatus = OrderStatus.LIVE

    @property
    def remaining(self) -> int:
        return self.size - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.LIVE, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class Fill:
    """One match between a taker and one resting maker order."""

    trade_id: int
    price: int
    size: int
    taker_side: Side
    taker_id: int
    taker_owner: str
    maker_id: int
    maker_owner: str
    maker_remaining: int


@dataclass(frozen=True, slots=True)
class LevelChange:
    """The state of one price level after a call: total lots and resting order count."""

    side: Side
    price: int
    size: int
    count: int


@dataclass(slots=True)
class ExecReport:
    order: Order
    fills: list[Fill] = field(default_factory=list)
    changes: list[LevelChange] = field(default_factory=list)
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.order.status is not OrderStatus.REJECTED
