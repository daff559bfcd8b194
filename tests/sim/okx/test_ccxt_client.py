"""A real third-party client against the simulator: ccxt's async OKX class (ccxt.pro for the
WebSockets), its URLs pointed at the simulator, keys from ``SIM_CREDENTIALS``.

It goes through what a user's own ccxt bot does first: load markets with keys (which calls the
signed ``asset/currencies``), book, trades, candles, balance, create / fetch / cancel an order,
closed and canceled orders, own trades (``trade/fills``), ``watch_order_book`` and
``watch_orders``. Every await is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from desk.sim.accounts import SIM_CREDENTIALS
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import config
from tests.waiting import wait_until

ccxtpro = pytest.importorskip("ccxt.pro")

SYMBOL = "BTC/USDT"
STEP = 10.0  # seconds any single call may take


@pytest.fixture
async def exchange(sim: OkxSimulator) -> AsyncIterator[Any]:
    ex = ccxtpro.okx(
        {
            "apiKey": SIM_CREDENTIALS.api_key,
            "secret": SIM_CREDENTIALS.secret,
            "password": SIM_CREDENTIALS.passphrase,
            "options": {"defaultType": "spot"},
            "timeout": int(STEP * 1000),
        }
    )
    ex.urls["api"] = {"rest": sim.rest_url, "ws": f"ws://127.0.0.1:{sim.port}/ws/v5"}
    try:
        yield ex
    finally:
        await asyncio.wait_for(ex.close(), STEP)


async def bounded(call: Any) -> Any:
    return await asyncio.wait_for(call, STEP)


@pytest.fixture
async def sim() -> AsyncIterator[OkxSimulator]:
    async with OkxSimulator(config(seed=11)) as simulator:
        yield simulator


async def test_ccxt_okx_against_the_simulator(sim: OkxSimulator, exchange: Any) -> None:
    markets = await bounded(exchange.load_markets())
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(markets)
    assert "BTC" in exchange.currencies, "asset/currencies answered the keyed load_markets"
    book = await bounded(exchange.fetch_order_book(SYMBOL, 20))
    assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
    await wait_until(lambda: bool(sim.published_trades("BTC-USDT")), what="market trades")
    ohlcv = await bounded(exchange.fetch_ohlcv(SYMBOL, "1m", limit=50))
    assert len(ohlcv) == 50 and ohlcv[0][0] < ohlcv[-1][0], "history from before start"
    assert all(low <= high for _, _, high, low, _, _ in ohlcv)
    trades = await bounded(exchange.fetch_trades(SYMBOL, limit=20))
    assert trades and all(t["symbol"] == SYMBOL and t["price"] > 0 for t in trades)
    balance = await bounded(exchange.fetch_balance())
    usdt = balance["USDT"]["free"]
    assert usdt == 100_000

    # an order resting well below the market: create, fetch, cancel
    bid = book["bids"][0][0]
    price = float(exchange.price_to_precision(SYMBOL, bid * 0.9))
    created = await bounded(exchange.create_order(SYMBOL, "limit", "buy", 0.01, price))
    fetched = await bounded(exchange.fetch_order(created["id"], SYMBOL))
    assert fetched["status"] == "open" and fetched["price"] == price
    await bounded(exchange.cancel_order(created["id"], SYMBOL))
    # an order that takes the ask: filled
    ask = (await bounded(exchange.fetch_order_book(SYMBOL, 5)))["asks"][0][0]
    taker = await bounded(exchange.create_order(SYMBOL, "limit", "buy", 0.01, ask * 1.01))
    filled = await bounded(exchange.fetch_order(taker["id"], SYMBOL))
    assert filled["status"] == "closed" and filled["filled"] == 0.01
    assert filled["fee"]["currency"] == "BTC", "a spot buyer pays its fee in the base"
    mine = await bounded(exchange.fetch_my_trades(SYMBOL))
    assert {t["order"] for t in mine} == {taker["id"]} and sum(t["amount"] for t in mine) == 0.01

    closed = await bounded(exchange.fetch_closed_orders(SYMBOL))
    canceled = await bounded(exchange.fetch_canceled_orders(SYMBOL))
    assert [o["id"] for o in closed] == [taker["id"]]
    assert [o["id"] for o in canceled] == [created["id"]]

    # websockets: the book, then our own orders
    ws_book = await bounded(exchange.watch_order_book(SYMBOL))
    assert ws_book["bids"] and ws_book["asks"] and ws_book["bids"][0][0] < ws_book["asks"][0][0]
    watching = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
    await wait_until(  # logged in and subscribed before the order goes in
        lambda: any(s.orders_args for s in sim.private.sessions.values()), what="subscription"
    )
    resting = await bounded(exchange.create_order(SYMBOL, "limit", "buy", 0.01, price))
    seen = await bounded(watching)
    assert resting["id"] in {o["id"] for o in seen}
    await bounded(exchange.cancel_order(resting["id"], SYMBOL))
