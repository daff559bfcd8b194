"""Positions and PnL per (bot_id, symbol), exact.

Every quantity is kept as a :class:`fractions.Fraction` internally: sizes and fees are sums of
decimals, but a weighted average price (and the realised PnL measured against it) is in general
not a finite decimal, and rounding it once per fill drifts over thousands of fills. Values leave
as ``Decimal``: exact whenever the true value is a finite decimal (sizes always are), otherwise
rounded once, at 40 significant digits, on the way out.

Average-cost accounting: the average price is weighted on increases, unchanged on reductions,
and reset to the fill price when a fill crosses through zero (the closed part is realised at the
old average, the remainder opens at the fill price). Fees are money in the quote currency; a
fee charged in the base currency is converted at the fill price (the position size is the
traded size: the base units the fee took are tracked in :meth:`Portfolio.fees_in` for
balance reconciliation). A fee in any third currency is counted as quote with a warning.

Daily PnL is realised - fees + unrealised now, minus the same figure when the UTC day started.
The day rolls over at the first fill, mark or query after midnight, so the figure at midnight
uses the last marks known before it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from decimal import Context, Decimal
from fractions import Fraction

import msgspec

from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Side
from desk.core.orders import Fill, Position

log = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * NS_PER_S
ZERO = Fraction(0)
_OUT = Context(prec=40)

FillKey = tuple[str, str, str]


def fill_key(fill: Fill) -> FillKey:
    """A fill's identity: (venue, client_order_id, trade_id).

    The venue's trade id is unique per symbol only, and a trade between two of desk's own
    orders carries one trade id for both sides; the client order id separates both cases.
    """
    return (fill.venue, fill.client_order_id, fill.trade_id)


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of an OKX-style symbol: ``BTC-USDT`` -> (BTC, USDT)."""
    parts = symbol.split("-")
    if len(parts) >= 2:
        return parts[0], parts[1]
    return symbol, ""


def to_decimal(value: Fraction) -> Decimal:
    """Exact when ``value`` is a finite decimal of up to 40 digits, else rounded there."""
    if value.denominator == 1:
        return Decimal(value.numerator)
    return _OUT.divide(Decimal(value.numerator), Decimal(value.denominator))


def utc_day_start(now_ns: int) -> int:
    return now_ns - now_ns % NS_PER_DAY


class PnlTotals(msgspec.Struct, frozen=True, kw_only=True):
    """Money totals of one account, or of all; ``net`` = realised - fees + unrealised."""

    realized_pnl: Decimal
    fees: Decimal
    unrealized_pnl: Decimal
    net: Decimal
    gross_exposure: Decimal
    daily_pnl: Decimal


class _Book:
    """One account's position in one symbol. ``cost`` is avg price x size (signed like size)."""

    __slots__ = ("cost", "fees", "realized", "size")

    def __init__(self) -> None:
        self.size = ZERO
        self.cost = ZERO
        self.realized = ZERO
        self.fees = ZERO

    @property
    def avg(self) -> Fraction:
        return self.cost / self.size if self.size else ZERO

    def trade(self, signed_size: Fraction, price: Fraction) -> None:
        size = self.size
        if size == 0 or (size > 0) == (signed_size > 0):
            self.size = size + signed_size
            self.cost += price * signed_size
            return
        avg = self.cost / size
        if abs(signed_size) <= abs(size):
            self.realized += (price - avg) * -signed_size
            self.size = size + signed_size
            self.cost = avg * self.size
        else:  # crosses through zero: close everything, open the rest at this price
            self.realized += (price - avg) * size
            self.size = size + signed_size
            self.cost = price * self.size

    def unrealized(self, mark: Fraction | None) -> Fraction:
        if mark is None or not self.size:
            return ZERO
        return (mark - self.avg) * self.size

    def net(self, mark: Fraction | None) -> Fraction:
        return self.realized - self.fees + self.unrealized(mark)


