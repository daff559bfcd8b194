"""A bot's signal becomes one order for the difference to its target, sized by its method."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from desk.core.clock import TestClock
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderStatus
from desk.execution.bot_orders import OmsSink
from desk.execution.portfolio import Portfolio
from desk.market.instruments import Instrument
from desk.signals.bots import BotConfig
from desk.signals.order_sink import OrderRefused
from desk.signals.signal import Direction, Signal

BTC = Instrument(
    venue="okx", symbol="BTC-USDT", base="BTC", quote="USDT",
    tick_size="0.1", lot_size="0.0001", min_size="0.001",
)  # fmt: skip


class FakeOms:
    def __init__(self) -> None:
        self.trading_blocked = False
        self.sent: list[OrderRequest] = []
        self.status = OrderStatus.PENDING_NEW
        self.reason = ""

    def submit(self, request: OrderRequest) -> Any:
        self.sent.append(request)
        return msgspec.structs.replace(_order(request), status=self.status, reason=self.reason)

    def open_size(self, bot_id: str, symbol: str, side: Side) -> Decimal:
        return sum((r.size for r in self.sent if r.side is side), Decimal(0))


def _order(request: OrderRequest) -> Any:
    from desk.core.orders import Order

    return Order(
        ts_exchange=0, ts_recv=0, client_order_id=request.client_order_id, venue_order_id="",
        symbol=request.symbol, side=request.side, order_type=request.order_type,
        price=request.price, size=request.size, filled=Decimal(0), avg_price=Decimal(0),
        status=OrderStatus.PENDING_NEW, bot_id=request.bot_id, venue="okx",
    )  # fmt: skip


def _signal(direction: Direction, ts: int = 1, price: float = 50_000.0) -> Signal:
    return Signal(
        ts=ts, symbol="BTC-USDT", timeframe="1m", direction=direction, strength=1.0,
        price=price, indicators={}, reason="test", strategy="ma_crossover",
    )  # fmt: skip


def _bot(**kw: Any) -> BotConfig:
    base = {"bot_id": "b1", "strategy": "ma_crossover", "symbol": "BTC-USDT", "timeframe": "1m"}
    return BotConfig(**{**base, "size": 0.5, **kw})


def _sink(atr: float = math.nan) -> tuple[OmsSink, FakeOms]:
    oms = FakeOms()
    portfolio = Portfolio(TestClock(0), starting_cash=Decimal(10_000))
    sink = OmsSink(oms, portfolio, instruments={"BTC-USDT": BTC}, atr=lambda s, tf: atr)  # type: ignore[arg-type]
    return sink, oms


def test_fixed_size_trades_the_difference_to_the_target_once_per_signal() -> None:
    sink, oms = _sink()
    bot = _bot()
    first = sink.submit(bot, _signal(Direction.LONG, ts=1))
    assert [(r.side, r.size) for r in oms.sent] == [(Side.BUY, Decimal("0.5"))]
    sink.submit(bot, _signal(Direction.SHORT, ts=2))  # from +0.5 (pending) to -0.5: sell 1.0
    assert (oms.sent[1].side, oms.sent[1].size) == (Side.SELL, Decimal("1.0"))
    assert oms.sent[1].reduce_only is False
    again = sink.submit(bot, _signal(Direction.LONG, ts=1))  # same signal: same client id
    assert again == first


def test_fraction_of_equity_is_capped_and_rounded_down_to_the_lot() -> None:
    sink, oms = _sink()
    sink.submit(_bot(sizing="fraction", fraction=0.3, size=1.0), _signal(Direction.LONG))
    assert oms.sent[0].size == Decimal("0.06")  # 3,000 USDT at 50,000
    sink2, oms2 = _sink()
    sink2.submit(_bot(sizing="fraction", fraction=1.0, size=0.1), _signal(Direction.LONG))
    assert oms2.sent[0].size == Decimal("0.1")  # capped by size


def test_atr_sizing_needs_a_warm_atr_and_scales_with_it() -> None:
    cold, _ = _sink(atr=math.nan)
    bot = _bot(sizing="atr", risk_budget=100.0, atr_multiple=2.0, size=5.0)
    with pytest.raises(OrderRefused, match="no ATR"):
        cold.submit(bot, _signal(Direction.LONG))
    warm, oms = _sink(atr=250.0)
    warm.submit(bot, _signal(Direction.LONG))
    assert oms.sent[0].size == Decimal("0.2")  # 100 / (2 * 250)


def test_a_refused_order_is_a_refusal_for_the_bot_manager() -> None:
    sink, oms = _sink()
    oms.status, oms.reason = OrderStatus.REJECTED, "risk: max order notional"
    with pytest.raises(OrderRefused, match="max order notional"):
        sink.submit(_bot(), _signal(Direction.LONG))
    oms.trading_blocked = True
    with pytest.raises(OrderRefused, match="reconciliation"):
        sink.submit(_bot(), _signal(Direction.SHORT, ts=5))


def test_bad_sizing_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        _bot(sizing="fraction")
    with pytest.raises(ValueError, match="risk_budget"):
        _bot(sizing="atr")
