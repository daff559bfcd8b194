"""The pre-trade risk rules and the limits they apply (``RiskConfig``), DESIGN.md section 5.

Rules, in the order they are checked (the first that fails is the reason):

1. halted - in HALTED every order is denied.
2. instrument - known, and live.
3. order shape - size > 0; a price > 0 for every type but MARKET.
4. grid - bot: rounded; manual: price on the tick and size on the lot, or denied.
5. min size.
6. reducing - in REDUCING only orders that reduce the account's position pass.
7. price band - a priced order within ``price_band_pct`` of the mid (a mid is required).
8. max order notional - size x (price, or mid for MARKET).
9. max position per bot, then per symbol - the resulting position's notional; open orders on
   the same side count when an :class:`OpenOrdersView` is given.
10. gross exposure - gross exposure plus what the order adds, against a % of equity.
11. daily loss - once today's PnL is at or below ``-daily_loss_limit`` only reducing orders pass.
12. order rate - per account, then overall, in a sliding one-second window of the clock.

Rules 9-11 only stop orders that *increase* risk: an order that brings the account's position
toward zero (without flipping past it) always gets past them, so risk never blocks the way out.

Positions are capped in quote **notional** (size x price), not base units: one config then
serves BTC at 60,000 and DOGE at 0.1.

Venues: an order is checked against its own venue (``request.venue``): that venue's instrument
rules (tick, lot, min size, listed or not), its mid for the price band and notional, and the
account's position *on that venue* for "reduces" and the per-bot cap, so each leg of a
cross-venue pair (net zero over venues) can be closed on its own. The per-symbol cap, gross
exposure and daily loss stay desk-wide, over every venue. Without the ``venue_*`` lookups
(:class:`~desk.execution.risk.RiskEngine`'s arguments) everything is the one venue's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Literal, Protocol

import msgspec

from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Side
from desk.core.orders import MANUAL_ACCOUNT, OrderRequest, OrderType
from desk.execution.sizing import round_to_step
from desk.market.instruments import Instrument

ZERO = Decimal(0)
HUNDRED = Decimal(100)
RATE_WINDOW_NS = NS_PER_S


class RiskState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


# Enum members as module constants: on CPython 3.11 ``Side.BUY`` costs about 140 ns a lookup
# (EnumType defines ``__getattr__``: the slow generic lookup), a global about 10; every order
# passes here.
_BUY = Side.BUY
_MARKET = OrderType.MARKET
_HALTED = RiskState.HALTED
_REDUCING = RiskState.REDUCING


@lru_cache(maxsize=4096)  # a few per venue's listing
def _min_size_of(text: str) -> Decimal:
    """An instrument's minimum size as a Decimal, parsed once per distinct text."""
    return Decimal(text)


class PortfolioView(Protocol):
    """What risk reads from the portfolio. Money in the quote currency, sizes in base units."""

    def position(self, bot_id: str, symbol: str) -> Decimal:
        """One account's signed position (> 0 long)."""
        ...

    def symbol_position(self, symbol: str) -> Decimal:
        """The desk's signed position in ``symbol``, all accounts together."""
        ...

    def gross_exposure(self) -> Decimal:
        """Sum of |position| x mark over all positions."""
        ...

    def equity(self) -> Decimal: ...

    def daily_pnl(self) -> Decimal:
        """Today's PnL (realized + unrealized - fees); < 0 is a loss."""
        ...


class OpenOrdersView(Protocol):
    """Unfilled size of open orders (the OMS has it); optional, for the position caps."""

    def open_size(self, bot_id: str, symbol: str, side: Side) -> Decimal:
        """One account's unfilled size on ``side``."""
        ...

    def symbol_open_size(self, symbol: str, side: Side) -> Decimal:
        """All accounts' unfilled size on ``side``."""
        ...


class RiskConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits for a small crypto desk; money is in the quote currency (USDT)."""

    price_band_pct: Decimal = Decimal(5)
    """A priced order must be within this % of the mid (fat-finger guard), > 0."""
    max_order_notional: Decimal = Decimal(10_000)
    """Largest single order, size x price (mid for MARKET), > 0."""
    max_position_notional_per_bot: Decimal = Decimal(25_000)
    """Largest |position| x price one account may hold in one symbol, > 0."""
    max_position_notional_per_symbol: Decimal = Decimal(50_000)
    """Largest |position| x price the whole desk may hold in one symbol, > 0."""
    max_gross_exposure_pct: Decimal = Decimal(100)
    """Gross exposure (sum of |position| x mark) as % of equity; 100 = no leverage, > 0."""
    max_orders_per_s_per_account: int = 5
    """Orders one account may send in any one-second window, >= 1."""
    max_orders_per_s: int = 20
    """Orders the whole desk may send in any one-second window, >= 1."""
    daily_loss_limit: Decimal = Decimal(1_000)
    """A loss of this much today (PnL <= -limit) stops new risk and starts REDUCING, > 0."""
    daily_loss_halt: Decimal | None = Decimal(2_000)
    """A loss of this much HALTs (hard limit), >= daily_loss_limit; None: no hard limit."""
    breach_action: Literal["reduce", "halt"] = "reduce"
    """What crossing the exposure or daily loss limit does: trim positions, or halt."""
    trim_fraction: Decimal = Decimal("0.2")
    """Share of each position one REDUCING step closes, in (0, 1]."""
    trim_interval_s: float = 5.0
    """Least time between two REDUCING steps (lets fills land and marks move), >= 0."""
    trim_order_type: OrderType = OrderType.MARKET
    """MARKET, or IOC (a limit priced ``trim_slippage_pct`` through the mid); nothing else."""
    trim_slippage_pct: Decimal = Decimal("0.5")
    """How far through the mid an IOC trimming order is priced, in %, >= 0."""
    recovery_ratio: Decimal = Decimal("0.8")
    """REDUCING ends when exposure and loss are both below this share of their limits, (0, 1]."""
    max_denials_kept: int = 200
    """Recent denials kept for the UI, >= 1."""

    def __post_init__(self) -> None:
        positive = (
            "price_band_pct",
            "max_order_notional",
            "max_position_notional_per_bot",
            "max_position_notional_per_symbol",
            "max_gross_exposure_pct",
            "daily_loss_limit",
        )
        for name in positive:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"@{name}: must be > 0, got {value}")
        for name in ("max_orders_per_s_per_account", "max_orders_per_s", "max_denials_kept"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"@{name}: must be >= 1, got {value}")
        if self.daily_loss_halt is not None and self.daily_loss_halt < self.daily_loss_limit:
            raise ValueError(
                f"@daily_loss_halt: must be >= daily_loss_limit ({self.daily_loss_limit}), "
                f"got {self.daily_loss_halt}"
            )
        if not ZERO < self.trim_fraction <= 1:
            raise ValueError(f"@trim_fraction: must be in (0, 1], got {self.trim_fraction}")
        if self.trim_order_type not in (OrderType.MARKET, OrderType.IOC):
            raise ValueError(f"@trim_order_type: must be market or ioc, got {self.trim_order_type}")
        if not self.trim_interval_s >= 0:
            raise ValueError(f"@trim_interval_s: must be >= 0, got {self.trim_interval_s}")
        if self.trim_slippage_pct < 0 or self.trim_slippage_pct >= HUNDRED:
            raise ValueError(
                f"@trim_slippage_pct: must be in [0, 100), got {self.trim_slippage_pct}"
            )
        if self.trim_slippage_pct >= self.price_band_pct:
            raise ValueError(
                f"@trim_slippage_pct: must be below price_band_pct ({self.price_band_pct}) or "
                f"the trimming orders fail the price band, got {self.trim_slippage_pct}"
            )
        if not ZERO < self.recovery_ratio <= 1:
            raise ValueError(f"@recovery_ratio: must be in (0, 1], got {self.recovery_ratio}")


def money(value: Decimal) -> str:
    """12500 -> '12,500.00': quote amounts in reasons."""
    return f"{value:,.2f}"


def qty(value: Decimal) -> str:
    """A size or price without exponent or trailing zeros: Decimal('1E+2') -> '100'."""
    return format(value.normalize(), "f")


def _reduces(position: Decimal, request: OrderRequest) -> bool:
    """Whether the order only brings ``position`` toward zero.

    Opposite side to a non-zero position, and no bigger than it, unless ``reduce_only`` (the
    venue caps a reduce-only order at the position). A reduce-only flag on the wrong side
    reduces nothing and does not count.
    """
    if position == 0 or (position > 0) == (request.side is _BUY):
        return False
    return request.reduce_only or request.size <= abs(position)


class RateWindow:
    """Send times in the last second, oldest first."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: deque[int] = deque()

    def count(self, now_ns: int) -> int:
        times = self.times
        while times and times[0] <= now_ns - RATE_WINDOW_NS:
            times.popleft()
        return len(times)