class Portfolio:
    """Exact positions, PnL and fees for every account; the view risk and the UI read.

    ``currencies`` maps a symbol to (base, quote); the default splits OKX-style symbols.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        starting_cash: Decimal = Decimal(0),
        currencies: Callable[[str], tuple[str, str]] = split_symbol,
    ) -> None:
        self._clock = clock
        self._starting_cash = Fraction(starting_cash)
        self._currencies = currencies
        self._books: dict[tuple[str, str], _Book] = {}
        self._marks: dict[str, Fraction] = {}
        self._market_marked: set[str] = set()
        self._seen: set[FillKey] = set()
        self._fees_by_ccy: dict[str, Fraction] = {}
        self._odd_fee_ccys: set[str] = set()
        self._day_start_ns = utc_day_start(clock.now_ns())
        self._day_base: dict[str, Fraction] = {}
        self.duplicate_fills = 0

    # ---- updates ----

    def apply_fill(self, fill: Fill) -> Position:
        """Apply one fill; a fill already applied (same :func:`fill_key`) changes nothing."""
        self._roll_day()
        self._apply(fill)
        return self._position(fill.bot_id, fill.symbol)

    def mark(self, symbol: str, price: Decimal | float) -> None:
        """Set the price ``symbol`` is valued at (a mid, last trade or mark price).

        A float is taken at its shortest decimal form (0.1 means 0.1); NaN and inf are ignored.
        """
        self._roll_day()
        if isinstance(price, float):
            if not math.isfinite(price):
                return
            exact = Fraction(repr(price))
        else:
            if not price.is_finite():
                return
            exact = Fraction(price)
        self._marks[symbol] = exact
        self._market_marked.add(symbol)

    def restore(self, fills: Iterable[Fill]) -> None:
        """Replay stored fills (in the order they were applied) after a restart.

        Fills received before today's UTC midnight form today's starting point for
        :meth:`daily_pnl`, valued at the last fill prices before midnight.
        """
        today = utc_day_start(self._clock.now_ns())
        based = False
        for fill in fills:
            if not based and fill.ts_recv >= today:
                self._snapshot_day(today)
                based = True
            self._apply(fill)
        if not based:
            self._snapshot_day(today)

    def _apply(self, fill: Fill) -> None:
        key = fill_key(fill)
        if key in self._seen:
            self.duplicate_fills += 1
            return
        self._seen.add(key)
        price = Fraction(fill.price)
        size = Fraction(fill.size)
        book = self._books.get((fill.bot_id, fill.symbol))
        if book is None:
            book = self._books[(fill.bot_id, fill.symbol)] = _Book()
        book.trade(size if fill.side is Side.BUY else -size, price)
        book.fees += self._fee_in_quote(fill, price)
        if fill.fee_ccy:
            ccy_fees = self._fees_by_ccy.get(fill.fee_ccy, ZERO)
            self._fees_by_ccy[fill.fee_ccy] = ccy_fees + Fraction(fill.fee)
        if fill.symbol not in self._market_marked:
            self._marks[fill.symbol] = price

    def _fee_in_quote(self, fill: Fill, price: Fraction) -> Fraction:
        fee = Fraction(fill.fee)
        base, quote = self._currencies(fill.symbol)
        if fill.fee_ccy == base:
            return fee * price
        if fill.fee_ccy not in ("", quote) and fill.fee_ccy not in self._odd_fee_ccys:
            self._odd_fee_ccys.add(fill.fee_ccy)
            log.warning("fee in %s on %s counted as %s", fill.fee_ccy, fill.symbol, quote)
        return fee

    def _roll_day(self) -> None:
        today = utc_day_start(self._clock.now_ns())
        if today != self._day_start_ns:
            self._snapshot_day(today)

    def _snapshot_day(self, day_start_ns: int) -> None:
        base: dict[str, Fraction] = {}
        for (bot_id, symbol), book in self._books.items():
            base[bot_id] = base.get(bot_id, ZERO) + book.net(self._marks.get(symbol))
        self._day_base = base
        self._day_start_ns = day_start_ns

    # ---- what risk reads ----

    def position(self, bot_id: str, symbol: str) -> Decimal:
        """One account's signed size (> 0 long)."""
        book = self._books.get((bot_id, symbol))
        return to_decimal(book.size) if book else Decimal(0)

    def symbol_position(self, symbol: str) -> Decimal:
        """The desk's signed size in ``symbol``, all accounts together."""
        total = sum((b.size for (_, s), b in self._books.items() if s == symbol), ZERO)
        return to_decimal(total)

    def gross_exposure(self, bot_id: str | None = None) -> Decimal:
        """Sum of |size| x mark over all positions (of one account if ``bot_id``)."""
        return to_decimal(self._gross(bot_id))

    def equity(self) -> Decimal:
        """Starting cash + realised - fees + unrealised, all accounts."""
        return to_decimal(self._starting_cash + self._net(None))

    def daily_pnl(self, bot_id: str | None = None) -> Decimal:
        """PnL since the UTC day started (realised - fees + change in unrealised)."""
        self._roll_day()
        return to_decimal(self._daily(bot_id))

    # ---- views ----

    def positions(self, bot_id: str | None = None) -> list[Position]:
        """Every (bot_id, symbol) ever traded, flat ones included (they carry realised PnL)."""
        return [
            self._position(b, s) for (b, s) in sorted(self._books) if bot_id is None or b == bot_id
        ]

    def accounts(self) -> list[tuple[str, str]]:
        """The (bot_id, symbol) pairs that hold or held a position."""
        return sorted(self._books)

    def totals(self, bot_id: str | None = None) -> PnlTotals:
        """Money totals of one account, or of all when ``bot_id`` is None."""
        self._roll_day()
        realized = fees = unrealized = ZERO
        for (b, symbol), book in self._books.items():
            if bot_id is None or b == bot_id:
                realized += book.realized
                fees += book.fees
                unrealized += book.unrealized(self._marks.get(symbol))
        return PnlTotals(
            realized_pnl=to_decimal(realized),
            fees=to_decimal(fees),
            unrealized_pnl=to_decimal(unrealized),
            net=to_decimal(realized - fees + unrealized),
            gross_exposure=to_decimal(self._gross(bot_id)),
            daily_pnl=to_decimal(self._daily(bot_id)),
        )

    def mark_price(self, symbol: str) -> Decimal | None:
        mark = self._marks.get(symbol)
        return None if mark is None else to_decimal(mark)

    def fees_in(self, currency: str) -> Decimal:
        """Fees charged in ``currency`` itself (rebates negative), before any conversion."""
        return to_decimal(self._fees_by_ccy.get(currency, ZERO))

    def currencies(self, symbol: str) -> tuple[str, str]:
        return self._currencies(symbol)

    def knows_fill(self, fill: Fill) -> bool:
        return fill_key(fill) in self._seen

    # ---- internals ----

    def _position(self, bot_id: str, symbol: str) -> Position:
        book = self._books.get((bot_id, symbol)) or _Book()
        mark = self._marks.get(symbol)
        return Position(
            bot_id=bot_id,
            symbol=symbol,
            size=to_decimal(book.size),
            avg_price=to_decimal(book.avg),
            realized_pnl=to_decimal(book.realized),
            fees=to_decimal(book.fees),
            mark_price=to_decimal(mark) if mark is not None else Decimal(0),
            unrealized_pnl=to_decimal(book.unrealized(mark)),
        )

    def _gross(self, bot_id: str | None) -> Fraction:
        total = ZERO
        for (b, symbol), book in self._books.items():
            if book.size and (bot_id is None or b == bot_id):
                mark = self._marks.get(symbol)
                total += abs(book.size) * (mark if mark is not None else book.avg)
        return total

    def _net(self, bot_id: str | None) -> Fraction:
        return sum(
            (
                book.net(self._marks.get(symbol))
                for (b, symbol), book in self._books.items()
                if bot_id is None or b == bot_id
            ),
            ZERO,
        )

    def _daily(self, bot_id: str | None) -> Fraction:
        if bot_id is None:
            base = sum(self._day_base.values(), ZERO)
        else:
            base = self._day_base.get(bot_id, ZERO)
        return self._net(bot_id) - base
