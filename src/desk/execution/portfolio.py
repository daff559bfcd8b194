"""Positions and PnL per (bot_id, symbol), exact.

Every quantity is kept as an exact rational internally: sizes and fees are sums of decimals, but
a weighted average price (and the realised PnL measured against it) is in general not a finite
decimal, and rounding it once per fill drifts over thousands of fills. A fill is applied on
plain ``(numerator, denominator)`` integer pairs (:mod:`desk.execution.portfolio_totals`), not
:class:`fractions.Fraction` objects: the same exact values at a fraction of the cost on the
order path. Values leave as ``Decimal``: exact whenever the true value is a finite decimal
(sizes always are), otherwise rounded once, at 40 significant digits, on the way out.

What risk reads on every order (an account's and a symbol's position; equity, gross exposure
and daily PnL of all accounts) is kept as running exact sums, updated as each fill, mark and
day roll comes (:class:`~desk.execution.portfolio_totals.RunningTotals`): a read costs the same
however many positions there are, and equals a recompute from scratch (:meth:`Portfolio._net`,
:meth:`Portfolio._gross`, kept for the per-account figures) exactly. A fill, and a mark that
moves a value, also converts those figures to Decimals at once (:meth:`Portfolio._prime`): the
next order's risk check then reads them without an exact division each on its path.

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
from decimal import Decimal

import msgspec

from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Side
from desk.core.orders import Fill, Position
from desk.execution.portfolio_totals import Q0, Book, Q, RunningTotals, add, dec, mul, q_of, sub

log = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * NS_PER_S

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
        self._starting_cash = q_of(starting_cash)
        self._currencies = currencies
        self._books: dict[tuple[str, str, str], Book] = {}  # (bot_id, symbol, venue)
        self._marks: dict[str, Q] = {}
        self._venue_marks: dict[tuple[str, str], Q] = {}  # (venue, symbol): its own mid
        self._market_marked: set[str] = set()
        self._seen: set[FillKey] = set()
        self._fees_by_ccy: dict[str, Q] = {}
        self._odd_fee_ccys: set[str] = set()
        self._day_start_ns = utc_day_start(clock.now_ns())
        self._day_base: dict[str, Q] = {}
        self._day_base_all = Q0  # the sum of _day_base
        self.duplicate_fills = 0
        # What risk reads per order: exact running sums, and their Decimals until they move.
        self._running = RunningTotals()
        self._account_books: dict[tuple[str, str], list[Book]] = {}  # (bot_id, symbol): venues
        self._positions: dict[tuple[str, str], Decimal] = {}
        self._symbol_positions: dict[str, Decimal] = {}
        self._totals: dict[str, Decimal] = {}  # "equity", "gross", "daily" (all accounts)

    # ---- updates ----

    def apply_fill(self, fill: Fill) -> Position:
        """Apply one fill; a fill already applied (same :func:`fill_key`) changes nothing."""
        self.apply(fill)
        return self._position(fill.bot_id, fill.symbol, fill.venue)

    def apply(self, fill: Fill) -> None:
        """:meth:`apply_fill` without the position it returns (seven exact divisions the OMS,
        applying each fill on the order path, never reads)."""
        self._roll_day()
        self._apply(fill)
        self._prime(fill.bot_id, fill.symbol)

    def _prime(self, bot_id: str, symbol: str) -> None:
        """Convert now what risk reads on the next order: the account's and the symbol's
        position, equity, gross exposure and daily PnL (the same values a read would convert
        later; any change clears them). Fills and marks arrive off the bar-to-order path, and
        each of these costs an exact division to a Decimal that would otherwise land on it."""
        self.position(bot_id, symbol)
        self.symbol_position(symbol)
        self._prime_totals()

    def _prime_totals(self) -> None:
        cached = self._cached
        cached("daily")
        cached("equity")
        cached("gross")

    def mark(self, symbol: str, price: Decimal | float, venue: str = "") -> None:
        """Set the price ``symbol`` is valued at (a mid, last trade or mark price).

        A float is taken at its shortest decimal form (0.1 means 0.1); NaN and inf are ignored.
        ``venue``: the price of that venue only (its positions there are valued at it);
        positions on a venue without a mark of its own are valued at the symbol's.
        """
        self._roll_day()
        if isinstance(price, float):
            if not math.isfinite(price):
                return
            exact = q_of(Decimal(repr(price)))
        else:
            if not price.is_finite():
                return
            exact = q_of(price)
        if venue:
            if self._venue_marks.get((venue, symbol)) != exact:
                self._venue_marks[(venue, symbol)] = exact
                self._running.marked(symbol)
                self._prime_totals()
            return
        self._market_marked.add(symbol)
        if self._marks.get(symbol) != exact:
            self._marks[symbol] = exact
            self._running.marked(symbol)
            self._prime_totals()

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
        price = q_of(fill.price)
        size = q_of(fill.size)
        symbol = fill.symbol
        key = (fill.bot_id, symbol, fill.venue)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = Book()
            self._account_books.setdefault((fill.bot_id, symbol), []).append(book)
        signed = size if fill.side is Side.BUY else (-size[0], size[1])
        before = book.q_size
        book.trade(signed, price)
        fee = q_of(fill.fee)
        fee_quote = self._fee_in_quote(fill, fee, price)
        book.q_fees = add(book.q_fees, fee_quote)
        if fill.fee_ccy:
            self._fees_by_ccy[fill.fee_ccy] = add(self._fees_by_ccy.get(fill.fee_ccy, Q0), fee)
        if symbol not in self._market_marked:
            self._marks[symbol] = price  # before the running totals note the symbol
        self._running.fill(symbol, fill.venue, signed, before, book.q_size, price, fee_quote)
        self._positions.pop((fill.bot_id, symbol), None)
        self._symbol_positions.pop(symbol, None)
        self._totals.clear()

    def _fee_in_quote(self, fill: Fill, fee: Q, price: Q) -> Q:
        base, quote = self._currencies(fill.symbol)
        if fill.fee_ccy == base:
            return mul(fee, price)
        if fill.fee_ccy not in ("", quote) and fill.fee_ccy not in self._odd_fee_ccys:
            self._odd_fee_ccys.add(fill.fee_ccy)
            log.warning("fee in %s on %s counted as %s", fill.fee_ccy, fill.symbol, quote)
        return fee

    def _roll_day(self) -> None:
        today = utc_day_start(self._clock.now_ns())
        if today != self._day_start_ns:
            self._snapshot_day(today)

    def _snapshot_day(self, day_start_ns: int) -> None:
        base: dict[str, Q] = {}
        for (bot_id, symbol, venue), book in self._books.items():
            base[bot_id] = add(base.get(bot_id, Q0), self._book_net(book, symbol, venue))
        self._day_base = base
        total = Q0
        for value in base.values():
            total = add(total, value)
        self._day_base_all = total
        self._day_start_ns = day_start_ns
        self._totals.clear()

    # ---- what risk reads ----

    def position(self, bot_id: str, symbol: str, venue: str | None = None) -> Decimal:
        """One account's signed size (> 0 long) on ``venue``, or on all venues together."""
        if venue is not None:
            book = self._books.get((bot_id, symbol, venue))
            return dec(book.q_size) if book is not None else Decimal(0)
        account = (bot_id, symbol)
        cached = self._positions.get(account)
        if cached is None:
            total = Q0
            for book in self._account_books.get(account, ()):  # one per venue
                total = add(total, book.q_size) if total[0] else book.q_size
            cached = self._positions[account] = dec(total)
        return cached

    def symbol_position(self, symbol: str) -> Decimal:
        """The desk's signed size in ``symbol``, all accounts and venues together."""
        cached = self._symbol_positions.get(symbol)
        if cached is None:
            cached = self._symbol_positions[symbol] = dec(self._running.symbol_size(symbol))
        return cached

    def gross_exposure(self, bot_id: str | None = None) -> Decimal:
        """Sum of |size| x mark over all positions (of one account if ``bot_id``)."""
        if bot_id is not None:
            return dec(self._gross(bot_id))
        return self._cached("gross")

    def equity(self) -> Decimal:
        """Starting cash + realised - fees + unrealised, all accounts."""
        return self._cached("equity")

    def daily_pnl(self, bot_id: str | None = None) -> Decimal:
        """PnL since the UTC day started (realised - fees + change in unrealised)."""
        self._roll_day()
        if bot_id is not None:
            return dec(self._daily(bot_id))
        return self._cached("daily")

    # ---- views ----

    def positions(self, bot_id: str | None = None) -> list[Position]:
        """Every (bot_id, symbol, venue) ever traded, flat ones included (they carry realised
        PnL)."""
        return [
            self._position(b, s, v)
            for (b, s, v) in sorted(self._books)
            if bot_id is None or b == bot_id
        ]

    def accounts(self) -> list[tuple[str, str]]:
        """The (bot_id, symbol) pairs that hold or held a position (on any venue)."""
        return sorted({(b, s) for (b, s, _v) in self._books})

    def totals(self, bot_id: str | None = None) -> PnlTotals:
        """Money totals of one account, or of all when ``bot_id`` is None."""
        self._roll_day()
        realized = fees = unrealized = Q0
        for (b, symbol, venue), book in self._books.items():
            if bot_id is None or b == bot_id:
                realized = add(realized, book.q_realized)
                fees = add(fees, book.q_fees)
                unrealized = add(unrealized, book.q_unrealized(self._mark(symbol, venue)))
        return PnlTotals(
            realized_pnl=dec(realized),
            fees=dec(fees),
            unrealized_pnl=dec(unrealized),
            net=dec(add(sub(realized, fees), unrealized)),
            gross_exposure=dec(self._gross(bot_id)),
            daily_pnl=dec(self._daily(bot_id)),
        )

    def mark_price(self, symbol: str, venue: str = "") -> Decimal | None:
        mark = self._mark(symbol, venue)
        return None if mark is None else dec(mark)

    def fees_in(self, currency: str) -> Decimal:
        """Fees charged in ``currency`` itself (rebates negative), before any conversion."""
        return dec(self._fees_by_ccy.get(currency, Q0))

    def currencies(self, symbol: str) -> tuple[str, str]:
        return self._currencies(symbol)

    def knows_fill(self, fill: Fill) -> bool:
        return fill_key(fill) in self._seen

    def forget_fills(self, keys: Iterable[FillKey]) -> None:
        """Stop remembering these fills' keys (the OMS pruned their order and now refuses
        any further report for it): the positions they made stay."""
        self._seen.difference_update(keys)

    # ---- internals ----

    def _cached(self, name: str) -> Decimal:
        """An all-accounts total as a Decimal, converted once per change of its exact value."""
        if self._running.settle(self._mark):
            self._totals.clear()
        value = self._totals.get(name)
        if value is None:
            value = self._totals[name] = dec(self._running_q(name))
        return value

    def _running_q(self, name: str) -> Q:
        """The exact all-accounts ``"equity"``, ``"gross"`` or ``"daily"`` (settled)."""
        running = self._running
        if name == "gross":
            return running.gross
        if name == "equity":
            return running.net_plus(self._starting_cash)
        return running.net_minus(self._day_base_all)

    def _mark(self, symbol: str, venue: str) -> Q | None:
        """``venue``'s own mark of ``symbol``, else the symbol's."""
        mark = self._venue_marks.get((venue, symbol)) if self._venue_marks else None
        return mark if mark is not None else self._marks.get(symbol)

    def _book_net(self, book: Book, symbol: str, venue: str) -> Q:
        """Realised - fees + unrealised of one book."""
        net = sub(book.q_realized, book.q_fees)
        return add(net, book.q_unrealized(self._mark(symbol, venue)))

    def _position(self, bot_id: str, symbol: str, venue: str) -> Position:
        book = self._books.get((bot_id, symbol, venue)) or Book()
        mark = self._mark(symbol, venue)
        return Position(
            bot_id=bot_id,
            symbol=symbol,
            venue=venue,
            size=dec(book.q_size),
            avg_price=dec(book.q_avg),
            realized_pnl=dec(book.q_realized),
            fees=dec(book.q_fees),
            mark_price=dec(mark) if mark is not None else Decimal(0),
            unrealized_pnl=dec(book.q_unrealized(mark)),
        )

    # From scratch: per account, and the reference the running totals must equal exactly.

    def _gross(self, bot_id: str | None) -> Q:
        total = Q0
        for (b, symbol, venue), book in self._books.items():
            size = book.q_size
            if size[0] and (bot_id is None or b == bot_id):
                mark = self._mark(symbol, venue)
                price = mark if mark is not None else book.q_avg
                total = add(total, mul((abs(size[0]), size[1]), price))
        return total

    def _net(self, bot_id: str | None) -> Q:
        total = Q0
        for (b, symbol, venue), book in self._books.items():
            if bot_id is None or b == bot_id:
                total = add(total, self._book_net(book, symbol, venue))
        return total

    def _daily(self, bot_id: str | None) -> Q:
        if bot_id is None:
            base = Q0
            for value in self._day_base.values():
                base = add(base, value)
        else:
            base = self._day_base.get(bot_id, Q0)
        return sub(self._net(bot_id), base)
