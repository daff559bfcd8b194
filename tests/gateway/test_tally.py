"""Fills, rejects and risk denials are counted once each, under a small set of labels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Side
from desk.core.orders import Fill, Liquidity, Order, OrderStatus, OrderType
from desk.gateway.tally import TradeTally, denial_reason, reject_reason


@pytest.mark.parametrize(
    ("reason", "kind", "rule"),
    [
        ("risk: max order notional: 12,000.00 > 10,000.00", "risk", "max_order_notional"),
        ("risk: halted: operator halt", "risk", "halted"),
        ("risk: live trading is not confirmed: confirm it on screen first", "risk",
         "live_trading_is_not_confirmed"),
        ("invalid: size must be positive", "invalid", None),
        ("blocked: reconciliation with the venue pending", "blocked", None),
        ("venue: 51008 insufficient balance", "venue", None),
        ("venue 51008: insufficient balance", "venue", None),
        ("something new and unexpected", "other", None),
    ],
)  # fmt: skip
def test_reasons_fold_to_labels(reason: str, kind: str, rule: str | None) -> None:
    assert reject_reason(reason) == kind
    if rule is not None:
        assert denial_reason(reason) == rule


def _order(status: OrderStatus, reason: str = "") -> Order:
    return Order(
        ts_exchange=0, ts_recv=1, client_order_id="c1", venue_order_id="", symbol="BTC-USDT",
        side=Side.BUY, order_type=OrderType.MARKET, price=None, size=Decimal("0.01"),
        filled=Decimal(0), avg_price=Decimal(0), status=status, bot_id="b", venue="okx",
        reason=reason, created_ns=1,
    )  # fmt: skip


def _fill(side: Side) -> Fill:
    return Fill(
        ts_exchange=0, ts_recv=1, client_order_id="c1", venue_order_id="v1", trade_id="t1",
        symbol="BTC-USDT", side=side, price=Decimal(60000), size=Decimal("0.01"),
        fee=Decimal("0.6"), fee_ccy="USDT", liquidity=Liquidity.TAKER, bot_id="b", venue="okx",
    )  # fmt: skip


def test_the_tally_counts_what_the_oms_publishes() -> None:
    bus = Bus()
    tally = TradeTally(bus)
    bus.publish(topics.trade_updates("b"), _order(OrderStatus.PENDING_NEW))
    bus.publish(topics.trade_updates("b"), _fill(Side.BUY))
    bus.publish(topics.trade_updates("b"), _fill(Side.BUY))
    bus.publish(topics.trade_updates("manual"), _fill(Side.SELL))
    bus.publish(topics.trade_updates("b"), _order(OrderStatus.REJECTED, "risk: min size: 1 < 2"))
    bus.publish(topics.trade_updates("b"), _order(OrderStatus.REJECTED, "venue: refused"))
    assert tally.fills == {("BTC-USDT", "buy"): 2, ("BTC-USDT", "sell"): 1}
    assert tally.rejects == {"risk": 1, "venue": 1}
    assert tally.denials == {"min_size": 1}
    tally.close()
    bus.publish(topics.trade_updates("b"), _fill(Side.BUY))
    assert sum(tally.fills.values()) == 3  # unsubscribed
