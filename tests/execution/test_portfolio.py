"""Portfolio: exact average-cost positions, PnL, fees and the daily PnL window."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from desk.core.clock import NS_PER_S, TestClock
from desk.core.enums import Side
from desk.core.orders import Fill, Liquidity
from desk.execution.portfolio import NS_PER_DAY, Portfolio

D = Decimal
SYM = "BTC-USDT"
DAY = NS_PER_DAY


def fill(
    side: Side,
    size: str | Decimal,
    price: str | Decimal,
    *,
    trade_id: str,
    bot_id: str = "b1",
    symbol: str = SYM,
    fee: str | Decimal = "0",
    fee_ccy: str = "USDT",
    ts: int = 0,
    client_order_id: str = "o1",
) -> Fill:
    return Fill(
        ts_exchange=ts,
        ts_recv=ts,
        client_order_id=client_order_id,
        venue_order_id="v1",
        trade_id=trade_id,
        symbol=symbol,
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        fee_ccy=fee_ccy,
        liquidity=Liquidity.TAKER,
        bot_id=bot_id,
        venue="okx",
    )


def test_average_price_weighted_on_increase_unchanged_on_reduction() -> None:
    p = Portfolio(TestClock())
    p.apply_fill(fill(Side.BUY, "1", "100", trade_id="1"))
    pos = p.apply_fill(fill(Side.BUY, "3", "200", trade_id="2"))
    assert pos.size == D(4) and pos.avg_price == D(175)
    pos = p.apply_fill(fill(Side.SELL, "1", "215", trade_id="3"))
    assert pos.size == D(3) and pos.avg_price == D(175)
    assert pos.realized_pnl == D(40)
    pos = p.apply_fill(fill(Side.SELL, "3", "165", trade_id="4"))
    assert pos.size == 0 and pos.avg_price == 0
    assert pos.realized_pnl == D(40) - D(30)


def test_crossing_through_zero_realises_closed_part_and_resets_average() -> None:
    p = Portfolio(TestClock())
    p.apply_fill(fill(Side.BUY, "2", "100", trade_id="1"))
    pos = p.apply_fill(fill(Side.SELL, "5", "110", trade_id="2"))
    assert pos.size == D(-3)
    assert pos.avg_price == D(110)
    assert pos.realized_pnl == D(20)
    # Short side: buying back below the average is a profit.
    pos = p.apply_fill(fill(Side.BUY, "1", "100", trade_id="3"))
    assert pos.size == D(-2) and pos.realized_pnl == D(30) and pos.avg_price == D(110)
    pos = p.apply_fill(fill(Side.BUY, "4", "90", trade_id="4"))
    assert pos.size == D(2) and pos.avg_price == D(90) and pos.realized_pnl == D(70)


def test_fees_in_base_are_converted_at_fill_price_and_rebates_reduce_fees() -> None:
    p = Portfolio(TestClock())
    pos = p.apply_fill(fill(Side.BUY, "2", "100.5", trade_id="1", fee="0.002", fee_ccy="BTC"))
    assert pos.fees == D("0.201")
    assert pos.size == D(2)  # the position is the traded size
    pos = p.apply_fill(fill(Side.SELL, "1", "101", trade_id="2", fee="0.15", fee_ccy="USDT"))
    assert pos.fees == D("0.351")
    pos = p.apply_fill(fill(Side.SELL, "1", "101", trade_id="3", fee="-0.05", fee_ccy="USDT"))
    assert pos.fees == D("0.301")
    assert p.fees_in("BTC") == D("0.002")
    assert p.totals().fees == D("0.301")


def test_duplicate_fill_is_applied_once() -> None:
    p = Portfolio(TestClock())
    f = fill(Side.BUY, "1", "100", trade_id="7")
    p.apply_fill(f)
    pos = p.apply_fill(f)
    assert pos.size == D(1)
    assert p.duplicate_fills == 1
    # Same trade id on another order (self-trade, or another symbol) is another fill.
    p.apply_fill(fill(Side.SELL, "1", "100", trade_id="7", bot_id="b2", client_order_id="o2"))
    assert p.position("b2", SYM) == D(-1)


def test_marks_unrealised_exposure_equity_and_totals() -> None:
    p = Portfolio(TestClock(), starting_cash=D(1000))
    p.apply_fill(fill(Side.BUY, "2", "100", trade_id="1", fee="1"))
    p.apply_fill(fill(Side.SELL, "1", "50", trade_id="2", bot_id="b2", symbol="ETH-USDT"))
    p.apply_fill(fill(Side.BUY, "1", "10", trade_id="3", bot_id="b2"))
    p.mark(SYM, D(105))
    p.mark("ETH-USDT", 40.1)  # a float mark counts at its decimal value
    assert p.position("b1", SYM) == D(2)
    assert p.symbol_position(SYM) == D(3)
    assert p.position("nobody", SYM) == 0
    assert p.gross_exposure() == D(3) * D(105) + D("40.1")
    assert p.gross_exposure("b1") == D(210)
    # b1: +10 unrealised - 1 fee; b2: BTC +95, ETH short +9.9
    assert p.equity() == D(1000) + D(10) - D(1) + D(95) + D("9.9")
    b1 = p.totals("b1")
    assert (b1.realized_pnl, b1.fees, b1.unrealized_pnl, b1.net) == (0, 1, 10, 9)
    positions = p.positions("b2")
    assert [(x.symbol, x.size) for x in positions] == [("BTC-USDT", 1), ("ETH-USDT", -1)]
    assert p.accounts() == [("b1", SYM), ("b2", SYM), ("b2", "ETH-USDT")]


def test_daily_pnl_counts_unrealised_change_and_resets_at_utc_midnight() -> None:
    clock = TestClock(10 * DAY + 23 * 3600 * NS_PER_S)
    p = Portfolio(clock)
    p.apply_fill(fill(Side.BUY, "1", "100", trade_id="1", fee="0.5", ts=clock.now_ns()))
    p.mark(SYM, D(110))
    assert p.daily_pnl() == D("9.5")
    clock.set_ns(11 * DAY + 1)  # just past midnight UTC: yesterday's result is the base
    assert p.daily_pnl() == 0
    p.mark(SYM, D(104))
    assert p.daily_pnl() == D(-6)
    assert p.daily_pnl("b1") == D(-6) and p.daily_pnl("other") == 0
    p.apply_fill(fill(Side.SELL, "1", "103", trade_id="2", fee="0.25", ts=clock.now_ns()))
    assert p.daily_pnl() == D("-7.25")
    assert p.totals().realized_pnl == D(3)


def test_restore_rebuilds_state_and_today_starts_after_yesterdays_fills() -> None:
    clock = TestClock(5 * DAY + 100)
    fills = [
        fill(Side.BUY, "2", "100", trade_id="1", fee="0.2", ts=4 * DAY + 5),
        fill(Side.BUY, "2", "120", trade_id="2", ts=4 * DAY + 9),
        fill(Side.SELL, "1", "130", trade_id="3", ts=5 * DAY + 1),
    ]
    p = Portfolio(clock)
    p.restore(fills)
    pos = p.positions()[0]
    assert pos.size == D(3) and pos.avg_price == D(110) and pos.realized_pnl == D(20)
    # base = yesterday's net at the last price before midnight (4 @ 110 avg, marked 120 = +40)
    # now: realised 20, unrealised 3 x (130 - 110) = 60, fees 0.2 -> 79.8 - 39.8
    assert p.daily_pnl() == D(40)
    p.restore(fills)  # replaying again changes nothing
    assert p.position("b1", SYM) == D(3)


Trade = tuple[int, Decimal, Decimal, Decimal]  # +1 buy / -1 sell, price, size, fee


def _reference(trades: list[Trade]) -> dict[str, Fraction]:
    """A plain textbook average-cost computation in Fractions, independent of the portfolio."""
    size = avg = realized = fees = Fraction(0)
    for signed, price_d, qty_d, fee_d in trades:
        price, qty, fee = Fraction(price_d), Fraction(qty_d), Fraction(fee_d)
        q = qty * signed
        fees += fee
        if size == 0 or (size > 0) == (q > 0):
            avg = (avg * abs(size) + price * abs(q)) / (abs(size) + abs(q))
            size += q
            continue
        closing = min(abs(q), abs(size))
        direction = 1 if size > 0 else -1
        realized += (price - avg) * closing * direction
        size += q
        if size == 0:
            avg = Fraction(0)
        elif (size > 0) != (direction > 0):
            avg = price
    return {"size": size, "avg": avg, "realized": realized, "fees": fees}


def _close(decimal: Decimal, exact: Fraction) -> bool:
    return abs(Fraction(decimal) - exact) <= Fraction(1, 10**30) * max(1, abs(exact))


def _run(trades: list[Trade]) -> None:
    p = Portfolio(TestClock())
    for i, (signed, price, qty, fee) in enumerate(trades):
        side = Side.BUY if signed > 0 else Side.SELL
        p.apply_fill(fill(side, qty, price, trade_id=str(i), fee=fee, fee_ccy="USDT"))
    expected = _reference(trades)
    pos = p.positions()[0]
    assert Fraction(pos.size) == expected["size"]  # sizes are always exact
    assert Fraction(pos.fees) == expected["fees"]
    assert _close(pos.avg_price, expected["avg"])
    assert _close(pos.realized_pnl, expected["realized"])


def _decimal(units: int, places: int) -> Decimal:
    return Decimal(units).scaleb(-places)


trade = st.tuples(
    st.sampled_from([1, -1]),
    st.integers(1, 10**7).map(lambda n: _decimal(n, 2)),  # price 0.01 .. 100000.00
    st.integers(1, 10**8).map(lambda n: _decimal(n, 8)),  # size 1e-8 .. 1
    st.integers(-(10**4), 10**5).map(lambda n: _decimal(n, 8)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(trade, min_size=1, max_size=300))
def test_random_fill_sequences_match_an_exact_reference(trades: list) -> None:
    _run(trades)


def test_thousands_of_fills_do_not_drift() -> None:
    rng = random.Random(20240607)
    trades = [
        (
            rng.choice([1, -1]),
            _decimal(rng.randint(2_000_000, 8_000_000), 2),
            _decimal(rng.randint(1, 50_000_000), 8),
            _decimal(rng.randint(0, 50_000), 8),
        )
        for _ in range(5000)
    ]
    _run(trades)


def test_what_risk_reads_follows_every_fill_mark_and_day_roll() -> None:
    """The per-order reads are cached; each fill, mark and midnight must show at once."""
    clock = TestClock()
    p = Portfolio(clock, starting_cash=D(1000))
    assert (p.position("b1", SYM), p.symbol_position(SYM), p.equity()) == (0, 0, 1000)
    assert (p.gross_exposure(), p.daily_pnl()) == (0, 0)
    p.apply_fill(fill(Side.BUY, "2", "100", trade_id="1", fee="1"))
    assert (p.position("b1", SYM), p.symbol_position(SYM), p.equity()) == (2, 2, 999)
    assert (p.gross_exposure(), p.daily_pnl()) == (200, -1)
    p.mark(SYM, D(110))
    assert (p.equity(), p.gross_exposure(), p.daily_pnl()) == (1019, 220, 19)
    p.apply_fill(fill(Side.SELL, "3", "110", trade_id="2", bot_id="b2", client_order_id="o2"))
    assert (p.position("b1", SYM), p.position("b2", SYM), p.symbol_position(SYM)) == (2, -3, -1)
    assert p.gross_exposure() == 550 and p.gross_exposure("b2") == 330
    clock.advance_ns(DAY)
    assert p.daily_pnl() == 0 and p.equity() == 1019
