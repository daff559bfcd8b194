"""Pre-trade risk and the continuous risk monitor (DESIGN.md section 5).

Every order, a bot's or an operator's, passes :meth:`RiskEngine.check` before the OMS sends it.
``check`` returns the request to send or a denial reason that names the rule and the numbers
("max order notional: 12,500.00 > 10,000.00"). A bot's order is put on the instrument's grid
(bids down, asks up, size down: never more aggressive or bigger than asked); an operator's order
is never changed behind their back: off-grid is denied with the nearest valid values.

The rules, in the order they are checked, and their limits (:class:`RiskConfig`) are in
risk_rules.py; :class:`RiskEngine` holds the risk state, counts what it passes and runs them.

The monitor, :meth:`RiskEngine.evaluate`, runs on a timer: when gross exposure or the daily loss
crosses its limit the engine moves to REDUCING (or HALTED when ``breach_action`` is "halt" or
the loss reaches ``daily_loss_halt``) and returns reduce-only orders that trim every position by
``trim_fraction`` each ``trim_interval_s``; it goes back to ACTIVE once both figures are below
``recovery_ratio`` of their limits (hysteresis: no flapping at the line).

The state is durable: every change is handed to ``persist`` (the execution service stores it in
SQLite) as a :class:`RiskRecord` with the reason, who set it and when, and :meth:`RiskEngine.
restore` brings it back at start, after a clean stop, a crash or a kill -9. A restored HALTED or
REDUCING ends only with an operator's :meth:`~RiskEngine.resume`: the monitor does not lift a
restored REDUCING by itself, because after a restart its figures start afresh (marks not yet in,
today's PnL rebuilt from fills) and could look healthy before they are.
"""

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import msgspec

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Severity, Side
from desk.core.events import SystemEvent
from desk.core.orders import OrderRequest, OrderType
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.risk_rules import (
    HUNDRED,
    ZERO,
    OpenOrdersView,
    PortfolioView,
    PreTradeRules,
    RateWindow,
    RiskConfig,
    RiskState,
    money,
    qty,
)
from desk.execution.sizing import round_to_step
from desk.market.instruments import Instrument

log = logging.getLogger(__name__)

_Account = tuple[str, str, str | None]
"""(bot_id, symbol, venue): one position the monitor may trim; venue None: all venues."""

MONITOR = "risk monitor"
"""The actor of the state changes the monitor makes."""


class RiskRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The risk state as stored: what, why, who set it and since when (clock ns)."""

    state: RiskState
    reason: str
    actor: str
    since_ns: int


class Denial(msgspec.Struct, frozen=True, kw_only=True):
    """One refused order, for the UI's risk panel."""

    ts_ns: int
    request: OrderRequest
    reason: str


