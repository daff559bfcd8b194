"""The ``orders`` row of each state of an order, built once per state change.

An order's row is written at every change (PENDING_NEW, LIVE, FILLED: three a typical order),
and most of its fields do not change between them: side, type, price, size, often the filled
size and the fee. :class:`OrderRows` keeps the last row of each open order and reuses the text
of every field that is the same object as in the state it was built from (``msgspec``'s
``replace`` keeps the unchanged fields' objects), so each value is turned into text and held to
the writer's checks once. The rows are the same as :func:`order_row` builds from scratch.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from desk.core.orders import TERMINAL_STATUSES, Order, OrderStatus
from desk.storage.statements import Checked

ZERO = Decimal(0)
_REJECTED = OrderStatus.REJECTED  # module constants: a global is ~10x faster than the lookup
_TERMINAL = TERMINAL_STATUSES


def order_row(o: Order, reduce_only: bool, notional: Decimal, updated_ns: int) -> tuple[Any, ...]:
    """The parameters of :data:`statements.ORDER` for one order's state: held to the writer's
    checks here, on the typed values (:class:`~desk.storage.statements.Checked`), when they
    pass them; otherwise a plain tuple, which the writer checks and says what is wrong."""
    row, sound = plain_order_row(o, reduce_only, notional, updated_ns)
    return Checked(row) if sound else row


def plain_order_row(
    o: Order, reduce_only: bool, notional: Decimal, updated_ns: int
) -> tuple[tuple[Any, ...], bool]:
    """:func:`order_row` as a plain tuple, and whether it passed the checks."""
    row = (
        o.client_order_id,
        o.venue_order_id,
        o.venue,
        o.bot_id,
        o.symbol,
        str(o.side),
        str(o.order_type),
        None if o.price is None else str(o.price),
        str(o.size),
        str(o.filled),
        str(o.avg_price),
        str(notional),
        str(o.fee),
        o.fee_ccy,
        str(o.status),
        o.reason,
        int(reduce_only),
        o.created_ns,
        updated_ns,
    )
    # The checks inlined (no helper calls): this runs for every state of every order.
    filled, avg, fee, size, price = o.filled, o.avg_price, o.fee, o.size, o.price
    sound = (
        type(filled) is Decimal
        and filled.is_finite()
        and filled >= ZERO
        and type(avg) is Decimal
        and avg.is_finite()
        and avg >= ZERO
        and type(notional) is Decimal
        and notional.is_finite()
        and notional >= ZERO
        and type(fee) is Decimal
        and fee.is_finite()
        and (
            o.status is _REJECTED
            or (
                type(size) is Decimal
                and size.is_finite()
                and size > ZERO
                and (
                    price is None or (type(price) is Decimal and price.is_finite() and price > ZERO)
                )
            )
        )
        and type(o.created_ns) is int
        and type(updated_ns) is int
    )
    return row, sound


class OrderRows:
    """Builds order rows, reusing the text of an open order's unchanged fields.

    Holds one entry per open order whose last row passed the checks (the state it was built
    from, its notional, the row); a terminal state drops it.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[Order, Decimal, tuple[Any, ...]]] = {}

    def __len__(self) -> int:
        return len(self._last)

    def row(
        self, o: Order, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> tuple[Any, ...]:
        """:func:`order_row` of ``o``, remembered for its next state while it is open."""
        row, sound = self.plain(o, reduce_only, notional, updated_ns)
        return Checked(row) if sound else row

    def plain(
        self, o: Order, reduce_only: bool, notional: Decimal, updated_ns: int
    ) -> tuple[tuple[Any, ...], bool]:
        """:meth:`row` as a plain tuple, and whether it passed the checks (what the store
        queues: no :class:`Checked` copy made and taken apart again per row)."""
        cid = o.client_order_id
        last = self._last.get(cid)
        row = None if last is None else _after(last, o, reduce_only, notional, updated_ns)
        if row is None:
            row, sound = plain_order_row(o, reduce_only, notional, updated_ns)
        else:
            sound = True
        if o.status in _TERMINAL or not sound:
            if last is not None:
                del self._last[cid]
        else:
            self._last[cid] = (o, notional, row)
        return row, sound


def _after(
    last: tuple[Order, Decimal, tuple[Any, ...]],
    o: Order,
    reduce_only: bool,
    notional: Decimal,
    updated_ns: int,
) -> tuple[Any, ...] | None:
    """``o``'s row (sound) from the last sound row of the same order; None when a changed field
    fails a check or the fixed fields changed (then :func:`order_row` builds it and says why).

    The last row passed every check, with a status that was not REJECTED (it would have been
    terminal): its side, type, price and size passed, and each reused text is of the same
    object.
    """
    p, p_notional, r = last
    if (
        o.side is not p.side
        or o.order_type is not p.order_type
        or o.price is not p.price
        or o.size is not p.size
        or type(o.created_ns) is not int
        or type(updated_ns) is not int
    ):
        return None
    # The same object as before (the usual case): its text, without a call.
    filled, avg, fee = o.filled, o.avg_price, o.fee
    filled_text = r[9] if filled is p.filled else _text(filled, signed=False)
    avg_text = r[10] if avg is p.avg_price else _text(avg, signed=False)
    notional_text = r[11] if notional is p_notional else _text(notional, signed=False)
    fee_text = r[12] if fee is p.fee else _text(fee, signed=True)
    if filled_text is None or avg_text is None or notional_text is None or fee_text is None:
        return None
    return (
        o.client_order_id,
        o.venue_order_id,
        o.venue,
        o.bot_id,
        o.symbol,
        r[5],
        r[6],
        r[7],
        r[8],
        filled_text,
        avg_text,
        notional_text,
        fee_text,
        o.fee_ccy,
        str(o.status),
        o.reason,
        int(reduce_only),
        o.created_ns,
        updated_ns,
    )


def _text(value: Any, *, signed: bool) -> str | None:
    """A changed money field's text when it passes the writer's check (finite; not negative
    unless ``signed``), else None."""
    if type(value) is Decimal and value.is_finite() and (signed or value >= ZERO):
        return str(value)
    return None
