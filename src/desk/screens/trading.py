"""Trading mode: the order ticket, a compact ladder with the desk's own orders, open orders,
fills, positions and PnL, risk state, and the dangerous buttons (cancel all, flatten, halt).

Everything drawn comes from one ``TradingView`` per sample, redrawn only when its version
changed; the book for the ladder and the ticket's best bid/ask comes from ``client.book``.
Every command goes through ``client.execute`` and its acknowledgement is shown: an order's in
the ticket, the others as a notification. Cancel all, flatten, halt, resume, accepting the
venue's view and every order in LIVE mode ask first (``ConfirmScreen``).

Halt is an App binding (it works from every mode, even while typing in a field); the flows
that the App and the command palette share live here as functions taking the App.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from desk.bridge.venue_views import PRIMARY_VENUE
from desk.bridge.views import InstrumentView, TradingView
from desk.clients.client import EngineClient
from desk.core.commands import (
    AcceptReconciliation,
    CancelAll,
    CancelOrder,
    Command,
    CommandAck,
    ConfirmLive,
    Flatten,
    Halt,
    ResumeTrading,
    SubmitOrder,
)
from desk.core.enums import Mode, Side
from desk.core.orders import MANUAL_ACCOUNT
from desk.messages import RefreshRequested
from desk.screens.base import DeskScreen, bindings
from desk.screens.confirm import Choice, ConfirmScreen
from desk.screens.context import DeskAppLike, RefreshContext
from desk.widgets.ladder import SelectableLadder
from desk.widgets.order_ticket import OrderTicket
from desk.widgets.ticket_rules import (
    TYPE_LABELS,
    TicketCheck,
    fmt_decimal,
    instrument_for,
    step_of,
)
from desk.widgets.trading_tables import (
    DenialsTable,
    FillsTable,
    OpenOrdersTable,
    PositionsTable,
    TradingSummary,
)

if TYPE_CHECKING:
    from textual.app import App

log = logging.getLogger("desk.ui")

NARROW = 100  # below this many columns the ladder, fills and denials give way
INSTRUMENTS_EVERY = 50  # samples between re-reading instruments and bots (about 5 s)
RECHECK_EVERY = 10  # samples between re-checking an untouched ticket (risk moves with the market)
LIVE_NOT_CONFIRMED = "LIVE trading not confirmed (press L)"


class TradingScreen(DeskScreen):
    """Manual trading and the state of every order, position and risk limit."""

    MODE_TITLE = "trading"
    BINDINGS = bindings("trading")

    def __init__(self) -> None:
        super().__init__()
        self.view: TradingView | None = None
        self.instruments: dict[str, InstrumentView] = {}
        self.symbol = ""
        self.mode: Mode | None = None
        self.live_ok = False  # the operator confirmed LIVE trading in this session
        self._accounts: tuple[str, ...] = ()
        self._decimals: dict[str, int] = {}
        self._rules: list[InstrumentView] = []  # every venue's, as the client lists them
        self._booked = ("", "")  # (symbol, venue) the ladder's title names

    def compose(self) -> ComposeResult:
        yield self.header
        yield Static("", id="live-banner", markup=False)
        yield Static("", id="recon-banner", markup=False)
        yield TradingSummary(id="trading-summary")
        with Horizontal(id="trading-top"):
            yield OrderTicket(id="ticket")
            yield SelectableLadder(id="trading-ladder", own_orders=True)
            yield OpenOrdersTable(id="open-orders")
        with Horizontal(id="trading-bottom"):
            yield PositionsTable(id="positions")
            with Vertical(id="trading-side"):
                yield FillsTable(id="fills")
                yield DenialsTable(id="denials")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.ticket = self.query_one(OrderTicket)
        self.ladder = self.query_one(SelectableLadder)
        self.open_orders = self.query_one(OpenOrdersTable)
        self.positions = self.query_one(PositionsTable)
        self.fills = self.query_one(FillsTable)
        self.denials = self.query_one(DenialsTable)
        self.summary = self.query_one(TradingSummary)
        self.live_banner = self.query_one("#live-banner", Static)
        self.recon_banner = self.query_one("#recon-banner", Static)
        self.ticket.border_title = "ticket"
        self.ticket.border_subtitle = "b/v side · enter sends"
        self.open_orders.border_title = "open orders"
        self.open_orders.border_subtitle = "c cancel · C all"
        self.positions.border_title = "positions"
        self.positions.border_subtitle = "F flatten"
        self.fills.border_title = "fills"
        self.denials.border_title = "risk denials"
        self.ticket.checker = getattr(_client(self.app), "check_order", None)

    def on_resize(self) -> None:
        super().on_resize()
        self.set_class(self.size.width < NARROW, "-narrow")

    # -- sampling --------------------------------------------------------------------------

    def sample_body(self, ctx: RefreshContext) -> None:
        client, symbol = ctx.client, ctx.symbol
        self.mode = ctx.mode
        if not self.instruments or self.samples % INSTRUMENTS_EVERY == 0:
            self._read_instruments(ctx)
        venue = self.ticket.venue
        if symbol != self.symbol:
            self.symbol = symbol
            self.ticket.set_symbol(symbol, instrument_for(self._rules, symbol, venue))
            self.ladder.select_price(None)
            self.ticket.border_title = f"ticket {symbol}"
        if (symbol, venue) != self._booked:
            self._booked = (symbol, venue)
            self.ladder.border_title = f"book {symbol} · {venue}"
        view = client.trading()
        if self.view is None or view.version != self.view.version:
            self._show_view(view, ctx)
        elif self.samples % RECHECK_EVERY == 0:
            self.ticket.revalidate()
        self.summary.show_view(view)
        depth = max(1, (self.ladder.size.height - 1) // 2) if self.ladder.display else 1
        book = client.book(symbol, depth, venue)
        if self.ladder.display:
            self.ladder.show(book, ctx.now_ns)
        self.ticket.set_market(book)

    def _read_instruments(self, ctx: RefreshContext) -> None:
        listed = ctx.client.instruments()
        instruments = {i.symbol: i for i in listed if i.venue == PRIMARY_VENUE}
        if listed != self._rules:
            self._rules, self.instruments = listed, instruments
            self._decimals = {
                symbol: _decimals(instrument.tick_size)
                for symbol, instrument in instruments.items()
            }
            self.ticket.set_instrument(instrument_for(listed, ctx.symbol, self.ticket.venue))
        # paper trades on any venue's book; live execution is OKX's alone
        self.ticket.set_venues((PRIMARY_VENUE,) if ctx.mode is Mode.LIVE else ctx.client.venues)
        accounts = _bot_ids(ctx.client)
        if accounts != self._accounts:
            self._accounts = accounts
            self.ticket.set_accounts(accounts)

    def _show_view(self, view: TradingView, ctx: RefreshContext) -> None:
        self.view = view
        decimals = self._decimals
        self.open_orders.show_orders(view, decimals)
        self.positions.show_positions(view, decimals)
        self.fills.show_fills(view, decimals)
        self.denials.show_denials(view, decimals)
        own: dict[float, float] = {}
        for order in view.open_orders:
            if order.symbol == ctx.symbol and order.price is not None:
                own[order.price] = own.get(order.price, 0.0) + order.size - order.filled
        self.ladder.mark_own(own)
        self._show_banners(view, ctx)
        self.ticket.block(self._live_block(view, ctx.mode))

    def _show_banners(self, view: TradingView, ctx: RefreshContext) -> None:
        recon = view.reconciliation
        if recon is not None and recon.blocking:
            lines = [
                f"RECONCILIATION: {len(recon.differences)} difference(s) with the venue — "
                "bots may not trade · A accepts the venue's view"
            ]
            lines.extend(f"  • {difference}" for difference in recon.differences[:4])
            if len(recon.differences) > 4:
                lines.append(f"  … and {len(recon.differences) - 4} more")
            self.recon_banner.update("\n".join(lines))
            self.recon_banner.display = True
        else:
            self.recon_banner.display = False
        if self._live_block(view, ctx.mode):
            self.live_banner.update(
                f"LIVE venue {view.venue}: real money. Trading not confirmed — "
                "orders are refused until you press L and confirm."
            )
            self.live_banner.display = True
        else:
            self.live_banner.display = False

    def _live_block(self, view: TradingView | None, mode: Mode | None) -> str:
        if mode is not Mode.LIVE or self.live_ok:
            return ""
        if view is not None and view.live_confirmed:
            return ""
        return LIVE_NOT_CONFIRMED

    # -- the ticket and the ladder ---------------------------------------------------------

    @on(SelectableLadder.LevelSelected)
    def _level_selected(self, event: SelectableLadder.LevelSelected) -> None:
        self.ticket.set_price(event.price)

    @on(OrderTicket.VenueChanged)
    def _venue_changed(self, event: OrderTicket.VenueChanged) -> None:
        self.ticket.set_instrument(instrument_for(self._rules, self.symbol, event.venue))
        self.ladder.select_price(None)
        self.post_message(RefreshRequested())

    @on(OrderTicket.SendRequested)
    async def _send_requested(self, event: OrderTicket.SendRequested) -> None:
        check = event.check
        if self.mode is Mode.LIVE:
            if self._live_block(self.view, self.mode):
                self.action_confirm_live()
                return
            self.app.push_screen(
                ConfirmScreen(
                    "Send a LIVE order?",
                    order_lines(check, self.instruments.get(self.symbol)),
                    [Choice("send", "Send live order", "s")],
                ),
                self._send_if_confirmed(check),
            )
            return
        await self._send(check)

    def _send_if_confirmed(self, check: TicketCheck) -> Callable[[str | None], Awaitable[None]]:
        async def answer(choice: str | None) -> None:
            if choice == "send":
                await self._send(check)
            else:
                self.ticket.show_ack(None, "not sent")

        return answer

    async def _send(self, check: TicketCheck) -> None:
        assert check.request is not None
        ack = await execute(self.app, SubmitOrder(request=check.request), notify=False)
        self.ticket.show_ack(ack, "" if ack is not None else "engine error (logged)")

    # -- actions -----------------------------------------------------------------------------

    def action_side(self, side: str) -> None:
        self.ticket.set_side(Side(side))

    def action_new_order(self) -> None:
        self.ticket.focus_size()

    def action_leave_ticket(self) -> None:
        self.open_orders.focus()

    async def action_cancel_selected(self) -> None:
        order = self.open_orders.selected_order()
        if order is None:
            self.notify("no open order selected", severity="warning")
            return
        await execute(self.app, CancelOrder(client_order_id=order.client_order_id))

    def action_cancel_all(self) -> None:
        ask_cancel_all(self.app)

    def action_flatten(self) -> None:
        ask_flatten(self.app)

    def action_resume(self) -> None:
        ask_resume(self.app, self.view)

    def action_accept_reconciliation(self) -> None:
        recon = self.view.reconciliation if self.view is not None else None
        if recon is None or not recon.blocking:
            self.notify("nothing to reconcile", severity="information")
            return
        lines = ["Adopt the venue's orders and positions:", *recon.differences[:8]]
        self.app.push_screen(
            ConfirmScreen(
                "Accept the venue's view?", lines, [Choice("accept", "Accept venue view", "a")]
            ),
            _run_if(self.app, "accept", AcceptReconciliation),
        )

    def action_confirm_live(self) -> None:
        if self.mode is not Mode.LIVE or not self._live_block(self.view, self.mode):
            self.notify("live trading needs no confirmation now", severity="information")
            return
        venue = self.view.venue if self.view is not None else "the venue"

        def answer(choice: str | None) -> None:
            if choice == "live":
                self.live_ok = True
                self.ticket.block("")
                self.live_banner.display = False
                # The engine holds the confirmation too: until then it refuses every order.
                self.run_worker(execute(self.app, ConfirmLive()), exclusive=False)

        self.app.push_screen(
            ConfirmScreen(
                "Trade LIVE?",
                [
                    f"desk is connected to {venue} in LIVE mode.",
                    "Orders sent from this screen use real money.",
                    "Every order will still ask before it is sent.",
                ],
                [Choice("live", "Confirm live trading", "l")],
            ),
            answer,
        )


# -- flows shared by the trading screen, the App's halt key and the command palette ---------


async def execute(app: App[Any], command: Command, notify: bool = True) -> CommandAck | None:
    """Run ``command`` through the client; the ack is notified (unless ``notify`` is False)."""
    name = type(command).__name__
    try:
        ack = await _client(app).execute(command)
    except Exception as error:
        log.exception("command %s failed", name)
        app.notify(f"{name}: {error}", title="command failed", severity="error")
        return None
    if notify:
        if ack.accepted:
            app.notify(f"{name} accepted", severity="information", timeout=4)
        else:
            app.notify(f"{name} refused: {ack.reason}", severity="error")
    return ack


def _client(app: App[Any]) -> EngineClient:
    """The engine client of the desk App (read through ``DeskAppLike``, not ``desk.app``)."""
    return cast(DeskAppLike, app).client


def _run_if(
    app: App[Any], expected: str, make: Callable[[], Command]
) -> Callable[[str | None], Awaitable[None]]:
    async def answer(choice: str | None) -> None:
        if choice == expected:
            await execute(app, make())

    return answer


def ask_halt(app: App[Any]) -> None:
    """Halt trading (cancel all and block new orders), optionally flattening, after asking."""
    screen = app.screen
    if isinstance(screen, ConfirmScreen) and screen.title_text.startswith("HALT"):
        return

    async def answer(choice: str | None) -> None:
        if choice in ("halt", "flatten"):
            await execute(app, Halt(reason="operator halt", flatten=choice == "flatten"))

    app.push_screen(
        ConfirmScreen(
            "HALT trading?",
            [
                "Cancels every open order (bots and manual) and blocks new ones.",
                "Halt + flatten also closes every position with market orders.",
            ],
            [Choice("halt", "Halt", "h"), Choice("flatten", "Halt + flatten", "f")],
        ),
        answer,
    )


def ask_flatten(app: App[Any]) -> None:
    app.push_screen(
        ConfirmScreen(
            "Flatten ALL positions with market orders?",
            "Every account's position in every symbol is closed at market.",
            [Choice("flatten", "Flatten all", "f")],
        ),
        _run_if(app, "flatten", Flatten),
    )


def ask_cancel_all(app: App[Any]) -> None:
    app.push_screen(
        ConfirmScreen(
            "Cancel ALL open orders?",
            "Every open order of every account (bots and manual) is canceled.",
            [Choice("cancel", "Cancel all", "c")],
            cancel_label="Keep",
        ),
        _run_if(app, "cancel", CancelAll),
    )


def ask_resume(app: App[Any], view: TradingView | None = None) -> None:
    """Leave HALTED after asking (says so and asks nothing when trading is not halted)."""
    if view is not None and view.risk_state.upper() != "HALTED":
        app.notify(f"trading is {view.risk_state}, not halted", severity="information")
        return
    app.push_screen(
        ConfirmScreen(
            "Resume trading?",
            "Orders are accepted again; bots stay in their own modes.",
            [Choice("resume", "Resume", "r")],
        ),
        _run_if(app, "resume", ResumeTrading),
    )


async def new_order(app: App[Any]) -> None:
    """Switch to the trading mode with the cursor in the ticket's size field."""
    await app.run_action("mode('trading')")
    screen = app.screen
    if isinstance(screen, TradingScreen):
        screen.action_new_order()


