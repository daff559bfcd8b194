"""The portfolio's exact arithmetic: rationals as integer pairs, one account's book, and the
all-accounts totals kept as fills and marks come.

A value is a plain ``(numerator, denominator)`` pair (:data:`Q`), always in lowest terms with a
positive denominator, so two pairs are equal exactly when the values are: the running totals
here can be checked for exact equality against a sum recomputed from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Context, Decimal
from math import gcd

_OUT = Context(prec=40)

Q = tuple[int, int]
"""An exact rational as (numerator, denominator): denominator > 0, both coprime."""
Q0: Q = (0, 1)


def q_of(value: Decimal) -> Q:
    return value.as_integer_ratio()


def norm(n: int, d: int) -> Q:
    if d < 0:
        n, d = -n, -d
    g = gcd(n, d)
    return (n // g, d // g) if g != 1 else (n, d)


# add, sub, mul and add_sub reduce inline (their denominators are positive products): a call
# less per operation than going through norm, on the order path.


def add(a: Q, b: Q) -> Q:
    a0, a1 = a
    b0, b1 = b
    if a1 == b1:
        n, d = a0 + b0, a1
    else:
        n, d = a0 * b1 + b0 * a1, a1 * b1
    g = gcd(n, d)
    return (n // g, d // g) if g != 1 else (n, d)


def sub(a: Q, b: Q) -> Q:
    a0, a1 = a
    b0, b1 = b
    if a1 == b1:
        n, d = a0 - b0, a1
    else:
        n, d = a0 * b1 - b0 * a1, a1 * b1
    g = gcd(n, d)
    return (n // g, d // g) if g != 1 else (n, d)


def mul(a: Q, b: Q) -> Q:
    n, d = a[0] * b[0], a[1] * b[1]
    g = gcd(n, d)
    return (n // g, d // g) if g != 1 else (n, d)


def add_sub(a: Q, b: Q, c: Q) -> Q:
    """``a + b - c`` reduced once: what :func:`add` and :func:`sub` give, cheaper."""
    a0, a1 = a
    b0, b1 = b
    c0, c1 = c
    if a1 == b1 == c1:
        n, d = a0 + b0 - c0, a1
    else:
        n, d = a0 * b1 * c1 + b0 * a1 * c1 - c0 * a1 * b1, a1 * b1 * c1
    g = gcd(n, d)
    return (n // g, d // g) if g != 1 else (n, d)


def dec(value: Q) -> Decimal:
    """Exact when ``value`` is a finite decimal of up to 40 digits, else rounded there."""
    n, d = value
    if d == 1:
        return Decimal(n)
    return _OUT.divide(n, d)  # the ints are taken exactly


class Book:
    """One account's position in one symbol on one venue, as exact pairs (:data:`Q`).

    ``q_avg`` is the average price of the open position (0 when flat): weighted on increases,
    unchanged on reductions, the fill price after crossing through zero. Every rule keeps
    ``q_realized - q_avg x q_size`` equal to the book's cash flow (minus the sum of signed
    size x price over its fills), which is what :class:`RunningTotals` sums instead.
    """

    __slots__ = ("q_avg", "q_fees", "q_realized", "q_size")

    def __init__(self) -> None:
        self.q_size = self.q_avg = self.q_realized = self.q_fees = Q0

    def trade(self, signed_size: Q, price: Q) -> None:
        size, avg = self.q_size, self.q_avg
        after = add(size, signed_size)
        if size[0] == 0 or (size[0] > 0) == (signed_size[0] > 0):
            # avg' = (avg x size + price x signed) / size'
            cost = add(mul(avg, size), mul(price, signed_size))
            self.q_avg = norm(cost[0] * after[1], cost[1] * after[0]) if after[0] else Q0
        elif abs(signed_size[0]) * size[1] <= abs(size[0]) * signed_size[1]:
            closed = (-signed_size[0], signed_size[1])
            self.q_realized = add(self.q_realized, mul(sub(price, avg), closed))
            if after[0] == 0:
                self.q_avg = Q0
        else:  # crosses through zero: close everything, open the rest at this price
            self.q_realized = add(self.q_realized, mul(sub(price, avg), size))
            self.q_avg = price
        self.q_size = after

    def q_unrealized(self, mark: Q | None) -> Q:
        if mark is None or not self.q_size[0]:
            return Q0
        return mul(sub(mark, self.q_avg), self.q_size)


class _Group:
    """The books of one (symbol, venue), all accounts: they share one mark."""

    __slots__ = ("abs_size", "gross", "size", "value", "venue")

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.size = self.abs_size = Q0  # sum of signed sizes; sum of |size| per book
        self.value = self.gross = Q0  # size x mark; abs_size x mark: as last settled


class RunningTotals:
    """Realised - fees + unrealised, and gross exposure, over every book: exact, O(1) to read.

    A book's realised - fees + unrealised at mark ``m`` is ``realised - fees + (m - avg) x
    size``, which by :class:`Book`'s invariant is ``cash - fees + size x m``. So the sum over
    all books is one running ``cash - fees`` (changed by each fill) plus, per (symbol, venue),
    the summed size x that mark, and gross exposure is the summed |size| x mark: terms made of
    the fills' decimals only, never the average prices' long fractions. A fill updates its
    (symbol, venue) sums at once; a mark only notes its symbol, whose few (symbol, venue)
    values are re-valued by :meth:`settle` before the next read. Every book has a mark (a fill
    sets the symbol's to its price until the market marks it), so nothing falls back to the
    average price.
    """

    __slots__ = ("_by_symbol", "_dirty", "_groups", "cash_fees", "gross", "value")

    def __init__(self) -> None:
        self.cash_fees = Q0  # sum over fills of -(signed size x price) - fee
        self.value = Q0  # sum over (symbol, venue) of size x mark, as last settled
        self.gross = Q0  # sum over (symbol, venue) of sum(|size|) x mark, as last settled
        self._groups: dict[tuple[str, str], _Group] = {}  # (symbol, venue)
        self._by_symbol: dict[str, list[_Group]] = {}  # symbol -> its groups, one per venue
        self._dirty: set[str] = set()  # symbols whose sizes or marks changed since settle

    def fill(
        self, symbol: str, venue: str, signed: Q, before: Q, after: Q, price: Q, fee: Q
    ) -> None:
        """A fill of ``signed`` size took one book of (``symbol``, ``venue``) from size
        ``before`` to ``after`` at ``price``, paying ``fee`` (in the quote currency)."""
        s0, s1 = signed
        p0, p1 = price
        c0, c1 = self.cash_fees
        if fee[0]:  # cash - signed x price - fee, reduced once
            f0, f1 = fee
            n = (c0 * s1 * p1 - s0 * p0 * c1) * f1 - f0 * c1 * s1 * p1
            self.cash_fees = norm(n, c1 * s1 * p1 * f1)
        else:
            self.cash_fees = norm(c0 * s1 * p1 - s0 * p0 * c1, c1 * s1 * p1)
        group = self._groups.get((symbol, venue))
        if group is None:
            group = self._groups[(symbol, venue)] = _Group(venue)
            self._by_symbol.setdefault(symbol, []).append(group)
        group.size = add(group.size, signed)
        if before[0] >= 0 and after[0] >= 0:  # |after| - |before| is the signed size
            group.abs_size = add(group.abs_size, signed)
        elif before[0] <= 0 and after[0] <= 0:
            group.abs_size = sub(group.abs_size, signed)
        else:  # crossed zero
            before_abs = (abs(before[0]), before[1])
            group.abs_size = add_sub(group.abs_size, (abs(after[0]), after[1]), before_abs)
        self._dirty.add(symbol)

    def symbol_size(self, symbol: str) -> Q:
        """The signed size of ``symbol``, all accounts and venues."""
        total = Q0
        for group in self._by_symbol.get(symbol, ()):
            total = add(total, group.size) if total[0] else group.size
        return total

    def marked(self, symbol: str) -> None:
        """``symbol``'s mark, or one venue's mark of it, changed."""
        if symbol in self._by_symbol:
            self._dirty.add(symbol)

    def settle(self, mark: Callable[[str, str], Q | None]) -> bool:
        """Re-value what changed since the last call at ``mark(symbol, venue)``; whether any
        total moved."""
        if not self._dirty:
            return False
        value, gross = self.value, self.gross
        for symbol in self._dirty:
            for group in self._by_symbol[symbol]:
                price = mark(symbol, group.venue)
                if price is None:  # no fill without a mark: see the class docstring
                    raise RuntimeError(f"{symbol} on {group.venue!r} has a position, no mark")
                now = mul(group.size, price)
                if now != group.value:
                    value = add_sub(value, now, group.value)
                    group.value = now
                now = mul(group.abs_size, price)
                if now != group.gross:
                    gross = add_sub(gross, now, group.gross)
                    group.gross = now
        self._dirty.clear()
        moved = value != self.value or gross != self.gross
        self.value, self.gross = value, gross
        return moved

    def net_plus(self, other: Q) -> Q:
        """Realised - fees + unrealised, all books (after :meth:`settle`), plus ``other``."""
        return add_sub(self.cash_fees, self.value, (-other[0], other[1]))

    def net_minus(self, other: Q) -> Q:
        """Realised - fees + unrealised, all books (after :meth:`settle`), minus ``other``."""
        return add_sub(self.cash_fees, self.value, other)
