"""Pre-trade risk and the continuous risk monitor (DESIGN.md section 5).

Every order, a bot's or an operator's, passes :meth:`RiskEngine.check` before the OMS sends it.
``check`` returns the request to send or a denial reason that names the rule and the numbers
("max order notional: 12,500.00 > 10,000.00"). A bot's order is put on the instrument's grid
(bids down, asks up, size down: never more aggressive or bigger than asked); an operator's order
is never changed behind their back: off-grid is denied with the nearest valid values.

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

The monitor, :meth:`RiskEngine.evaluate`, runs on a timer: when gross exposure or the daily loss
crosses its limit the engine moves to REDUCING (or HALTED when ``breach_action`` is "halt" or
the loss reaches ``daily_loss_halt``) and returns reduce-only orders that trim every position by
``trim_fraction`` each ``trim_interval_s``; it goes back to ACTIVE once both figures are below
``recovery_ratio`` of their limits (hysteresis: no flapping at the line).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol

import msgspec

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Severity, Side
from desk.core.events import SystemEvent
from desk.core.orders import MANUAL_ACCOUNT, OrderRequest, OrderType
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.sizing import round_to_step
from desk.market.instruments import Instrument

log = logging.getLogger(__name__)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
RATE_WINDOW_NS = NS_PER_S


class RiskState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


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


class Denial(msgspec.Struct, frozen=True, kw_only=True):
    """One refused order, for the UI's risk panel."""

    ts_ns: int
    request: OrderRequest
    reason: str


def money(value: Decimal) -> str:
    """12500 -> '12,500.00': quote amounts in reasons."""
    return f"{value:,.2f}"


def qty(value: Decimal) -> str:
    """A size or price without exponent or trailing zeros: Decimal('1E+2') -> '100'."""
    return format(value.normalize(), "f")


def _signed(side: Side, size: Decimal) -> Decimal:
    return size if side is Side.BUY else -size


def _reduces(position: Decimal, request: OrderRequest) -> bool:
    """Whether the order only brings ``position`` toward zero.

    Opposite side to a non-zero position, and no bigger than it, unless ``reduce_only`` (the
    venue caps a reduce-only order at the position). A reduce-only flag on the wrong side
    reduces nothing and does not count.
    """
    if position == 0 or (position > 0) == (request.side is Side.BUY):
        return False
    return request.reduce_only or request.size <= abs(position)


