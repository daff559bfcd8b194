"""``OkxExecutionClient`` against the simulator: real WebSockets and HTTP, no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from desk.core.enums import Side
from desk.core.orders import Liquidity, OrderRequest, OrderStatus, OrderType
from desk.execution.credentials import Credentials
from desk.execution.venue import (
    CancelRejected,
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueError,
    VenueReport,
)
from desk.execution.venues.okx import OkxExecutionClient, OkxExecutionConfig
from desk.execution.venues.okx_wire import decimal_str
from desk.net.config import ReconnectConfig
from desk.sim.accounts import SIM_CREDENTIALS
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import BTC, config
from tests.waiting import wait_until

SIM_KEYS = Credentials(
    api_key=SIM_CREDENTIALS.api_key,
    secret=SIM_CREDENTIALS.secret,
    passphrase=SIM_CREDENTIALS.passphrase,
)
FAST_RECONNECT = ReconnectConfig(initial_delay=0.05, max_delay=0.2)


def client_for(
    sim: OkxSimulator, creds: Credentials = SIM_KEYS, **kw: object
) -> OkxExecutionClient:
    cfg = OkxExecutionConfig(
        ws_private_url=sim.ws_private_url,
        rest_url=sim.rest_url,
        demo=True,
        reconnect=FAST_RECONNECT,
        **kw,  # type: ignore[arg-type]
    )
    return OkxExecutionClient(cfg, creds)


@pytest.fixture
async def paused() -> AsyncIterator[OkxSimulator]:
    async with OkxSimulator(config(update_interval=3600)) as simulator:
        simulator.pause()
        yield simulator


@pytest.fixture
async def client(paused: OkxSimulator) -> AsyncIterator[OkxExecutionClient]:
    venue = client_for(paused)
    venue.reports = []  # type: ignore[attr-defined]
    venue.set_report_handler(venue.reports.append)  # type: ignore[attr-defined]
    await venue.connect()
    yield venue
    await venue.close()


def reports(client: OkxExecutionClient) -> list[VenueReport]:
    return client.reports  # type: ignore[attr-defined,no-any-return]


def of(client: OkxExecutionClient, cl: str) -> list[VenueReport]:
    return [r for r in reports(client) if r.client_order_id == cl]


def touch(sim: OkxSimulator, side: Side) -> tuple[Decimal, int]:
    engine, spec = sim.market.engine(BTC), sim.market.spec(BTC)
    ticks = engine.best_bid() if side is Side.BUY else engine.best_ask()
    assert ticks is not None
    return Decimal(spec.price_str(ticks)), engine.level(side, ticks)[0]


def order(cl: str, side: Side, size: str, price: Decimal | None, kind: OrderType) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=side,
        order_type=kind,
        size=Decimal(size),
        price=price,
        client_order_id=cl,
    )


async def test_accepted_partial_filled(paused: OkxSimulator, client: OkxExecutionClient) -> None:
    px, ahead = touch(paused, Side.SELL)
    spec = paused.market.spec(BTC)
    await client.submit(order("life1", Side.SELL, "0.2", px, OrderType.LIMIT))
    await wait_until(lambda: bool(of(client, "life1")), what="acceptance")
    paused.synthetic_take(BTC, "buy", spec.size_str(ahead + spec.lot.units("0.05")))
    await wait_until(lambda: len(of(client, "life1")) == 2, what="partial fill")
    paused.synthetic_take(BTC, "buy", "0.15")
    await wait_until(lambda: len(of(client, "life1")) == 3, what="second fill")
    accepted, first, second = of(client, "life1")
    assert isinstance(accepted, OrderAccepted) and accepted.venue_order_id
    assert isinstance(first, FillReport) and isinstance(second, FillReport)
    assert (first.size, second.size) == (Decimal("0.05"), Decimal("0.15"))
    assert first.price == px and first.liquidity is Liquidity.MAKER
    assert first.fee == px * Decimal("0.05") * Decimal("0.0008") and first.fee > 0
    assert first.fee_ccy == "USDT" and first.trade_id != second.trade_id
    assert first.venue_order_id == accepted.venue_order_id
    assert await client.open_orders() == []


async def test_accepted_then_canceled(paused: OkxSimulator, client: OkxExecutionClient) -> None:
    px, _ = touch(paused, Side.BUY)
    await client.submit(order("cx1", Side.BUY, "0.01", px - 10, OrderType.LIMIT))
    await wait_until(lambda: bool(of(client, "cx1")), what="acceptance")
    [open_order] = await client.open_orders()
    assert open_order.client_order_id == "cx1" and open_order.price == px - 10
    assert open_order.status is OrderStatus.LIVE and open_order.filled == 0
    await client.cancel("cx1", BTC)
    await wait_until(lambda: len(of(client, "cx1")) == 2, what="cancel")
    accepted, canceled = of(client, "cx1")
    assert isinstance(accepted, OrderAccepted) and isinstance(canceled, OrderCanceled)
    assert canceled.venue_order_id == accepted.venue_order_id and not canceled.expired
    await client.cancel("cx1", BTC)
    await wait_until(lambda: len(of(client, "cx1")) == 3, what="cancel refusal")
    assert isinstance(of(client, "cx1")[2], CancelRejected)
    assert "51400" in of(client, "cx1")[2].reason


async def test_rejected(paused: OkxSimulator, client: OkxExecutionClient) -> None:
    px, _ = touch(paused, Side.BUY)
    await client.submit(order("rich1", Side.BUY, "1000", px, OrderType.LIMIT))
    [rejected] = of(client, "rich1")
    assert isinstance(rejected, OrderRejected) and "51008" in rejected.reason
    await client.submit(order("bad-id!", Side.BUY, "0.01", px, OrderType.LIMIT))
    assert isinstance(of(client, "bad-id!")[0], OrderRejected)


async def test_taker_market_and_ioc(paused: OkxSimulator, client: OkxExecutionClient) -> None:
    before = await client.balances()
    await client.submit(order("mkt1", Side.BUY, "0.01", None, OrderType.MARKET))
    await wait_until(lambda: len(of(client, "mkt1")) >= 2, what="market fill")
    fills = [r for r in of(client, "mkt1") if isinstance(r, FillReport)]
    assert sum(f.size for f in fills) == Decimal("0.01")
    assert all(f.liquidity is Liquidity.TAKER for f in fills)
    after = await client.balances()
    assert all(f.fee_ccy == "BTC" for f in fills)  # OKX spot: a buyer pays in the base
    assert after["BTC"] == before["BTC"] + Decimal("0.01") - sum(f.fee for f in fills)
    cost = sum(f.price * f.size for f in fills)
    assert after["USDT"] == before["USDT"] - cost
    px, lots = touch(paused, Side.SELL)
    size = decimal_str(Decimal(paused.market.spec(BTC).size_str(lots)) + Decimal("0.01"))
    await client.submit(order("ioc1", Side.BUY, size, px, OrderType.IOC))
    await wait_until(
        lambda: any(isinstance(r, OrderCanceled) for r in of(client, "ioc1")), what="ioc rest"
    )


async def test_duplicate_reports_are_absorbed(
    paused: OkxSimulator, client: OkxExecutionClient
) -> None:
    px, _ = touch(paused, Side.SELL)
    await client.submit(order("dd1", Side.BUY, "0.01", px, OrderType.LIMIT))
    await wait_until(lambda: len(of(client, "dd1")) >= 2, what="fill")
    conn = client.connection
    assert conn is not None
    trading = paused.trading
    done = trading.find(paused.account(), BTC, "", "dd1")
    assert done is not None
    paused.private.on_update(done, done.last_fill)  # a duplicate push of the last fill
    paused.private.on_update(done, None)
    await client.submit(order("dd2", Side.BUY, "0.01", px - 100, OrderType.LIMIT))
    await wait_until(lambda: bool(of(client, "dd2")), what="next order")
    kinds = [type(r).__name__ for r in of(client, "dd1")]
    assert kinds.count("OrderAccepted") == 1
    assert kinds.count("FillReport") == len(
        {r.trade_id for r in of(client, "dd1") if isinstance(r, FillReport)}
    )


async def test_reconnects_after_private_drop(
    paused: OkxSimulator, client: OkxExecutionClient
) -> None:
    assert client.logins == 1
    paused.faults.drop_private()
    await wait_until(lambda: client.logins == 2 and client.connected, what="re-login")
    px, _ = touch(paused, Side.BUY)
    await client.submit(order("after1", Side.BUY, "0.01", px - 5, OrderType.LIMIT))
    await wait_until(lambda: bool(of(client, "after1")), what="order after reconnect")
    assert isinstance(of(client, "after1")[0], OrderAccepted)
    await client.cancel("after1", BTC)
    await wait_until(lambda: len(of(client, "after1")) == 2, what="cancel after reconnect")


async def test_bad_credentials_refused(paused: OkxSimulator) -> None:
    wrong = Credentials(api_key=SIM_KEYS.api_key, secret="nope", passphrase=SIM_KEYS.passphrase)
    venue = client_for(paused, wrong)
    with pytest.raises(VenueError, match="60007"):
        await venue.connect()
    assert not venue.connected


async def test_venue_failures_raise_venue_error(
    paused: OkxSimulator, client: OkxExecutionClient
) -> None:
    px, _ = touch(paused, Side.BUY)
    paused.faults.fail_orders(1, "error")
    with pytest.raises(VenueError, match="50001"):
        await client.submit(order("e1", Side.BUY, "0.01", px - 5, OrderType.LIMIT))
    paused.faults.fail_orders(1, "timeout")
    fast = client_for(paused, request_timeout_s=0.3)
    await fast.connect()
    try:
        with pytest.raises(VenueError, match="no answer"):
            await fast.submit(order("t1", Side.BUY, "0.01", px - 5, OrderType.LIMIT))
    finally:
        await fast.close()
    await client.close()
    with pytest.raises(VenueError, match="not connected"):
        await client.submit(order("c1", Side.BUY, "0.01", px - 5, OrderType.LIMIT))


async def test_signed_rest_refused_with_wrong_secret(paused: OkxSimulator) -> None:
    venue = client_for(paused)
    await venue.connect()
    try:
        venue._credentials = Credentials(  # a key rotated under a running client
            api_key=SIM_KEYS.api_key, secret="rotated", passphrase=SIM_KEYS.passphrase
        )
        with pytest.raises(VenueError, match="50113"):
            await venue.balances()
    finally:
        await venue.close()


def test_decimal_formatting_never_uses_floats() -> None:
    assert decimal_str(Decimal("1E+2")) == "100"
    assert decimal_str(Decimal("0.00000001")) == "0.00000001"
    with pytest.raises(ValueError):
        decimal_str(Decimal("NaN"))
