"""The order ticket: side, venue, type, price, size and account, checked as the operator types.

The ticket never sends anything itself. It re-checks on every change (``ticket_rules`` for the
text and the instrument's rules, then the engine's ``check_order`` through ``checker``), shows
every reason in the error colour, and posts ``SendRequested`` only for a ticket that passed;
the screen decides what happens next (a confirmation in LIVE mode, then ``SubmitOrder``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from desk.bridge.venue_views import PRIMARY_VENUE
from desk.bridge.views import BookView, InstrumentView
from desk.core.commands import CommandAck
from desk.core.enums import Side
from desk.core.orders import MANUAL_ACCOUNT, OrderRequest, OrderType
from desk.widgets.ticket_rules import (
    ORDER_TYPES,
    TicketCheck,
    TicketInput,
    fmt_decimal,
    price_text,
    validate,
)

Checker = Callable[[OrderRequest], str]


class SideToggle(Static, can_focus=True):
    """BUY or SELL, in the bid or ask colour; space, enter, arrows or a click flip it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space,enter,left,right", "flip", "Flip side", show=False),
    ]

    class Changed(Message):
        def __init__(self, side: Side) -> None:
            super().__init__()
            self.side = side

    def __init__(self, side: Side = Side.BUY, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.side = side

    def on_mount(self) -> None:
        self._draw()

    def set_side(self, side: Side) -> None:
        if side is not self.side:
            self.side = side
            self._draw()
            self.post_message(self.Changed(side))

    def action_flip(self) -> None:
        self.set_side(Side.SELL if self.side is Side.BUY else Side.BUY)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_flip()

    def _draw(self) -> None:
        self.update(f" {self.side.value.upper():<4} ")
        self.set_class(self.side is Side.BUY, "-buy")
        self.set_class(self.side is Side.SELL, "-sell")


class OrderTicket(Vertical):
    """A manual order, checked as typed; ``SendRequested`` carries a ticket that passed."""

    DEFAULT_CSS = """
    OrderTicket { height: auto; padding: 0 1; }
    OrderTicket .ticket-row { height: 1; width: 1fr; }
    OrderTicket .ticket-label { width: 8; color: $text-muted; }
    OrderTicket Input { width: 1fr; }
    OrderTicket Select { width: 1fr; }
    OrderTicket Input.-invalid { color: $error; }
    OrderTicket Input:disabled { color: $text-disabled; }
    OrderTicket #ticket-symbol { width: 1fr; text-style: bold; padding-left: 1; }
    OrderTicket #ticket-venue { width: 14; }
    OrderTicket #ticket-info { color: $text-muted; height: 1; width: 1fr; }
    OrderTicket #ticket-error { color: $error; height: auto; max-height: 3; width: 1fr; }
    OrderTicket #ticket-ack { width: 1fr; height: 1; padding-left: 1; }
    OrderTicket #ticket-ack.-accepted { color: $success; }
    OrderTicket #ticket-ack.-refused { color: $error; text-style: bold; }
    OrderTicket #ticket-send { min-width: 10; }
    SideToggle { width: 6; text-style: bold; }
    SideToggle.-buy { background: $bid; color: $background; }
    SideToggle.-sell { background: $ask; color: $background; }
    SideToggle:focus { text-style: bold underline; }
    """

    class VenueChanged(Message):
        """The operator chose another venue for the order."""

        def __init__(self, venue: str) -> None:
            super().__init__()
            self.venue = venue

    class SendRequested(Message):
        """The operator asked to send a ticket that passed every check."""

        def __init__(self, check: TicketCheck) -> None:
            super().__init__()
            self.check = check

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.symbol = ""
        self.instrument: InstrumentView | None = None
        self.checker: Checker | None = None
        self.blocked = ""  # a reason the screen adds (e.g. LIVE trading not confirmed)
        self.check = TicketCheck(None, ("size: required",))
        self.best_bid: float | None = None
        self.best_ask: float | None = None
        self.price_auto = True  # the price was filled in by the ticket, not typed or picked
        self.checks = 0
        self._auto_text: str | None = None  # the price text the ticket itself put in
        self._venues = [PRIMARY_VENUE]
        self._chosen_venue = PRIMARY_VENUE

    def compose(self) -> ComposeResult:
        with Horizontal(classes="ticket-row"):
            yield SideToggle(id="ticket-side")
            yield Label("", id="ticket-symbol")
            yield Select(
                [(PRIMARY_VENUE, PRIMARY_VENUE)],
                value=PRIMARY_VENUE,
                allow_blank=False,
                compact=True,
                id="ticket-venue",
            )
        with Horizontal(classes="ticket-row"):
            yield Label("type", classes="ticket-label")
            yield Select(
                [(label, order_type.value) for label, order_type in ORDER_TYPES],
                value=OrderType.LIMIT.value,
                allow_blank=False,
                compact=True,
                id="ticket-type",
            )
        with Horizontal(classes="ticket-row"):
            yield Label("price", classes="ticket-label")
            yield Input(placeholder="limit price", compact=True, id="ticket-price")
        with Horizontal(classes="ticket-row"):
            yield Label("size", classes="ticket-label")
            yield Input(placeholder="size", compact=True, id="ticket-size")
        with Horizontal(classes="ticket-row"):
            yield Label("account", classes="ticket-label")
            yield Select(
                [(MANUAL_ACCOUNT, MANUAL_ACCOUNT)],
                value=MANUAL_ACCOUNT,
                allow_blank=False,
                compact=True,
                id="ticket-account",
            )
        yield Label("", id="ticket-info")
        yield Static("", id="ticket-error", markup=False)
        with Horizontal(classes="ticket-row"):
            yield Button("Send", id="ticket-send", compact=True, variant="primary")
            yield Label("", id="ticket-ack", markup=False)

    def on_mount(self) -> None:
        self.side_toggle = self.query_one(SideToggle)
        self.type_select: Select[str] = self.query_one("#ticket-type", Select)
        self.price_input = self.query_one("#ticket-price", Input)
        self.size_input = self.query_one("#ticket-size", Input)
        self.account_select: Select[str] = self.query_one("#ticket-account", Select)
        self.venue_select: Select[str] = self.query_one("#ticket-venue", Select)
        self.info = self.query_one("#ticket-info", Label)
        self.error = self.query_one("#ticket-error", Static)
        self.send_button = self.query_one("#ticket-send", Button)
        self.ack = self.query_one("#ticket-ack", Label)
        self._label_send()

    # -- what the screen tells the ticket -------------------------------------------------

    @property
    def side(self) -> Side:
        return self.side_toggle.side

    @property
    def order_type(self) -> OrderType:
        return OrderType(str(self.type_select.value))

    @property
    def venue(self) -> str:
        """The venue the order goes to (paper: fills on that venue's book)."""
        value = self.venue_select.value if self.is_mounted else PRIMARY_VENUE
        return value if isinstance(value, str) else PRIMARY_VENUE

    def set_venues(self, venues: Sequence[str]) -> None:
        """The venues an order may go to (the first when the current one is not among them)."""
        options = list(dict.fromkeys(venues)) or [PRIMARY_VENUE]
        if options == self._venues:
            return
        self._venues = options
        current = self.venue
        self.venue_select.set_options([(name, name) for name in options])
        self.venue_select.value = current if current in options else options[0]

    @property
    def account(self) -> str:
        value = self.account_select.value
        return value if isinstance(value, str) else MANUAL_ACCOUNT

    def set_symbol(self, symbol: str, instrument: InstrumentView | None) -> None:
        """A new symbol: its rules, and a price to be filled in afresh from its book."""
        changed = symbol != self.symbol
        self.symbol, self.instrument = symbol, instrument
        self.query_one("#ticket-symbol", Label).update(symbol)
        if changed:
            self.best_bid = self.best_ask = None
            self.price_auto = True
            self._set_price_text("")
            self.show_ack(None)
        self._placeholders()
        self.revalidate()

    def set_instrument(self, instrument: InstrumentView | None) -> None:
        if instrument != self.instrument:
            self.instrument = instrument
            self._placeholders()
            self.revalidate()

    def _placeholders(self) -> None:
        """The instrument's rules as the empty fields' hints."""
        rules = self.instrument
        self.price_input.placeholder = f"tick {rules.tick_size}" if rules else "limit price"
        self.size_input.placeholder = (
            f"lot {rules.lot_size} · min {rules.min_size}" if rules else "size"
        )

    def set_accounts(self, accounts: Sequence[str]) -> None:
        options = [MANUAL_ACCOUNT, *(a for a in accounts if a != MANUAL_ACCOUNT)]
        current = self.account
        self.account_select.set_options([(name, name) for name in options])
        self.account_select.value = current if current in options else MANUAL_ACCOUNT

    def set_side(self, side: Side) -> None:
        self.side_toggle.set_side(side)

    def set_market(self, book: BookView) -> None:
        """The symbol's best bid and ask: an untouched price follows the side's best level
        until the operator types or picks one (it is filled once, never moved under them)."""
        if book.symbol != self.symbol or book.venue != self.venue:
            return
        self.best_bid = book.bids[0].price if book.bids else None
        self.best_ask = book.asks[0].price if book.asks else None
        if (
            self.price_auto
            and not self.price_input.value
            and self.order_type is not OrderType.MARKET
        ):
            self._fill_price_from_book()

    def set_price(self, price: float) -> None:
        """A price picked from the ladder: it replaces whatever was there."""
        self.price_auto = False
        text = price_text(price, self.instrument)
        self._auto_text = None
        self.price_input.value = text

    def set_size(self, text: str) -> None:
        self.size_input.value = text

    def focus_size(self) -> None:
        self.size_input.focus()

    def block(self, reason: str) -> None:
        """A reason the ticket may not send beyond its own checks ("" lifts it)."""
        if reason != self.blocked:
            self.blocked = reason
            self.revalidate()

    def show_ack(self, ack: CommandAck | None, error: str = "") -> None:
        """The engine's answer to the last order sent (None clears it)."""
        if ack is None and not error:
            text = ""
        elif ack is not None and ack.accepted:
            order_id = ack.detail.get("client_order_id", "") if ack.detail else ""
            text = f"✓ accepted {order_id}".rstrip()
        else:
            text = f"✗ refused: {ack.reason if ack is not None else error}"
        self.ack.update(text)
        self.ack.set_class(ack is not None and ack.accepted, "-accepted")
        self.ack.set_class(bool(text) and not (ack is not None and ack.accepted), "-refused")

    # -- checking ---------------------------------------------------------------------------

    def read(self) -> TicketInput:
        return TicketInput(
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            price_text=self.price_input.value,
            size_text=self.size_input.value,
            account=self.account,
            venue=self.venue,
        )

    def revalidate(self) -> TicketCheck:
        """Run every check again and show the outcome; returns it."""
        if not self.is_mounted or not self.symbol:
            return self.check
        ticket = self.read()
        check = validate(ticket, self.instrument, self._reference_price())
        errors = list(check.errors)
        if check.request is not None and not errors and self.checker is not None:
            reason = self.checker(check.request)
            if reason:
                errors.append(f"risk: {reason}")
        if self.blocked:
            errors.append(self.blocked)
        if errors:
            check = TicketCheck(None, tuple(errors), check.notional, check.notes)
        self.check = check
        self.checks += 1
        self._show_check(check, ticket)
        return check

    def _show_check(self, check: TicketCheck, ticket: TicketInput) -> None:
        self.error.update("\n".join(f"✗ {error}" for error in check.errors))
        self.price_input.set_class(any(e.startswith("price") for e in check.errors), "-invalid")
        self.size_input.set_class(any(e.startswith("size") for e in check.errors), "-invalid")
        quote = self.instrument.quote if self.instrument else ""
        parts = []
        if check.notional is not None:
            parts.append(f"≈ {fmt_decimal(round(check.notional, 2))} {quote}".rstrip())
        parts.extend(check.notes)
        self.info.update(" · ".join(parts))
        self.send_button.disabled = not check.ok
        self._label_send()

    def _label_send(self) -> None:
        self.send_button.label = f"Send {self.side.value.upper()}"

    def _reference_price(self) -> Decimal | None:
        """The price a market order would meet first: the best ask to buy, the best bid to sell."""
        price = self.best_ask if self.side is Side.BUY else self.best_bid
        return Decimal(repr(price)) if price is not None else None

    def _fill_price_from_book(self) -> None:
        """The side's own best level (bid to buy, ask to sell): a passive price by default."""
        price = self.best_bid if self.side is Side.BUY else self.best_ask
        if price is not None:
            self._set_price_text(price_text(price, self.instrument))

    def _set_price_text(self, text: str) -> None:
        """Fill the price; ``Input.Changed`` arrives later, and is told apart by its text."""
        self._auto_text = text
        self.price_input.value = text

    # -- events -----------------------------------------------------------------------------

    @on(SideToggle.Changed)
    def _side_changed(self) -> None:
        if self.price_auto and self.order_type is not OrderType.MARKET:
            self._fill_price_from_book()
        self.revalidate()

    @on(Select.Changed, "#ticket-type")
    def _type_changed(self) -> None:
        market = self.order_type is OrderType.MARKET
        self.price_input.disabled = market
        if not market and self.price_auto and not self.price_input.value:
            self._fill_price_from_book()
        self.revalidate()

    @on(Select.Changed, "#ticket-venue")
    def _venue_changed(self) -> None:
        """Another venue: its book fills the price afresh; the screen sends its rules."""
        if self.venue == self._chosen_venue:
            return  # the options were set again, the choice stands
        self._chosen_venue = self.venue
        self.best_bid = self.best_ask = None
        self.price_auto = True
        self._set_price_text("")
        self.post_message(self.VenueChanged(self.venue))
        self.revalidate()

    @on(Select.Changed, "#ticket-account")
    def _account_changed(self) -> None:
        self.revalidate()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input is self.price_input and event.value != self._auto_text:
            self.price_auto = False
        self.revalidate()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_send()

    @on(Button.Pressed, "#ticket-send")
    def _send_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.request_send()

    def request_send(self) -> bool:
        """Post ``SendRequested`` if the ticket passes now; refused (and said why) if not."""
        check = self.revalidate()
        if not check.ok:
            self.show_ack(None, "; ".join(check.errors) or "ticket incomplete")
            self.app.bell()
            return False
        self.post_message(self.SendRequested(check))
        return True
