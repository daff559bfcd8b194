"""Execution assembled: venue client behind a circuit breaker, risk, the OMS, the portfolio.

One :class:`ExecutionService` per engine. Every order, a bot's or an operator's, goes
``OrderManager.submit`` -> ``RiskEngine.check`` -> venue; there is no other path to a venue.
The venue is chosen by the desk's mode (``execution.venue``):

* SIM   - the simulator's private OKX API (login, ``orders`` channel, WS order ops), with the
          simulator's demo credentials (passed in by the engine: execution does not import
          the simulator): the live OKX client exercised end to end offline;
* PAPER - :class:`~desk.execution.paper.PaperVenue`, fills against the live local books;
* LIVE  - OKX itself (``execution.demo`` for OKX's demo trading), credentials from the
          environment or a 0600 file; only with ``execution.allow_live`` and, in the UI, an
          on-screen confirmation.

A timer marks positions to the books' mids and runs the risk monitor, whose trimming orders
go through the same OMS. :meth:`halt` cancels everything and blocks new orders at once, with
no await in between, so it works even while a bot keeps firing signals.

The risk state and the breaker's are stored in SQLite (``risk_state``) on every change and
restored by :meth:`start` before anything can trade: a desk halted or reducing when it stopped,
crashed or was killed comes back so, and only an operator's resume trades again. A restored
halt cancels whatever is still open once the venue is reconciled (the cancels sent before the
crash may never have reached it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from desk.core.bus import Bus
from desk.core.clock import Clock
from desk.core.enums import Mode, Severity, Side
from desk.core.events import SystemEvent, Trade
from desk.core.orders import Order, OrderRequest, OrderType
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.bot_orders import OmsSink
from desk.execution.breaker import BreakerState, CircuitBreaker, GuardedVenue
from desk.execution.config import ExecutionConfig
from desk.execution.oms import OrderManager
from desk.execution.portfolio import Portfolio
from desk.execution.risk import RiskEngine, RiskRecord
from desk.execution.risk_rules import RiskState
from desk.execution.venue import ExecutionClient
from desk.market.book import OrderBook
from desk.market.instruments import Instrument

log = logging.getLogger(__name__)

MARK_INTERVAL = 0.25
RISK_COMPONENT = "risk"
"""The ``risk_state`` row of the risk state; a breaker's is ``breaker:<venue>``."""


class OkxEndpoints(Protocol):
    """The OKX endpoints the venue client talks to (the ``exchanges.okx`` config section)."""

    @property
    def ws_private_url(self) -> str: ...

    @property
    def rest_url(self) -> str: ...


class ApiKey(Protocol):
    """An API key, its secret and passphrase (the simulator's demo key in sim mode)."""

    @property
    def api_key(self) -> str: ...

    @property
    def secret(self) -> str: ...

    @property
    def passphrase(self) -> str: ...


