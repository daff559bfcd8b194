"""Execution assembled: venue client behind a circuit breaker, risk, the OMS, the portfolio.

One :class:`ExecutionService` per engine. Every order, a bot's or an operator's, goes
``OrderManager.submit`` -> ``RiskEngine.check`` -> venue; there is no other path to a venue.
The venue is chosen by the desk's mode (``execution.venue``):

* SIM   - the simulator's private OKX API (login, ``orders`` channel, WS order ops), with the
          simulator's demo credentials (passed in by the engine: execution does not import
          the simulator): the live OKX client exercised end to end offline;
* PAPER - :class:`~desk.execution.paper.PaperVenue`, fills against the live local books;
          its orders, fills and positions carry the venue whose book they fill on (``okx``,
          ``binance``, ``coinbase``): the mode, not the venue name, says they are paper
          (``label`` is "paper" for the UI, and the breaker's stored row stays its own);
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
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

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
from desk.execution.endpoints import ApiKey, OkxEndpoints
from desk.execution.halt_flatten import HaltFlattener
from desk.execution.paper_store import PaperFillNames
from desk.execution.portfolio import Portfolio
from desk.execution.risk import RiskEngine, RiskRecord
from desk.execution.risk_rules import RiskState
from desk.execution.router import RoutingOrderManager, VenueRouter
from desk.execution.venue import ExecutionClient
from desk.market.book import OrderBook
from desk.market.instruments import Instrument

log = logging.getLogger(__name__)

MARK_INTERVAL = 0.25
PRIMARY_VENUE = "okx"
"""The venue of the primary client (config.PRIMARY_VENUE; execution may not import config)."""
RISK_COMPONENT = "risk"
"""The ``risk_state`` row of the risk state; a breaker's is ``breaker:<venue>``."""


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
        venue_books: Mapping[str, Callable[[str], OrderBook | None]] | None = None,
        venue_instruments: Mapping[str, dict[str, Instrument]] | None = None,
    ) -> None:
        self.config = config
        self.mode = mode
        self.symbols = tuple(symbols)
        self.okx = okx
        self.sim_credentials = sim_credentials
        self.bus = bus
        self.clock = clock
        self.instruments = instruments
        self._book = book
        self.venue_books = dict(venue_books or {})
        self.venue_instruments = venue_instruments or {}
        ex = config
        self.portfolio = Portfolio(clock, starting_cash=Decimal(repr(ex.starting_cash)))
        self.paper = mode is Mode.PAPER or config.venue == "paper"
        self.client = self._build_venue()
        self.label = "paper" if self.paper else self.client.name
        """The execution venue as shown ("paper", "okx"): the orders' venue is always OKX's."""
        if self.paper:  # fills an older version stored named OKX's paper venue "paper"
            store = PaperFillNames(store, self.client.name)
        self.store = store
        if self.venue_books:  # paper venues beside the primary one, orders routed by venue
            self.client = VenueRouter(self.client, self._paper_venues())
        self.breaker = CircuitBreaker(
            clock, ex.breaker, name=self.label, bus=bus, persist=self._store_breaker
        )
        self.venue = GuardedVenue(self.client, self.breaker)
        self.oms = RoutingOrderManager(
            bus,
            store,
            self.venue,
            clock,
            check=self._check,
            portfolio=self.portfolio,
            venue_name=self.client.name,
            history=ex.history,
        )
        self.oms.paper_venues = frozenset(self.venue_books)
        self.after_halt = HaltFlattener()
        self.risk = RiskEngine(
            instruments=instruments,
            mid=self.mid,
            portfolio=self.portfolio,
            clock=clock,
            config=ex.risk,
            open_orders=self.oms,
            accounts=self._accounts,
            bus=bus,
            persist=self._store_risk,
            venue_instrument=self.venue_instrument,
            venue_mid=self.venue_mid,
            venue_position=self.portfolio.position,
        )
        order_type = OrderType.MARKET if ex.bot_order_type == "market" else OrderType.IOC
        self.sink = OmsSink(
            self.oms,
            self.portfolio,
            order_type=order_type,
            instruments=instruments,
            atr=atr,
            halted=self._halt_reason,
        )
        self.live_confirmed = mode is not Mode.LIVE
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    def _halt_reason(self) -> str:
        return self.risk.state_reason if self.risk.state is RiskState.HALTED else ""

    def _check(self, request: OrderRequest) -> OrderRequest | str:
        """Risk, behind the live confirmation: nothing trades live until a person said so."""
        if not self.live_confirmed:
            return "live trading is not confirmed: confirm it on screen first"
        if request.venue in self.venue_books and self.mode is Mode.LIVE:
            return f"live execution on {request.venue} is not supported; paper only"
        if self.risk.state is RiskState.HALTED and self.after_halt.passes_halt(request):
            return request
        return self.risk.check(request)

    # -- venue -----------------------------------------------------------------------------

    def _build_venue(self) -> ExecutionClient:
        mode, ex = self.mode, self.config
        if self.paper:
            from desk.execution.paper import PaperVenue

            paper = ex.paper
            if not paper.initial_balances:
                quote = {i.quote for i in self.instruments.values()} or {"USDT"}
                cash = Decimal(repr(ex.starting_cash))
                balances = dict.fromkeys(sorted(quote), cash)
                paper = type(paper)(**{**_fields(paper), "initial_balances": balances})
            return PaperVenue(
                book=self._book,
                instruments=self.instruments,
                clock=self.clock,
                config=paper,
                name=PRIMARY_VENUE,  # OKX's book: its fills are OKX's (paper by the mode)
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

    def _paper_venues(self) -> dict[str, Any]:
        """One paper venue per non-primary venue, filling against that venue's own books
        with that venue's instrument rules (paper money of its own)."""
        from desk.execution.paper import PaperVenue

        paper = self.config.paper
        venues: dict[str, Any] = {}
        for venue, book in self.venue_books.items():
            instruments = self.venue_instruments.get(venue, {})
            config = paper
            if not paper.initial_balances:
                quote = {i.quote for i in instruments.values()} or {"USDT"}
                cash = Decimal(repr(self.config.starting_cash))
                balances = dict.fromkeys(sorted(quote), cash)
                config = type(paper)(**{**_fields(paper), "initial_balances": balances})
            venues[venue] = PaperVenue(
                book=book, instruments=instruments, clock=self.clock, config=config, name=venue
            )
        return venues

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
            self._flatten_after_halt()
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
        """The primary venue's (OKX's) mid."""
        return _mid(self._book(symbol))

    def venue_mid(self, venue: str, symbol: str) -> Decimal | None:
        """``venue``'s own mid (a venue that is not a paper venue here is the primary's)."""
        book = self.venue_books.get(venue)
        return self.mid(symbol) if book is None else _mid(book(symbol))

    def venue_instrument(self, venue: str, symbol: str) -> Instrument | None:
        """``symbol``'s rules on ``venue`` (None: that venue does not list it)."""
        if venue in self.venue_books:
            return self.venue_instruments.get(venue, {}).get(symbol)
        return self.instruments.get(symbol)

    def _accounts(self) -> list[tuple[str, str, str]]:
        """Every (bot_id, symbol, venue) that holds a position, for the risk monitor's trims."""
        return [(p.bot_id, p.symbol, p.venue) for p in self.portfolio.positions() if p.size]

    def mark(self) -> None:
        for symbol in self.symbols:
            mid = self.mid(symbol)
            if mid is not None:
                self.portfolio.mark(symbol, mid)
        for venue, book in self.venue_books.items():  # each venue's positions at its own mid
            for symbol in self.venue_instruments.get(venue, {}):
                mid = _mid(book(symbol))
                if mid is not None:
                    self.portfolio.mark(symbol, mid, venue)

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

    def flatten(
        self, bot_id: str | None = None, symbol: str | None = None, *, passing_halt: bool = False
    ) -> list[Order]:
        """One reduce-only market order per open position (of ``bot_id`` / ``symbol``);
        ``passing_halt``: the follow-up of a halt + flatten (see :mod:`.halt_flatten`)."""
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
                venue=position.venue,  # closed where it is held
                client_order_id=self.oms.new_id() if passing_halt else "",
            )
            if passing_halt:
                self.after_halt.allow(request.client_order_id)
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
        if flatten:  # what orders still in flight leave is closed once they are done
            open_ids = [o.client_order_id for o in self.oms.open_orders()]
            self.after_halt.arm(open_ids, self.clock.now_ns())
        return canceled, closing

    def _flatten_after_halt(self) -> None:
        if self.risk.state is not RiskState.HALTED:
            self.after_halt.disarm()
        elif self.after_halt.due(self._is_open, self.clock.now_ns()):
            self.flatten(passing_halt=True)

    def _is_open(self, client_order_id: str) -> bool:
        order = self.oms.order(client_order_id)
        return order is not None and not order.status.terminal

    def resume(self, actor: str = "operator") -> None:
        self.risk.resume("resumed", actor)

    def confirm_live(self) -> None:
        self.live_confirmed = True


def _mid(book: OrderBook | None) -> Decimal | None:
    if book is None:
        return None
    bids, asks = book.raw_bids(1), book.raw_asks(1)
    if not bids or not asks:
        return None
    return (Decimal(bids[0][0]) + Decimal(asks[0][0])) / 2


def _fields(struct: Any) -> dict[str, Any]:
    return msgspec.structs.asdict(struct)
