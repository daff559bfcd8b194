"""The running totals risk reads equal the portfolio's from-scratch sums exactly, at every step.

Seeded random sequences of fills (several accounts, symbols and venues; fees in the quote, the
base, a third currency or none; rebates; duplicates), market and venue marks (Decimal, float,
NaN), day rolls, :meth:`Portfolio.restore` and :meth:`Portfolio.forget_fills`.
"""

from __future__ import annotations

import random
from decimal import Context, Decimal

import pytest

from desk.core.clock import NS_PER_S, TestClock
from desk.core.enums import Side
from desk.core.orders import Fill, Liquidity
from desk.execution.portfolio import NS_PER_DAY, Portfolio, fill_key
from desk.execution.portfolio_totals import Q0, Book, RunningTotals, add, dec, mul, norm, q_of, sub

BOTS = ("b1", "b2", "b3")
SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDC")
VENUES = ("okx", "binance", "coinbase")
FEE_CCYS = ("USDT", "USDC", "BTC", "ETH", "SOL", "", "BNB")


def _decimal(rng: random.Random, low: int, high: int, places: int) -> Decimal:
    return Decimal(rng.randint(low, high)).scaleb(-places)


def _fill(rng: random.Random, clock: TestClock, n: int) -> Fill:
    return Fill(
        ts_exchange=clock.now_ns(),
        ts_recv=clock.now_ns(),
        client_order_id=f"o{rng.randint(1, 40)}",
        venue_order_id=f"v{n}",
        trade_id=str(n),
        symbol=rng.choice(SYMBOLS),
        side=rng.choice((Side.BUY, Side.SELL)),
        price=_decimal(rng, 1, 10**6, rng.choice((0, 1, 2, 3))),
        size=_decimal(rng, 1, 10**6, rng.choice((0, 3, 8))),
        fee=_decimal(rng, -(10**3), 10**5, 8),
        fee_ccy=rng.choice(FEE_CCYS),
        liquidity=Liquidity.TAKER,
        bot_id=rng.choice(BOTS),
        venue=rng.choice(VENUES),
    )


def assert_totals_match_scratch(p: Portfolio) -> None:
    """Every all-accounts read, exact and as a Decimal, equals the from-scratch sums."""
    daily = p.daily_pnl()  # rolls the day first, as the scratch figure below assumes
    equity, gross = p.equity(), p.gross_exposure()
    scratch_equity = add(p._starting_cash, p._net(None))
    assert p._running_q("equity") == scratch_equity
    assert p._running_q("gross") == p._gross(None)
    assert p._running_q("daily") == p._daily(None)
    assert (equity, gross, daily) == (
        dec(scratch_equity),
        dec(p._gross(None)),
        dec(p._daily(None)),
    )
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    by_symbol: dict[str, tuple[int, int]] = {}
    for (bot, symbol, _venue), book in p._books.items():
        sizes[(bot, symbol)] = add(sizes.get((bot, symbol), Q0), book.q_size)
        by_symbol[symbol] = add(by_symbol.get(symbol, Q0), book.q_size)
    for bot in (*BOTS, "nobody"):
        for symbol in SYMBOLS:
            assert p.position(bot, symbol) == dec(sizes.get((bot, symbol), Q0))
    for symbol in SYMBOLS:
        assert p.symbol_position(symbol) == dec(by_symbol.get(symbol, Q0))
    total = p.totals()
    assert (total.gross_exposure, total.daily_pnl) == (gross, daily)
    assert total.net == dec(p._net(None))