class ExecutionService:
    """Owns the execution components of one engine and their start/stop order.

    ``config`` is the ``execution`` section; ``mode`` the desk's mode, ``symbols`` the traded
    symbols (marked to their mids), ``okx`` the OKX endpoints. ``sim_credentials``: the key
    the venue client logs in with in sim mode (the simulator's demo key, which the engine
    passes in).
    """

    def __init__(
        self,
        config: ExecutionConfig,
        bus: Bus,
        store: Any,
        clock: Clock,
        *,
        mode: Mode,
        symbols: Sequence[str],
        okx: OkxEndpoints,
        book: Callable[[str], OrderBook | None],
        instruments: dict[str, Instrument],
        atr: Callable[[str, str], float] | None = None,
        sim_credentials: ApiKey | None = None,
    ) -> None:
        self.config = config
        self.mode = mode
        self.symbols = tuple(symbols)
        self.okx = okx
        self.sim_credentials = sim_credentials
        self.bus = bus
        self.store = store
        self.clock = clock
        self.instruments = instruments
        self._book = book
        ex = config
        self.portfolio = Portfolio(clock, starting_cash=Decimal(repr(ex.starting_cash)))
        self.client = self._build_venue()
        self.breaker = CircuitBreaker(
            clock, ex.breaker, name=self.client.name, bus=bus, persist=self._store_breaker
        )
        self.venue = GuardedVenue(self.client, self.breaker)
        self.oms = OrderManager(
            bus,
            store,
            self.venue,
            clock,
            check=self._check,
            portfolio=self.portfolio,
            venue_name=self.client.name,
        )
        self.risk = RiskEngine(
            instruments=instruments,
            mid=self.mid,
            portfolio=self.portfolio,
            clock=clock,
            config=ex.risk,
            open_orders=self.oms,
            accounts=self.portfolio.accounts,
            bus=bus,
            persist=self._store_risk,
        )
        order_type = OrderType.MARKET if ex.bot_order_type == "market" else OrderType.IOC
        self.sink = OmsSink(
            self.oms, self.portfolio, order_type=order_type, instruments=instruments, atr=atr
        )
        self.live_confirmed = mode is not Mode.LIVE
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    def _check(self, request: OrderRequest) -> OrderRequest | str:
        """Risk, behind the live confirmation: nothing trades live until a person said so."""
        if not self.live_confirmed:
            return "live trading is not confirmed: confirm it on screen first"
        return self.risk.check(request)

    # -- venue -----------------------------------------------------------------------------

    def _build_venue(self) -> ExecutionClient:
        mode, ex = self.mode, self.config
        if mode is Mode.PAPER or ex.venue == "paper":
            from desk.execution.paper import PaperVenue

            paper = ex.paper
            if not paper.initial_balances:
                quote = {i.quote for i in self.instruments.values()} or {"USDT"}
                cash = Decimal(repr(ex.starting_cash))
                balances = dict.fromkeys(sorted(quote), cash)
                paper = type(paper)(**{**_fields(paper), "initial_balances": balances})
            return PaperVenue(
                book=self._book, instruments=self.instruments, clock=self.clock, config=paper
            )
        from desk.execution.venues.okx import OkxExecutionClient, OkxExecutionConfig

        okx = self.okx
        client_config = OkxExecutionConfig(
            ws_private_url=okx.ws_private_url,
            rest_url=okx.rest_url,
            demo=mode is Mode.LIVE and ex.demo,
            request_timeout_s=ex.request_timeout,
            credentials_file=ex.credentials_file,
        )
        credentials = None
        if mode is Mode.SIM and self.sim_credentials is not None:
            from desk.execution.credentials import Credentials

            sim = self.sim_credentials
            credentials = Credentials(
                api_key=sim.api_key, secret=sim.secret, passphrase=sim.passphrase
            )
        return OkxExecutionClient(client_config, credentials)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the risk and breaker states, load orders and fills, connect the venue,
        reconcile (then cancel what is open if the desk was halted), start the monitor."""
        await self._restore_state()
        on_trade = getattr(self.client, "on_trade", None)
        if on_trade is not None:  # the paper venue fills resting orders on trades

            def feed(event: Any) -> None:
                if type(event) is Trade:
                    on_trade(event)

            self._unsubscribe = self.bus.subscribe("market_data:*", feed)
        await self.oms.start()
        self._report_reconciliation()
        if self.risk.state is RiskState.HALTED:
            canceled = self.oms.cancel_all()
            if canceled:
                self._event(
                    "risk",
                    "halt_cancel",
                    f"halted: canceling {canceled} orders still open after the restart",
                    Severity.WARNING,
                )
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._monitor(), name="risk-monitor"))

    # -- durable state ---------------------------------------------------------------------

    @property
    def breaker_component(self) -> str:
        return f"breaker:{self.breaker.name}"

    def _store_risk(self, record: RiskRecord) -> None:
        self.store.record_risk_state(
            component=RISK_COMPONENT,
            state=str(record.state),
            reason=record.reason,
            actor=record.actor,
            since_ns=record.since_ns,
        )

    def _store_breaker(self, state: BreakerState, why: str, detail: dict[str, Any]) -> None:
        self.store.record_risk_state(
            component=self.breaker_component,
            state=str(state),
            reason=why,
            actor="breaker",
            since_ns=self.clock.now_ns(),
            detail=detail,
        )

    async def _restore_state(self) -> None:
        """Bring back the risk state and this venue's breaker as the last run left them.

        A stored risk state this desk cannot read restores as HALTED (fail closed).
        """
        stored = await self.store.load_risk_states()
        risk = stored.get(RISK_COMPONENT)
        if risk is not None:
            try:
                state = RiskState(risk["state"])
                reason = risk["reason"]
            except ValueError:
                state, reason = RiskState.HALTED, f"stored risk state unreadable: {risk['state']!r}"
            self.risk.restore(
                RiskRecord(
                    state=state, reason=reason, actor=risk["actor"], since_ns=risk["since_ns"]
                )
            )
        breaker = stored.get(self.breaker_component)
        if breaker is not None:
            self.breaker.restore(breaker["state"], breaker["detail"])

    def _event(self, source: str, kind: str, message: str, severity: Severity) -> None:
        event = SystemEvent(
            ts_exchange=0,
            ts_recv=self.clock.now_ns(),
            source=source,
            kind=kind,
            message=message,
            severity=severity,
        )
        self.bus.publish(SYSTEM_EVENTS, event)

    def _report_reconciliation(self) -> None:
        """What the start-up comparison with the venue found, as a system event."""
        rec = self.oms.last_reconciliation
        if rec is None:
            message, severity = "not done: the venue did not answer", Severity.WARNING
        elif rec.clean:
            message, severity = "clean", Severity.INFO
            if rec.recovered:
                message = f"clean after recovering {len(rec.recovered)}: " + "; ".join(
                    rec.recovered[:5]
                )
        else:
            parts = [
                f"{len(rec.missing_at_venue)} open here but not at the venue",
                f"{len(rec.unknown_locally)} unknown here",
                f"{len(rec.differences)} differences",
            ]
            if rec.balance_drift:
                parts.append(f"balance drift {rec.balance_drift}")
            message = "bots blocked until accepted: " + ", ".join(parts)
            severity = Severity.WARNING
        self._event("execution", "reconciliation", f"reconciliation {message}", severity)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.oms.stop()
        with contextlib.suppress(Exception):
            await self.client.close()

    async def _monitor(self) -> None:
        """Mark positions to the mids; run the risk monitor every ``risk_interval``."""
        every = max(1, round(self.config.risk_interval / MARK_INTERVAL))
        tick = 0
        while True:
            await asyncio.sleep(MARK_INTERVAL)
            self.mark()
            tick += 1
            if tick % every:
                continue
            try:
                for request in self.risk.evaluate():
                    self.oms.submit(request)
            except Exception:  # the monitor must outlive a bug in one evaluation
                log.exception("risk monitor failed")

    # -- market ----------------------------------------------------------------------------

    def mid(self, symbol: str) -> Decimal | None:
        book = self._book(symbol)
        if book is None:
            return None
        bids, asks = book.raw_bids(1), book.raw_asks(1)
        if not bids or not asks:
            return None
        return (Decimal(bids[0][0]) + Decimal(asks[0][0])) / 2

    def mark(self) -> None:
        for symbol in self.symbols:
            mid = self.mid(symbol)
            if mid is not None:
                self.portfolio.mark(symbol, mid)

    # -- operator actions ------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Order:
        return self.oms.submit(request)

    def preview(self, request: OrderRequest) -> str:
        """Why ``request`` would be refused now ("" if it would pass); nothing is sent."""
        from desk.execution.oms import validate

        if not request.client_order_id:  # the OMS assigns one on submit
            request = msgspec.structs.replace(request, client_order_id="preview")
        problem = validate(request)
        if problem:
            return problem
        if not self.live_confirmed:
            return "live trading is not confirmed: confirm it on screen first"
        result = self.risk.preview(request)
        return result if isinstance(result, str) else ""

    def flatten(self, bot_id: str | None = None, symbol: str | None = None) -> list[Order]:
        """One reduce-only market order per open position (of ``bot_id`` / ``symbol``)."""
        orders = []
        for position in self.portfolio.positions(bot_id):
            if position.size == 0 or (symbol is not None and position.symbol != symbol):
                continue
            request = OrderRequest(
                symbol=position.symbol,
                side=Side.SELL if position.size > 0 else Side.BUY,
                order_type=OrderType.MARKET,
                size=abs(position.size),
                bot_id=position.bot_id,
                reduce_only=True,
            )
            orders.append(self.oms.submit(request))
        return orders

    def halt(
        self, reason: str, *, flatten: bool = False, actor: str = "operator"
    ) -> tuple[int, list[Order]]:
        """Cancel every open order and block new ones; with ``flatten``, close positions first
        (their orders pass risk before the halt lands). (orders canceled, flatten orders)."""
        canceled = self.oms.cancel_all()
        closing = self.flatten() if flatten else []
        self.risk.halt(reason, actor)
        return canceled, closing

    def resume(self, actor: str = "operator") -> None:
        self.risk.resume("resumed", actor)

    def confirm_live(self) -> None:
        self.live_confirmed = True


def _fields(struct: Any) -> dict[str, Any]:
    return msgspec.structs.asdict(struct)