class _RateWindow:
    """Send times in the last second, oldest first."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: deque[int] = deque()

    def count(self, now_ns: int) -> int:
        times = self.times
        while times and times[0] <= now_ns - RATE_WINDOW_NS:
            times.popleft()
        return len(times)


class RiskEngine:
    """Pre-trade checks, risk state and the trimming monitor; see the module docstring.

    ``accounts`` lists the (bot_id, symbol) pairs that may hold a position (the portfolio knows
    them; :class:`PortfolioView` cannot enumerate). Pairs of orders this engine passed are
    remembered as well, so without it the monitor still trims what was traded since start.
    """

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument] | Callable[[str], Instrument | None],
        mid: Callable[[str], Decimal | None],
        portfolio: PortfolioView,
        clock: Clock,
        config: RiskConfig | None = None,
        open_orders: OpenOrdersView | None = None,
        accounts: Callable[[], Iterable[tuple[str, str]]] | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.config = config or RiskConfig()
        self.clock = clock
        self.portfolio = portfolio
        self.bus = bus
        self._instrument = instruments.get if isinstance(instruments, Mapping) else instruments
        self._mid = mid
        self._open_orders = open_orders
        self._accounts = accounts
        self._state = RiskState.ACTIVE
        self.state_reason = ""
        self._denials: deque[Denial] = deque(maxlen=self.config.max_denials_kept)
        self._rate_total = _RateWindow()
        self._rate_by_account: dict[str, _RateWindow] = {}
        self._traded: dict[tuple[str, str], None] = {}  # ordered set of (bot_id, symbol)
        self._last_trim_ns: int | None = None
        self._hard_loss_acknowledged = False

    # -- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> RiskState:
        return self._state

    @property
    def denials(self) -> list[Denial]:
        """Recent denials, oldest first (at most ``max_denials_kept``)."""
        return list(self._denials)

    def halt(self, reason: str) -> None:
        """Deny every order until :meth:`resume` (the OMS cancels open orders on halt)."""
        self._set_state(RiskState.HALTED, reason or "halted by operator")

    def resume(self, reason: str = "resumed by operator") -> None:
        """Back to ACTIVE; the monitor re-enters REDUCING at once if a limit is still crossed.

        Resuming after a hard daily-loss halt acknowledges it: the monitor then reduces
        instead of halting again for the same loss, so the operator can trade the way out.
        """
        if self._state is RiskState.HALTED and self._hard_loss_breached():
            self._hard_loss_acknowledged = True
        self._set_state(RiskState.ACTIVE, reason)

    def _set_state(self, state: RiskState, reason: str) -> None:
        if state is self._state and reason == self.state_reason:
            return
        old, self._state, self.state_reason = self._state, state, reason
        if state is RiskState.REDUCING and old is not RiskState.REDUCING:
            self._last_trim_ns = None
        severity = {
            RiskState.ACTIVE: Severity.INFO,
            RiskState.REDUCING: Severity.WARNING,
            RiskState.HALTED: Severity.ERROR,
        }[state]
        self._publish("risk_state", f"{old} -> {state}: {reason}", severity)

    def _publish(self, kind: str, message: str, severity: Severity, symbol: str = "") -> None:
        level = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING}
        log.log(level.get(severity, logging.ERROR), "risk %s: %s", kind, message)
        if self.bus is None:
            return
        event = SystemEvent(
            ts_exchange=0,
            ts_recv=self.clock.now_ns(),
            source="risk",
            kind=kind,
            message=message,
            severity=severity,
            symbol=symbol,
        )
        self.bus.publish(SYSTEM_EVENTS, event)

    # -- pre-trade -------------------------------------------------------------------------------

    def check(self, request: OrderRequest) -> OrderRequest | str:
        """The request to send (a bot's put on the grid), or why it is denied."""
        result = self._check(request)
        if isinstance(result, str):
            self._deny(request, result)
            return result
        now = self.clock.now_ns()
        self._rate_total.times.append(now)
        self._rate_by_account.setdefault(result.bot_id, _RateWindow()).times.append(now)
        self._traded[(result.bot_id, result.symbol)] = None
        return result

    def preview(self, request: OrderRequest) -> OrderRequest | str:
        """What :meth:`check` would answer now, with no side effect: nothing is counted
        against the rate limit and no denial is recorded (the ticket validates as one types)."""
        return self._check(request)

    def _deny(self, request: OrderRequest, reason: str) -> None:
        self._denials.append(Denial(ts_ns=self.clock.now_ns(), request=request, reason=reason))
        message = (
            f"denied {request.bot_id} {request.side} {qty(request.size)} {request.symbol}"
            f"{'' if request.price is None else ' @ ' + qty(request.price)}: {reason}"
        )
        self._publish("risk_denied", message, Severity.WARNING, request.symbol)

    def _check(self, request: OrderRequest) -> OrderRequest | str:
        cfg = self.config
        if self._state is RiskState.HALTED:
            return f"halted: {self.state_reason}"

        instrument = self._instrument(request.symbol)
        if instrument is None:
            return f"unknown instrument: {request.symbol}"
        if not instrument.is_live:
            return f"instrument not live: {request.symbol} is {instrument.state}"

        if not request.size > 0:
            return f"invalid size: {qty(request.size)} (must be > 0)"
        if request.order_type is OrderType.MARKET:
            if request.price is not None:
                return "invalid price: a market order takes no price"
        elif request.price is None or not request.price > 0:
            shown = "none" if request.price is None else qty(request.price)
            return f"invalid price: {shown} (a {request.order_type} order needs a price > 0)"

        on_grid = self._on_grid(request, instrument)
        if isinstance(on_grid, str):
            return on_grid
        request = on_grid

        min_size = Decimal(instrument.min_size)
        if request.size < min_size:
            return f"min size: {qty(request.size)} < {qty(min_size)}"

        position = self.portfolio.position(request.bot_id, request.symbol)
        reduces = _reduces(position, request)
        if self._state is RiskState.REDUCING and not reduces:
            return (
                f"reducing: only orders that reduce a position pass ({request.bot_id} holds "
                f"{qty(position)} {request.symbol}; {request.side} {qty(request.size)} does not "
                f"reduce it) - {self.state_reason}"
            )

        mid = self._mid(request.symbol)
        if mid is None or not mid > 0:
            return f"price band: no mid price for {request.symbol}"
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
            price = round_to_step(price, tick, "down" if request.side is Side.BUY else "up")
        size = round_to_step(size, lot, "down")
        if price == request.price and size == request.size:
            return request
        return msgspec.structs.replace(request, price=price, size=size)

    def _increase_checks(self, request: OrderRequest, position: Decimal, px: Decimal) -> str:
        """Position caps, gross exposure and daily loss, for an order that adds risk; "" = ok."""
        cfg = self.config
        signed = _signed(request.side, request.size)
        bot_open = sym_open = ZERO
        if self._open_orders is not None:
            bot_open = self._open_orders.open_size(request.bot_id, request.symbol, request.side)
            sym_open = self._open_orders.symbol_open_size(request.symbol, request.side)
        sign = 1 if request.side is Side.BUY else -1

        bot_after = position + signed + sign * bot_open
        if abs(bot_after) * px > cfg.max_position_notional_per_bot:
            return (
                f"max position per bot: {money(abs(bot_after) * px)} > "
                f"{money(cfg.max_position_notional_per_bot)} ({request.bot_id} would hold "
                f"{qty(bot_after)} {request.symbol})"
            )
        symbol_after = self.portfolio.symbol_position(request.symbol) + signed + sign * sym_open
        if abs(symbol_after) * px > cfg.max_position_notional_per_symbol:
            return (
                f"max position per symbol: {money(abs(symbol_after) * px)} > "
                f"{money(cfg.max_position_notional_per_symbol)} (desk would hold "
                f"{qty(symbol_after)} {request.symbol})"
            )

        added = (abs(position + signed) - abs(position)) * px
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

    # -- monitor ---------------------------------------------------------------------------------

    def _hard_loss_breached(self, pnl: Decimal | None = None) -> bool:
        limit = self.config.daily_loss_halt
        if limit is None:
            return False
        return (self.portfolio.daily_pnl() if pnl is None else pnl) <= -limit

    def evaluate(self) -> list[OrderRequest]:
        """Move between ACTIVE / REDUCING / HALTED by the limits; trimming orders when due.

        Called on a timer. In HALTED it does nothing (halt means no orders at all). The orders
        returned are reduce-only and should be sent through :meth:`check` like any other.
        """
        if self._state is RiskState.HALTED:
            return []
        cfg = self.config
        pnl = self.portfolio.daily_pnl()
        if not self._hard_loss_breached(pnl):
            self._hard_loss_acknowledged = False
        elif not self._hard_loss_acknowledged:
            hard_limit = cfg.daily_loss_halt or ZERO
            self.halt(f"daily loss hard limit: {money(pnl)} <= {money(-hard_limit)}")
            return []

        equity = self.portfolio.equity()
        gross = self.portfolio.gross_exposure()
        gross_limit = equity * cfg.max_gross_exposure_pct / HUNDRED
        breaches = []
        if gross > gross_limit:
            breaches.append(f"gross exposure: {money(gross)} > {money(gross_limit)}")
        if pnl <= -cfg.daily_loss_limit:
            breaches.append(f"daily loss: {money(pnl)} <= {money(-cfg.daily_loss_limit)}")

        if breaches:
            reason = "; ".join(breaches)
            if cfg.breach_action == "halt":
                self.halt(reason)
                return []
            if self._state is RiskState.ACTIVE:
                self._set_state(RiskState.REDUCING, reason)
        elif self._state is RiskState.REDUCING:
            recovered = (
                gross <= gross_limit * cfg.recovery_ratio
                and pnl > -cfg.daily_loss_limit * cfg.recovery_ratio
            )
            if recovered:
                self._set_state(
                    RiskState.ACTIVE,
                    f"back below limits: gross exposure {money(gross)}, daily PnL {money(pnl)}",
                )
                return []

        if self._state is not RiskState.REDUCING:
            return []
        now = self.clock.now_ns()
        interval_ns = int(Decimal(repr(cfg.trim_interval_s)) * NS_PER_S)
        if self._last_trim_ns is not None and now - self._last_trim_ns < interval_ns:
            return []
        self._last_trim_ns = now
        return self._trim_orders()

    def _trim_orders(self) -> list[OrderRequest]:
        pairs = dict(self._traded)
        if self._accounts is not None:
            pairs.update(dict.fromkeys(self._accounts()))
        orders = []
        for bot_id, symbol in pairs:
            order = self._trim_order(bot_id, symbol)
            if order is not None:
                orders.append(order)
        if orders:
            self._publish(
                "risk_trim",
                f"trimming {len(orders)} positions by {self.config.trim_fraction * HUNDRED:g}%",
                Severity.WARNING,
            )
        return orders

    def _trim_order(self, bot_id: str, symbol: str) -> OrderRequest | None:
        """A reduce-only order closing ``trim_fraction`` of one position (None: nothing to do).

        At least the minimum size, and all of it when what would be left is below the minimum
        (no dust), but never more than ``max_order_notional`` (so it passes :meth:`check`); a
        position below the minimum size cannot be traded and is left alone.
        """
        cfg = self.config
        position = self.portfolio.position(bot_id, symbol)
        instrument = self._instrument(symbol)
        if position == 0 or instrument is None:
            return None
        held = abs(position)
        lot, min_size = instrument.lot, Decimal(instrument.min_size)
        size = max(round_to_step(held * cfg.trim_fraction, lot, "down"), min_size)
        if held - size < min_size:
            size = round_to_step(held, lot, "down")
        mid = self._mid(symbol)
        if mid is not None and mid > 0:
            size = min(size, round_to_step(cfg.max_order_notional / mid, lot, "down"))
        if size < min_size:
            log.warning("risk: cannot trim %s %s %s: below min size", bot_id, symbol, held)
            return None
        side = Side.SELL if position > 0 else Side.BUY
        price = None
        if cfg.trim_order_type is OrderType.IOC:
            if mid is None or not mid > 0:
                log.warning("risk: no mid for %s: cannot price an IOC trim", symbol)
                return None
            through = cfg.trim_slippage_pct / HUNDRED
            if side is Side.SELL:
                price = round_to_step(mid * (1 - through), instrument.tick, "down")
            else:
                price = round_to_step(mid * (1 + through), instrument.tick, "up")
        return OrderRequest(
            symbol=symbol,
            side=side,
            order_type=cfg.trim_order_type,
            size=size,
            price=price,
            bot_id=bot_id,
            reduce_only=True,
            venue=instrument.venue,
        )
