"""The order ticket's checks, as plain functions (no Textual): text in, an OrderRequest or the
reasons it cannot be one out.

Three layers, cheapest first, each stopping the ticket from sending: the text must parse
(``size: not a number``), the numbers must fit the instrument's rules (price on the tick, size on
the lot and at least the minimum; the message names the nearest valid values), and only then is
the request shown to the engine's own pre-trade check (``EngineClient.check_order``), which knows
the limits, the halt state and the position. Prices and sizes stay ``Decimal`` from the text the
operator typed to the request that is sent: no float ever touches them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from desk.bridge.views import InstrumentView
from desk.core.enums import Side
from desk.core.orders import MANUAL_ACCOUNT, OrderRequest, OrderType

ORDER_TYPES: tuple[tuple[str, OrderType], ...] = (
    ("limit", OrderType.LIMIT),
    ("market", OrderType.MARKET),
    ("post-only", OrderType.POST_ONLY),
    ("IOC", OrderType.IOC),
    ("FOK", OrderType.FOK),
)
TYPE_LABELS = {order_type: label for label, order_type in ORDER_TYPES}


@dataclass(frozen=True, slots=True)
class TicketInput:
    """What the ticket holds, as typed."""

    symbol: str
    side: Side
    order_type: OrderType
    price_text: str
    size_text: str
    account: str = MANUAL_ACCOUNT
    venue: str = "okx"


@dataclass(frozen=True, slots=True)
class TicketCheck:
    """The ticket's state after the local checks: a request to send, or the errors."""

    request: OrderRequest | None
    errors: tuple[str, ...] = ()
    notional: Decimal | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.request is not None and not self.errors


def parse_decimal(text: str, name: str) -> tuple[Decimal | None, str]:
    """``(value, "")`` or ``(None, "name: reason")`` for a positive finite number."""
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        return None, f"{name}: required"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{name}: not a number"
    if not value.is_finite():
        return None, f"{name}: not a number"
    if value <= 0:
        return None, f"{name}: must be more than 0"
    return value, ""


def step_of(text: str) -> Decimal | None:
    """An instrument's tick/lot as a Decimal; None when it is missing or not positive."""
    try:
        step = Decimal(text)
    except (InvalidOperation, TypeError):
        return None
    return step if step.is_finite() and step > 0 else None


def snap(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``value`` on the ``step`` grid, written with the step's decimals."""
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step) if step.as_tuple().exponent < 0 else units * step


def on_grid(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def fmt_decimal(value: Decimal) -> str:
    """A Decimal as a person writes it: no exponent, no trailing zeros past the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def check_price(price: Decimal, instrument: InstrumentView | None) -> str:
    """ "" when ``price`` is on the tick; else the reason with the two nearest valid prices."""
    tick = step_of(instrument.tick_size) if instrument else None
    if tick is None or on_grid(price, tick):
        return ""
    below = snap(price, tick, ROUND_FLOOR)
    above = snap(price, tick, ROUND_CEILING)
    choices = [fmt_decimal(p) for p in (below, above) if p > 0]
    return f"price: not on tick {instrument.tick_size} — nearest {' or '.join(choices)}"  # type: ignore[union-attr]


def check_size(size: Decimal, instrument: InstrumentView | None) -> str:
    """ "" when ``size`` is on the lot and at least the minimum; else why, and the nearest."""
    if instrument is None:
        return ""
    lot = step_of(instrument.lot_size)
    minimum = step_of(instrument.min_size) or Decimal(0)
    if minimum and size < minimum:
        return f"size: below minimum {instrument.min_size} — nearest {fmt_decimal(minimum)}"
    if lot is not None and not on_grid(size, lot):
        nearest = max(snap(size, lot), minimum)
        below = snap(size, lot, ROUND_FLOOR)
        above = snap(size, lot, ROUND_CEILING)
        choices = [fmt_decimal(s) for s in (below, above) if s >= minimum and s > 0]
        text = " or ".join(choices) if choices else fmt_decimal(nearest)
        return f"size: not a multiple of lot {instrument.lot_size} — nearest {text}"
    return ""


def validate(
    ticket: TicketInput,
    instrument: InstrumentView | None,
    reference_price: Decimal | None = None,
) -> TicketCheck:
    """Parse and check ``ticket`` against the instrument's rules (not the engine's risk).

    ``reference_price`` values a market order's notional (the price it would meet). The
    request carries the ticket's venue (paper trading fills on that venue's book).
    """
    errors: list[str] = []
    price: Decimal | None = None
    if ticket.order_type is not OrderType.MARKET:
        price, error = parse_decimal(ticket.price_text, "price")
        if price is not None:
            error = check_price(price, instrument)
        if error:
            errors.append(error)
    size, error = parse_decimal(ticket.size_text, "size")
    if size is not None:
        error = check_size(size, instrument)
    if error:
        errors.append(error)
    notes: list[str] = []
    if instrument is None:
        notes.append(
            f"no instrument rules for {ticket.symbol} on {ticket.venue}: tick and lot unchecked"
        )
    elif instrument.state and instrument.state != "live":
        errors.append(f"symbol: {ticket.symbol} is {instrument.state}, not live")
    valued_at = price if price is not None else reference_price
    notional = size * valued_at if size is not None and valued_at is not None else None
    if errors or size is None:
        return TicketCheck(None, tuple(errors), notional, tuple(notes))
    request = OrderRequest(
        symbol=ticket.symbol,
        side=ticket.side,
        order_type=ticket.order_type,
        size=size,
        price=price,
        bot_id=ticket.account or MANUAL_ACCOUNT,
        venue=ticket.venue,
    )
    return TicketCheck(request, (), notional, tuple(notes))


def price_text(price: float, instrument: InstrumentView | None) -> str:
    """A book price (a float) as ticket text on the instrument's tick (exact, no float noise)."""
    value = Decimal(repr(price))
    tick = step_of(instrument.tick_size) if instrument else None
    if tick is not None:
        value = snap(value, tick)
    return fmt_decimal(value)


def instrument_for(
    instruments: Iterable[InstrumentView], symbol: str, venue: str
) -> InstrumentView | None:
    """The rules of ``symbol`` on ``venue`` (None when that venue's are not known)."""
    return next((i for i in instruments if i.symbol == symbol and i.venue == venue), None)