class RiskEngine(PreTradeRules):
    """Pre-trade checks, risk state and the trimming monitor; see the module docstring.

    ``accounts`` lists the (bot_id, symbol) pairs, or (bot_id, symbol, venue) triples, that
    may hold a position (the portfolio knows them; :class:`PortfolioView` cannot enumerate).
    Those of orders this engine passed are remembered as well, so without it the monitor still
    trims what was traded since start.

    ``venue_instrument(venue, symbol)``, ``venue_mid(venue, symbol)`` and
    ``venue_position(bot_id, symbol, venue)``: each order is checked against its own venue
    (risk_rules.py); without them, against ``instruments``/``mid`` and the account's position
    over all venues (a desk of one venue). Trimming then closes each venue's position there.
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
        accounts: Callable[[], Iterable[tuple[str, ...]]] | None = None,
        bus: Bus | None = None,
        persist: Callable[[RiskRecord], None] | None = None,
        venue_instrument: Callable[[str, str], Instrument | None] | None = None,
        venue_mid: Callable[[str, str], Decimal | None] | None = None,
        venue_position: Callable[[str, str, str], Decimal] | None = None,
    ) -> None:
        self.config = config or RiskConfig()
        self.persist = persist
        self.clock = clock
        self.portfolio = portfolio
        self.bus = bus
        self._instrument = instruments.get if isinstance(instruments, Mapping) else instruments
        self._mid = mid
        self._venue_instrument = venue_instrument
        self._venue_mid = venue_mid
        self._venue_position = venue_position
        self._open_orders = open_orders
        self._accounts = accounts
        self._state = RiskState.ACTIVE
        self.state_reason = ""
        self.state_actor = ""
        self.state_since_ns = 0
        self.restored = False
        """The current state was restored at start (and nothing has changed it since)."""
        self._denials: deque[Denial] = deque(maxlen=self.config.max_denials_kept)
        self._rate_total = RateWindow()
        self._rate_by_account: dict[str, RateWindow] = {}
        self._traded: dict[_Account, None] = {}  # ordered set of (bot_id, symbol, venue)
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

    @property
    def record(self) -> RiskRecord:
        return RiskRecord(
            state=self._state,
            reason=self.state_reason,
            actor=self.state_actor,
            since_ns=self.state_since_ns,
        )

    def halt(self, reason: str, actor: str = "operator") -> None:
        """Deny every order until :meth:`resume` (the OMS cancels open orders on halt)."""
        self._set_state(RiskState.HALTED, reason or "halted by operator", actor)

    def resume(self, reason: str = "resumed", actor: str = "operator") -> None:
        """Back to ACTIVE; the monitor re-enters REDUCING at once if a limit is still crossed.

        Resuming after a hard daily-loss halt acknowledges it: the monitor then reduces
        instead of halting again for the same loss, so the operator can trade the way out.
        """
        if self._state is RiskState.HALTED and self._hard_loss_breached():
            self._hard_loss_acknowledged = True
        self._set_state(RiskState.ACTIVE, reason, actor)

    def restore(self, record: RiskRecord) -> None:
        """Come back in the state the last run left (read from storage at start).

        Nothing is stored again and nothing is cancelled here; a restored HALTED or REDUCING
        stays until :meth:`resume` (see the module docstring). ACTIVE restores nothing.
        """
        if record.state is RiskState.ACTIVE:
            return
        self._state, self.state_reason = record.state, record.reason
        self.state_actor, self.state_since_ns = record.actor, record.since_ns
        self.restored = True
        self._last_trim_ns = None
        self._publish(
            "risk_restored",
            f"{record.state} restored from the last run: {record.reason} "
            f"(set by {record.actor or 'unknown'} at {_utc(record.since_ns)})",
            _SEVERITY[record.state],
        )

    def _set_state(self, state: RiskState, reason: str, actor: str = MONITOR) -> None:
        if state is self._state and reason == self.state_reason:
            return
        old, self._state, self.state_reason = self._state, state, reason
        self.state_actor, self.state_since_ns = actor, self.clock.now_ns()
        self.restored = False
        if state is RiskState.REDUCING and old is not RiskState.REDUCING:
            self._last_trim_ns = None
        if self.persist is not None:
            try:
                self.persist(self.record)
            except Exception:  # storage must not stop a halt; the log says what was not kept
                log.exception("risk: could not store the risk state %s", state)
        self._publish("risk_state", f"{old} -> {state}: {reason} (by {actor})", _SEVERITY[state])

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
        bot_id = result.bot_id
        window = self._rate_by_account.get(bot_id)
        if window is None:
            window = self._rate_by_account[bot_id] = RateWindow()
        window.times.append(now)
        venue = result.venue if self._venue_position is not None else None  # _account's key
        self._traded[(bot_id, result.symbol, venue)] = None
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
            self.halt(f"daily loss hard limit: {money(pnl)} <= {money(-hard_limit)}", MONITOR)
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
                self.halt(reason, MONITOR)
                return []
            if self._state is RiskState.ACTIVE:
                self._set_state(RiskState.REDUCING, reason)
        elif self._state is RiskState.REDUCING and not self.restored:
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

    def _account(self, bot_id: str, symbol: str, venue: str | None) -> _Account:
        """The key of one position: per venue only when risk looks positions up per venue."""
        return bot_id, symbol, venue if self._venue_position is not None else None

    def _trim_orders(self) -> list[OrderRequest]:
        accounts = dict(self._traded)
        if self._accounts is not None:
            for account in self._accounts():
                venue = account[2] if len(account) > 2 else None
                accounts[self._account(account[0], account[1], venue)] = None
        orders = []
        for bot_id, symbol, venue in accounts:
            order = self._trim_order(bot_id, symbol, venue)
            if order is not None:
                orders.append(order)
        if orders:
            self._publish(
                "risk_trim",
                f"trimming {len(orders)} positions by {self.config.trim_fraction * HUNDRED:g}%",
                Severity.WARNING,
            )
        return orders

    def _trim_order(self, bot_id: str, symbol: str, venue: str | None) -> OrderRequest | None:
        """A reduce-only order closing ``trim_fraction`` of one position (None: nothing to do),
        on ``venue`` (None: the account's position over all venues, on the instrument's venue).

        At least the minimum size, and all of it when what would be left is below the minimum
        (no dust), but never more than ``max_order_notional`` (so it passes :meth:`check`); a
        position below the minimum size cannot be traded and is left alone.
        """
        cfg = self.config
        position = self.position_on(venue, bot_id, symbol)
        instrument = self.instrument_on(venue, symbol)
        if position == 0 or instrument is None:
            return None
        held = abs(position)
        lot, min_size = instrument.lot, Decimal(instrument.min_size)
        size = max(round_to_step(held * cfg.trim_fraction, lot, "down"), min_size)
        if held - size < min_size:
            size = round_to_step(held, lot, "down")
        mid = self.mid_on(venue, symbol)
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
            venue=venue or instrument.venue,
        )


_SEVERITY = {
    RiskState.ACTIVE: Severity.INFO,
    RiskState.REDUCING: Severity.WARNING,
    RiskState.HALTED: Severity.ERROR,
}


def _utc(ts_ns: int) -> str:
    if ts_ns <= 0:
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts_ns // NS_PER_S))
