"""Spot fees in the currency received, from the simulated OKX through desk's venue client into
the portfolio: a buyer's fee in base, a seller's in quote, and PnL and balances still exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from desk.core.clock import TestClock
from desk.core.enums import Side
from desk.core.orders import Fill, OrderType
from desk.execution.portfolio import Portfolio
from desk.execution.venue import FillReport
from desk.execution.venues.okx import OkxExecutionClient
from desk.sim.okx.simulator import OkxSimulator
from tests.execution.venues.test_okx import client_for, order, touch
from tests.sim.okx.client import BTC, config
from tests.waiting import wait_until


@pytest.fixture
async def sim() -> AsyncIterator[OkxSimulator]:
    async with OkxSimulator(config(update_interval=3600)) as simulator:
        simulator.pause()
        yield simulator


@pytest.fixture
async def venue(sim: OkxSimulator) -> AsyncIterator[tuple[OkxExecutionClient, list[FillReport]]]:
    client = client_for(sim)
    fills: list[FillReport] = []
    client.set_report_handler(lambda r: fills.append(r) if isinstance(r, FillReport) else None)
    await client.connect()
    yield client, fills
    await client.close()


def to_fill(report: FillReport, side: Side) -> Fill:
    return Fill(
        ts_exchange=report.ts,
        ts_recv=report.ts,
        client_order_id=report.client_order_id,
        venue_order_id=report.venue_order_id,
        trade_id=report.trade_id,
        symbol=BTC,
        side=side,
        price=report.price,
        size=report.size,
        fee=report.fee,
        fee_ccy=report.fee_ccy,
        liquidity=report.liquidity,
        bot_id="b1",
        venue="okx",
    )


async def test_round_trip_fees_in_the_right_currency_keep_pnl_and_balances_exact(
    sim: OkxSimulator, venue: tuple[OkxExecutionClient, list[FillReport]]
) -> None:
    client, fills = venue
    before = await client.balances()
    ask, _ = touch(sim, Side.SELL)
    await client.submit(order("rt1", Side.BUY, "0.01", ask, OrderType.LIMIT))
    await wait_until(lambda: sum(f.size for f in fills) == Decimal("0.01"), what="buy fill")
    buys = list(fills)
    bid, _ = touch(sim, Side.BUY)
    await client.submit(order("rt2", Side.SELL, "0.005", bid, OrderType.LIMIT))
    await wait_until(lambda: sum(f.size for f in fills) == Decimal("0.015"), what="sell fill")
    sells = fills[len(buys) :]
    assert {f.fee_ccy for f in buys} == {"BTC"} and {f.fee_ccy for f in sells} == {"USDT"}

    portfolio = Portfolio(TestClock(0))
    for f in buys:
        portfolio.apply_fill(to_fill(f, Side.BUY))
    for f in sells:
        position = portfolio.apply_fill(to_fill(f, Side.SELL))
    buy_cost = sum(f.price * f.size for f in buys)
    sell_value = sum(f.price * f.size for f in sells)
    avg = buy_cost / Decimal("0.01")
    fees_quote = sum(f.fee * f.price for f in buys) + sum(f.fee for f in sells)
    assert position.size == Decimal("0.005")
    assert position.fees == fees_quote, "a base fee counts at its fill price, exactly"
    assert position.realized_pnl == sell_value - avg * Decimal("0.005")
    base_fees = sum(f.fee for f in buys)
    assert portfolio.fees_in("BTC") == base_fees
    after = await client.balances()
    assert after["BTC"] - before["BTC"] == position.size - portfolio.fees_in("BTC")
    assert after["USDT"] - before["USDT"] == sell_value - buy_cost - portfolio.fees_in("USDT")
