"""Bots' signals become orders: the OMS side of the :class:`~desk.signals.order_sink.OrderSink`
seam.

A signal names the position a bot wants (LONG = +size, SHORT = -size, FLAT = 0). This sink
trades the difference between that target and what the bot holds plus what its open orders
will add, with one order whose client id is derived from the bot and the signal's time, so the
same signal can never trade twice (a resubmission after a crash is recognised by the OMS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderStatus, OrderType
from desk.execution.order_ids import deterministic_client_order_id
from desk.execution.sizing import FixedFraction, VolatilityScaled, size_for
from desk.market.instruments import Instrument
from desk.signals.bots import BotConfig
from desk.signals.order_sink import OrderRefused
from desk.signals.signal import Direction, Signal

SIGN = {Direction.LONG: 1, Direction.SHORT: -1, Direction.FLAT: 0}
ZERO = Decimal(0)

# Enum members as module constants: on CPython 3.11 ``Side.BUY`` costs about 140 ns a lookup
# (EnumType defines ``__getattr__``: the slow generic lookup), a global about 10.
_BUY = Side.BUY
_SELL = Side.SELL
_MARKET = OrderType.MARKET
_REJECTED = OrderStatus.REJECTED


@lru_cache(maxsize=1024)  # sizes come from configs: a few
def _nonzero_decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _decimal(value: float) -> Decimal:
    """``Decimal(repr(value))``, remembered: a bot's size is a constant of its config, and
    every one of its signals needs it as a Decimal (the shortest repr: 0.01 is 0.01 exactly).
    Zero is not remembered: 0.0 and -0.0 are one key but two Decimals."""
    return _nonzero_decimal(value) if value else Decimal(repr(value))


if TYPE_CHECKING:
    from desk.execution.oms import OrderManager
    from desk.execution.portfolio import Portfolio


class OmsSink:
    """Turns a bot's accepted signal into one risk-checked order through the OMS."""

    def __init__(
        self,
        oms: OrderManager,
        portfolio: Portfolio,
        *,
        order_type: OrderType = OrderType.MARKET,
        aggressive_pct: Decimal = Decimal("0.2"),
        instruments: Mapping[str, Instrument] | None = None,
        atr: Callable[[str, str], float] | None = None,
        halted: Callable[[], str] | None = None,
    ) -> None:
        self.oms = oms
        self.halted = halted  # the halt's reason, "" while trading is allowed
        self.portfolio = portfolio
        self.instruments = instruments if instruments is not None else {}
        self.atr = atr
        self.order_type = order_type
        self.aggressive_pct = aggressive_pct

    def submit(self, bot: BotConfig, signal: Signal) -> str:
        if self.oms.trading_blocked:
            raise OrderRefused("reconciliation with the venue is pending")
        symbol, bot_id = bot.symbol, bot.bot_id
        sign = SIGN[signal.direction]
        target = self._size(bot, signal) * sign if sign else ZERO
        open_size = self.oms.open_size  # the signed size the bot's open orders will still add
        pending = open_size(bot_id, symbol, _BUY) - open_size(bot_id, symbol, _SELL)
        delta = target - (self.portfolio.position(bot_id, symbol) + pending)
        if delta == 0:
            # No order to send: risk never sees this signal, so the halt is checked here (it
            # must not read as "sent" while the desk is halted).
            reason = self.halted() if self.halted is not None else ""
            if reason:
                raise OrderRefused(f"risk: halted: {reason}")
            return ""
        side = _BUY if delta > 0 else _SELL
        request = OrderRequest(
            symbol=symbol,
            side=side,
            order_type=self.order_type,
            size=abs(delta),
            price=self._limit_price(side, signal.price),
            bot_id=bot_id,
            client_order_id=deterministic_client_order_id(bot_id, str(signal.ts)),
            reduce_only=target == 0,
            venue=bot.venue,
        )
        order = self.oms.submit(request)
        if order.status is _REJECTED:
            raise OrderRefused(order.reason)
        return order.client_order_id

    def _size(self, bot: BotConfig, signal: Signal) -> Decimal:
        """The position a LONG signal targets, by the bot's sizing method."""
        if bot.sizing == "fixed":
            return _decimal(bot.size)
        instrument = self.instruments.get(bot.symbol)
        if instrument is None:
            raise OrderRefused(f"sizing: no instrument rules for {bot.symbol}")
        cap = _decimal(bot.size)
        if bot.sizing == "fraction":
            method: Any = FixedFraction(fraction=_decimal(bot.fraction), max_size=cap)
            size = size_for(method, instrument, price=signal.price, equity=self.portfolio.equity())
        else:
            atr = self.atr(bot.symbol, bot.timeframe) if self.atr is not None else math.nan
            if not atr > 0:
                raise OrderRefused(f"sizing: no ATR(14) yet for {bot.symbol} {bot.timeframe}")
            method = VolatilityScaled(
                risk_budget=_decimal(bot.risk_budget),
                atr_multiple=_decimal(bot.atr_multiple),
                max_size=cap,
            )
            size = size_for(method, instrument, atr=atr)
        if size == 0:
            raise OrderRefused(f"sizing: {bot.sizing} sizing gives less than the minimum size")
        return size

    def _limit_price(self, side: Side, price: float) -> Decimal | None:
        """IOC bot orders cross the signal's price by ``aggressive_pct`` % (risk rounds it)."""
        if self.order_type is _MARKET:
            return None
        factor = 1 + self.aggressive_pct / 100 * (1 if side is _BUY else -1)
        return Decimal(repr(price)) * factor

    def position(self, bot_id: str) -> float:
        return float(sum((p.size for p in self.portfolio.positions(bot_id)), Decimal(0)))

    def pnl(self, bot_id: str) -> float:
        return float(self.portfolio.totals(bot_id).net)
