"""The Coinbase REST client against the simulator (real HTTP), and product rules -> desk's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from desk.feeds.coinbase.rest import CoinbaseApiError, CoinbaseRestClient, _Product, product_rules
from desk.sim.coinbase.products import DEFAULT_PRODUCTS
from desk.sim.coinbase.simulator import CoinbaseSimulator
from desk.sim.config import SimulatorConfig

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> AsyncIterator[CoinbaseSimulator]:
    config = SimulatorConfig(port=0, seed=4, update_interval=3600)
    async with CoinbaseSimulator(config, trades_interval=3600) as simulator:
        simulator.pause()
        yield simulator


@pytest.fixture
async def client(sim: CoinbaseSimulator) -> AsyncIterator[CoinbaseRestClient]:
    rest = CoinbaseRestClient(sim.rest_url)
    yield rest
    await rest.close()


async def test_products_become_desk_instruments_with_their_rules(client) -> None:
    rules = {r.instrument.symbol: r for r in await client.get_products()}
    assert set(rules) == {p.product_id for p in DEFAULT_PRODUCTS}
    btc = rules["BTC-USD"]
    inst = btc.instrument
    assert (inst.venue, inst.base, inst.quote, inst.state) == ("coinbase", "BTC", "USD", "live")
    assert (inst.tick_size, inst.lot_size, inst.min_size) == ("0.01", "0.00000001", "0.00000001")
    assert btc.min_notional == "1" and btc.product_id == "BTC-USD"
    assert inst.format_price(60000.004) == "60000.00"
    assert rules["BTC-USDT"].instrument.quote == "USDT"  # not the same instrument as BTC-USD


async def test_one_product_and_an_unknown_one(client) -> None:
    assert (await client.get_product("ETH-USD")).instrument.symbol == "ETH-USD"
    assert [r.product_id for r in await client.get_products(["SOL-USDT"])] == ["SOL-USDT"]
    with pytest.raises(CoinbaseApiError) as err:
        await client.get_product("NOPE-USD")
    assert err.value.status == 404 and "invalid" in err.value.message


async def test_book_snapshot_and_time(sim, client) -> None:
    sim.step_market(20)
    sim.publish()
    book = await client.get_book("BTC-USD", limit=10)
    bids, asks = sim.published_book("BTC-USD")
    assert book.bids == bids[:10] and book.asks == asks[:10]
    assert book.ts_ns > 0
    assert abs(await client.get_time() - sim.now_ns() // 1_000_000) < 60_000


@pytest.mark.parametrize(
    ("flags", "state"),
    [
        ({}, "live"),
        ({"trading_disabled": True}, "suspend"),
        ({"is_disabled": True}, "suspend"),
        ({"status": "delisted"}, "suspend"),
        ({"cancel_only": True}, "cancel_only"),
        ({"post_only": True}, "post_only"),
        ({"limit_only": True}, "limit_only"),
    ],
)
def test_product_flags_map_to_instrument_states(flags: dict, state: str) -> None:
    row = {"product_id": "BTC-USD", "price_increment": "0.01", "base_increment": "0.00000001"}
    product = msgspec.convert({**row, **flags}, _Product)
    rules = product_rules(product)
    assert rules.instrument.state == state
    assert rules.instrument.min_size == "0.00000001"  # no base_min_size: one step