def _run(seed: int, steps: int, read_chance: float) -> None:
    rng = random.Random(seed)
    clock = TestClock(3 * NS_PER_DAY + rng.randint(0, NS_PER_DAY - 1))
    p = Portfolio(clock, starting_cash=_decimal(rng, 0, 10**9, 2))
    applied: list[Fill] = []
    for n in range(steps):
        roll = rng.random()
        if roll < 0.45:
            fill = _fill(rng, clock, n)
            p.apply(fill) if rng.random() < 0.5 else p.apply_fill(fill)
            applied.append(fill)
        elif roll < 0.5 and applied:
            p.apply_fill(rng.choice(applied))  # a duplicate: changes nothing
        elif roll < 0.7:
            p.mark(rng.choice(SYMBOLS), _decimal(rng, 1, 10**6, rng.choice((0, 2, 4))))
        elif roll < 0.78:
            p.mark(rng.choice(SYMBOLS), rng.uniform(1, 1000))  # a float, at its decimal
        elif roll < 0.86:
            p.mark(rng.choice(SYMBOLS), _decimal(rng, 1, 10**6, 2), rng.choice(VENUES))
        elif roll < 0.88:
            p.mark(rng.choice(SYMBOLS), rng.choice((float("nan"), Decimal("inf"))))
        elif roll < 0.92 and p._books:
            symbol = rng.choice(SYMBOLS)  # the mark it already has: nothing moves
            p.mark(symbol, dec(p._mark(symbol, "") or (1, 1)))
        elif roll < 0.96:
            clock.advance_ns(rng.choice((1, 3600 * NS_PER_S, NS_PER_DAY // 2, NS_PER_DAY)))
        elif roll < 0.98 and applied:
            keys = [fill_key(f) for f in rng.sample(applied, min(3, len(applied)))]
            p.forget_fills(keys)  # a forgotten fill applied again counts again
        else:
            p.restore(applied)  # all known or counted again: today starts over
        if rng.random() < read_chance:
            assert_totals_match_scratch(p)
    assert_totals_match_scratch(p)
    fresh = Portfolio(clock, starting_cash=Decimal(7))
    fresh.restore(applied)
    assert_totals_match_scratch(fresh)


@pytest.mark.parametrize("seed", range(8))
def test_running_totals_equal_scratch_after_every_step(seed: int) -> None:
    _run(seed, 400, read_chance=1.0)


@pytest.mark.parametrize("seed", range(100, 106))
def test_running_totals_equal_scratch_with_changes_between_reads(seed: int) -> None:
    """Several fills and marks between reads: the symbols they touch are settled together."""
    _run(seed, 600, read_chance=0.15)


def test_book_cash_identity() -> None:
    """realised - avg x size == -sum(signed size x price): what the running totals sum."""
    rng = random.Random(7)
    book, cash = Book(), Q0
    for _ in range(2000):
        price = q_of(_decimal(rng, 1, 10**5, 2))
        signed = q_of(_decimal(rng, -(10**6), 10**6, 6))
        book.trade(signed, price)
        cash = sub(cash, mul(signed, price))
        assert sub(book.q_realized, mul(book.q_avg, book.q_size)) == cash


def test_a_mark_that_changes_nothing_keeps_the_converted_totals() -> None:
    clock = TestClock()
    p = Portfolio(clock, starting_cash=Decimal(100))
    fill = _fill(random.Random(1), clock, 1)
    p.apply(fill)
    equity = p.equity()
    p.mark(fill.symbol, fill.price)  # the price it is already valued at
    assert p.equity() is equity
    p.mark(fill.symbol, fill.price + 1)
    assert p.equity() != equity


def test_a_fill_leaves_what_risk_reads_converted() -> None:
    """After ``apply`` the account's and the symbol's position, equity, gross exposure and daily
    PnL are already Decimals (risk's next order reads them without a division), and the totals
    after a mark that moves them; equal to the from-scratch sums, day rolls included."""
    rng = random.Random(5)
    clock = TestClock(3 * NS_PER_DAY)
    p = Portfolio(clock, starting_cash=Decimal(1000))
    for n in range(300):
        fill = _fill(rng, clock, n)
        p.apply(fill)
        assert set(p._totals) == {"daily", "equity", "gross"}
        assert (fill.bot_id, fill.symbol) in p._positions and fill.symbol in p._symbol_positions
        assert not p._running._dirty
        assert_totals_match_scratch(p)
        if n % 7 == 0:
            p.mark(fill.symbol, fill.price + 1, rng.choice(("", fill.venue)))
            assert set(p._totals) == {"daily", "equity", "gross"} and not p._running._dirty
            assert_totals_match_scratch(p)
        if n % 50 == 0:
            clock.advance_ns(NS_PER_DAY)
            assert_totals_match_scratch(p)


def test_settle_refuses_a_position_without_a_mark() -> None:
    running = RunningTotals()
    running.fill("X-Y", "v", (1, 1), Q0, (1, 1), (5, 1), Q0)
    with pytest.raises(RuntimeError):
        running.settle(lambda symbol, venue: None)


def test_dec_of_int_pair_is_the_decimal_division() -> None:
    """``dec`` divides the ints directly: the same Decimal, digits and exponent, as dividing
    their Decimals at 40 digits (exact for finite decimals, rounded once otherwise)."""
    rng = random.Random(11)
    context = Context(prec=40)
    for _ in range(20_000):
        n = rng.randint(-(10 ** rng.randint(1, 60)), 10 ** rng.randint(1, 60))
        d = rng.choice((rng.randint(1, 10**30), 2 ** rng.randint(0, 80) * 5 ** rng.randint(0, 80)))
        q = norm(n, d)
        expected = Decimal(q[0]) if q[1] == 1 else context.divide(Decimal(q[0]), Decimal(q[1]))
        assert str(dec(q)) == str(expected)
