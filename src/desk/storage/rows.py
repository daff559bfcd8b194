"""Rows of the ``orders`` and ``fills`` tables read back as desk's types.

Prices, sizes and money are stored as Decimal strings (never floats) and come back exact.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from desk.core.enums import Side
from desk.core.orders import Fill, Liquidity, Order, OrderStatus, OrderType


class StoredOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as stored: its last state plus what :class:`Order` does not carry.

    ``notional`` is the exact sum of price x size over its fills (``avg_price`` is derived from
    it, and may be rounded); ``reduce_only`` is needed to resend the request unchanged.
    """

    order: Order
    reduce_only: bool
    notional: Decimal
    updated_ns: int


def order_from_row(row: tuple[Any, ...]) -> StoredOrder:
    (
        client_order_id,
        venue_order_id,
        venue,
        bot_id,
        symbol,
        side,
        order_type,
        price,
        size,
        filled,
        avg_price,
        notional,
        fee,
        fee_ccy,
        status,
        reason,
        reduce_only,
        created_ns,
        updated_ns,
    ) = row
    order = Order(
        ts_exchange=0,
        ts_recv=updated_ns,
        client_order_id=client_order_id,
        venue_order_id=venue_order_id,
        symbol=symbol,
        side=Side(side),
        order_type=OrderType(order_type),
        price=None if price is None else Decimal(price),
        size=Decimal(size),
        filled=Decimal(filled),
        avg_price=Decimal(avg_price),
        status=OrderStatus(status),
        bot_id=bot_id,
        venue=venue,
        fee=Decimal(fee),
        fee_ccy=fee_ccy,
        reason=reason,
        created_ns=created_ns,
    )
    return StoredOrder(
        order=order,
        reduce_only=bool(reduce_only),
        notional=Decimal(notional),
        updated_ns=updated_ns,
    )


def fill_from_row(row: tuple[Any, ...]) -> Fill:
    (
        ts_exchange,
        ts_recv,
        venue,
        client_order_id,
        trade_id,
        venue_order_id,
        bot_id,
        symbol,
        side,
        price,
        size,
        fee,
        fee_ccy,
        liquidity,
    ) = row
    return Fill(
        ts_exchange=ts_exchange,
        ts_recv=ts_recv,
        client_order_id=client_order_id,
        venue_order_id=venue_order_id,
        trade_id=trade_id,
        symbol=symbol,
        side=Side(side),
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        fee_ccy=fee_ccy,
        liquidity=Liquidity(liquidity),
        bot_id=bot_id,
        venue=venue,
    )