class PreTradeRules:
    """The rules of the module docstring, in order; the first that fails is the reason.

    The attributes are set by :class:`~desk.execution.risk.RiskEngine`'s constructor.
    """

    config: RiskConfig
    clock: Clock
    portfolio: PortfolioView
    state_reason: str
    _instrument: Callable[[str], Instrument | None]
    _mid: Callable[[str], Decimal | None]
    _venue_instrument: Callable[[str, str], Instrument | None] | None
    _venue_mid: Callable[[str, str], Decimal | None] | None
    _venue_position: Callable[[str, str, str], Decimal] | None
    _open_orders: OpenOrdersView | None
    _state: RiskState
    _rate_total: RateWindow
    _rate_by_account: dict[str, RateWindow]

    # -- per venue (module docstring) ------------------------------------------------------

    def instrument_on(self, venue: str | None, symbol: str) -> Instrument | None:
        """``symbol``'s rules on ``venue`` (None: the one venue's, without venue lookups)."""
        if venue is None or self._venue_instrument is None:
            return self._instrument(symbol)
        return self._venue_instrument(venue, symbol)

    def mid_on(self, venue: str | None, symbol: str) -> Decimal | None:
        if venue is None or self._venue_mid is None:
            return self._mid(symbol)
        return self._venue_mid(venue, symbol)

    def position_on(self, venue: str | None, bot_id: str, symbol: str) -> Decimal:
        """One account's position on ``venue`` (None, or no venue lookups: all venues)."""
        if venue is None or self._venue_position is None:
            return self.portfolio.position(bot_id, symbol)
        return self._venue_position(bot_id, symbol, venue)

    def _venue_named(self, request: OrderRequest) -> str:
        """`` on binance`` when the desk checks per venue, for the reasons."""
        return f" on {request.venue}" if self._venue_instrument is not None else ""

    def _check(self, request: OrderRequest) -> OrderRequest | str:
        cfg = self.config
        if self._state is _HALTED:
            return f"halted: {self.state_reason}"

        # instrument_on, position_on and mid_on written out: every order passes here
        venue, symbol, per_venue = request.venue, request.symbol, request.venue is not None
        if per_venue and self._venue_instrument is not None:
            instrument = self._venue_instrument(venue, symbol)
        else:
            instrument = self._instrument(symbol)
        if instrument is None:
            return f"unknown instrument: {request.symbol}{self._venue_named(request)}"
        if not instrument.is_live:
            return f"instrument not live: {request.symbol} is {instrument.state}"

        if not request.size > 0:
            return f"invalid size: {qty(request.size)} (must be > 0)"
        if request.order_type is _MARKET:
            if request.price is not None:
                return "invalid price: a market order takes no price"
        elif request.price is None or not request.price > 0:
            shown = "none" if request.price is None else qty(request.price)
            return f"invalid price: {shown} (a {request.order_type} order needs a price > 0)"

        on_grid = self._on_grid(request, instrument)
        if isinstance(on_grid, str):
            return on_grid
        request = on_grid

        min_size = _min_size_of(instrument.min_size)
        if request.size < min_size:
            return f"min size: {qty(request.size)} < {qty(min_size)}"

        if per_venue and self._venue_position is not None:
            position = self._venue_position(request.bot_id, symbol, venue)
        else:
            position = self.portfolio.position(request.bot_id, symbol)
        reduces = _reduces(position, request)
        if self._state is _REDUCING and not reduces:
            return (
                f"reducing: only orders that reduce a position pass ({request.bot_id} holds "
                f"{qty(position)} {request.symbol}{self._venue_named(request)}; "
                f"{request.side} {qty(request.size)} does not reduce it) - {self.state_reason}"
            )

        if per_venue and self._venue_mid is not None:
            mid = self._venue_mid(venue, symbol)
        else:
            mid = self._mid(symbol)
        if mid is None or not mid > 0:
            return f"price band: no mid price for {request.symbol}{self._venue_named(request)}"
        if request.price is not None:
            off_pct = abs(request.price - mid) / mid * HUNDRED
            if off_pct > cfg.price_band_pct:
                return (
                    f"price band: {qty(request.price)} is {off_pct:.2f}% from mid {qty(mid)} "
                    f"> {cfg.price_band_pct:.2f}%"
                )
        px = mid if request.price is None else request.price

        notional = request.size * px
        if notional > cfg.max_order_notional:
            return f"max order notional: {money(notional)} > {money(cfg.max_order_notional)}"

        if not reduces:
            denial = self._increase_checks(request, position, px)
            if denial:
                return denial

        return self._rate_check(request.bot_id) or request

    def _on_grid(self, request: OrderRequest, instrument: Instrument) -> OrderRequest | str:
        """A bot's order rounded onto the grid; a manual order unchanged, or why it is off it."""
        tick, lot = instrument.tick, instrument.lot
        price, size = request.price, request.size
        if request.bot_id == MANUAL_ACCOUNT:
            if price is not None and price % tick != 0:
                low = round_to_step(price, tick, "down")
                return (
                    f"price off tick: {qty(price)} is not a multiple of {qty(tick)} "
                    f"(nearest valid: {qty(low)} or {qty(low + tick)})"
                )
            if size % lot != 0:
                low = round_to_step(size, lot, "down")
                return (
                    f"size off lot: {qty(size)} is not a multiple of {qty(lot)} "
                    f"(nearest valid: {qty(low)} or {qty(low + lot)})"
                )
            return request
        if price is not None:
            price = round_to_step(price, tick, "down" if request.side is _BUY else "up")
        size = round_to_step(size, lot, "down")
        if price == request.price and size == request.size:
            return request
        return msgspec.structs.replace(request, price=price, size=size)

    def _increase_checks(self, request: OrderRequest, position: Decimal, px: Decimal) -> str:
        """Position caps, gross exposure and daily loss, for an order that adds risk; "" = ok."""
        cfg = self.config
        side = request.side
        buy = side is _BUY
        signed = request.size if buy else -request.size
        bot_open = sym_open = ZERO
        open_orders = self._open_orders
        if open_orders is not None:
            bot_open = open_orders.open_size(request.bot_id, request.symbol, side)
            sym_open = open_orders.symbol_open_size(request.symbol, side)
        sign = 1 if buy else -1

        after = position + signed  # the account's position once this order fills
        bot_after = after + sign * bot_open
        if abs(bot_after) * px > cfg.max_position_notional_per_bot:
            return (
                f"max position per bot: {money(abs(bot_after) * px)} > "
                f"{money(cfg.max_position_notional_per_bot)} ({request.bot_id} would hold "
                f"{qty(bot_after)} {request.symbol}{self._venue_named(request)})"
            )
        symbol_after = self.portfolio.symbol_position(request.symbol) + signed + sign * sym_open
        if abs(symbol_after) * px > cfg.max_position_notional_per_symbol:
            return (
                f"max position per symbol: {money(abs(symbol_after) * px)} > "
                f"{money(cfg.max_position_notional_per_symbol)} (desk would hold "
                f"{qty(symbol_after)} {request.symbol})"
            )

        added = (abs(after) - abs(position)) * px
        if added > 0:
            equity = self.portfolio.equity()
            limit = equity * cfg.max_gross_exposure_pct / HUNDRED
            gross_after = self.portfolio.gross_exposure() + added
            if gross_after > limit:
                return (
                    f"gross exposure: {money(gross_after)} > {money(limit)} "
                    f"({cfg.max_gross_exposure_pct:g}% of equity {money(equity)})"
                )

        pnl = self.portfolio.daily_pnl()
        if pnl <= -cfg.daily_loss_limit:
            return f"daily loss: {money(pnl)} <= {money(-cfg.daily_loss_limit)}"
        return ""

    def _rate_check(self, bot_id: str) -> str:
        cfg = self.config
        now = self.clock.now_ns()
        window = self._rate_by_account.get(bot_id)
        sent = window.count(now) if window is not None else 0
        if sent >= cfg.max_orders_per_s_per_account:
            return (
                f"order rate: {bot_id} sent {sent} orders in the last 1s "
                f"(max {cfg.max_orders_per_s_per_account})"
            )
        sent = self._rate_total.count(now)
        if sent >= cfg.max_orders_per_s:
            return (
                f"order rate: desk sent {sent} orders in the last 1s (max {cfg.max_orders_per_s})"
            )
        return ""