def order_lines(check: TicketCheck, instrument: InstrumentView | None) -> list[str]:
    """What a confirmation shows of an order: side, size, symbol, price, type, notional."""
    request = check.request
    assert request is not None
    price = fmt_decimal(request.price) if request.price is not None else "market"
    quote = instrument.quote if instrument else ""
    notional = (
        f"{fmt_decimal(round(check.notional, 2))} {quote}".rstrip()
        if check.notional is not None
        else "unknown"
    )
    return [
        f"{request.side.value.upper()} {fmt_decimal(request.size)} {request.symbol} @ {price}",
        f"type {TYPE_LABELS[request.order_type]} · account {request.bot_id or MANUAL_ACCOUNT}",
        f"notional ≈ {notional}",
    ]


def _decimals(tick_size: str) -> int:
    step = step_of(tick_size)
    if step is None:
        return 2
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


def _bot_ids(client: Any) -> tuple[str, ...]:
    """The bots an order can be booked to, when the client knows bots."""
    bots = getattr(client, "bots", None)
    if bots is None:
        return ()
    try:
        return tuple(bot.bot_id for bot in bots().bots)
    except Exception:
        log.debug("bots() unavailable for the ticket's accounts", exc_info=True)
        return ()


__all__ = [
    "TradingScreen",
    "ask_cancel_all",
    "ask_flatten",
    "ask_halt",
    "ask_resume",
    "execute",
    "new_order",
]
