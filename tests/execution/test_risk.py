"""Pre-trade risk: one denial per rule with its reason, grid handling, and the risk states."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, TestClock
from desk.core.enums import Side
from desk.core.events import SystemEvent
from desk.core.orders import MANUAL_ACCOUNT, OrderRequest, OrderType
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.risk import RiskEngine
from desk.execution.risk_rules import RiskConfig, RiskState
from desk.market.instruments import Instrument

D = Decimal
SYMBOL = "BTC-USDT"


def instrument(symbol: str = SYMBOL, state: str = "live") -> Instrument:
    base, quote = symbol.split("-")
    return Instrument(
        venue="okx",
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size="0.1",
        lot_size="0.0001",
        min_size="0.001",
        state=state,
    )


class FakePortfolio:
    """A PortfolioView whose figures the test sets directly."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], Decimal] = {}
        self.gross = D(0)
        self.equity_ = D(100_000)
        self.pnl = D(0)

    def position(self, bot_id: str, symbol: str) -> Decimal:
        return self.positions.get((bot_id, symbol), D(0))

    def symbol_position(self, symbol: str) -> Decimal:
        return sum((v for (_, s), v in self.positions.items() if s == symbol), D(0))

    def gross_exposure(self) -> Decimal:
        return self.gross

    def equity(self) -> Decimal:
        return self.equity_

    def daily_pnl(self) -> Decimal:
        return self.pnl


class FakeOpenOrders:
    def __init__(self, sizes: dict[tuple[str, str, Side], Decimal]) -> None:
        self.sizes = sizes

    def open_size(self, bot_id: str, symbol: str, side: Side) -> Decimal:
        return self.sizes.get((bot_id, symbol, side), D(0))

    def symbol_open_size(self, symbol: str, side: Side) -> Decimal:
        return sum((v for (_, s, sd), v in self.sizes.items() if (s, sd) == (symbol, side)), D(0))


class Desk:
    """A RiskEngine wired to fakes, with the events it publishes."""

    def __init__(self, config: RiskConfig | None = None, **kwargs: object) -> None:
        self.clock = TestClock(1_700_000_000 * NS_PER_S)
        self.portfolio = FakePortfolio()
        self.mids: dict[str, Decimal | None] = {SYMBOL: D(50_000), "ETH-USDT": D(2_500)}
        self.bus = Bus()
        self.events: list[SystemEvent] = []
        self.bus.subscribe(SYSTEM_EVENTS, self.events.append)
        instruments = {
            SYMBOL: instrument(),
            "ETH-USDT": instrument("ETH-USDT"),
            "LUNA-USDT": instrument("LUNA-USDT", state="suspend"),
        }
        self.risk = RiskEngine(
            instruments=instruments,
            mid=self.mids.get,
            portfolio=self.portfolio,
            clock=self.clock,
            config=config,
            bus=self.bus,
            **kwargs,  # type: ignore[arg-type]
        )


def req(
    side: Side = Side.BUY,
    size: str = "0.01",
    price: str | None = "50000",
    *,
    bot: str = "bot1",
    order_type: OrderType = OrderType.LIMIT,
    symbol: str = SYMBOL,
    reduce_only: bool = False,
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=order_type if price is not None else OrderType.MARKET,
        size=D(size),
        price=None if price is None else D(price),
        bot_id=bot,
        reduce_only=reduce_only,
    )


@pytest.fixture
def desk() -> Desk:
    return Desk()


def denied(desk: Desk, request: OrderRequest) -> str:
    result = desk.risk.check(request)
    assert isinstance(result, str), f"expected a denial, got {result}"
    return result


# -- a clean order ---------------------------------------------------------------------------------


def test_an_order_within_every_limit_passes_unchanged(desk: Desk) -> None:
    request = req()
    assert desk.risk.check(request) is request
    assert desk.risk.check(req(price=None)) == req(price=None)  # market order, valued at mid
    assert desk.risk.denials == []


# -- one denial per rule ---------------------------------------------------------------------------


def test_unknown_instrument(desk: Desk) -> None:
    assert denied(desk, req(symbol="DOGE-XYZ")) == "unknown instrument: DOGE-XYZ"


def test_instrument_not_live(desk: Desk) -> None:
    assert denied(desk, req(symbol="LUNA-USDT")) == "instrument not live: LUNA-USDT is suspend"


def test_invalid_size_and_price(desk: Desk) -> None:
    assert denied(desk, req(size="0")) == "invalid size: 0 (must be > 0)"
    limit_without_price = OrderRequest(
        symbol=SYMBOL, side=Side.BUY, order_type=OrderType.LIMIT, size=D("0.01"), bot_id="b"
    )
    assert denied(desk, limit_without_price) == (
        "invalid price: none (a limit order needs a price > 0)"
    )


def test_min_size(desk: Desk) -> None:
    assert denied(desk, req(size="0.0009")) == "min size: 0.0009 < 0.001"


def test_bot_order_is_rounded_onto_the_grid_passively(desk: Desk) -> None:
    buy = desk.risk.check(req(Side.BUY, size="0.12345", price="50000.07"))
    assert isinstance(buy, OrderRequest)
    assert (buy.price, buy.size) == (D("50000.0"), D("0.1234"))  # bid down, size down
    sell = desk.risk.check(req(Side.SELL, size="0.01", price="50000.01"))
    assert isinstance(sell, OrderRequest)
    assert sell.price == D("50000.1")  # ask up


def test_bot_order_rounded_below_min_size_is_denied(desk: Desk) -> None:
    passed = desk.risk.check(req(size="0.00109"))
    assert isinstance(passed, OrderRequest) and passed.size == D("0.001")  # rounded to 0.0010
    assert denied(desk, req(size="0.00099")) == "min size: 0.0009 < 0.001"  # rounded to 0.0009


def test_manual_off_tick_price_is_denied_not_changed(desk: Desk) -> None:
    reason = denied(desk, req(price="50000.05", bot=MANUAL_ACCOUNT))
    assert reason == (
        "price off tick: 50000.05 is not a multiple of 0.1 (nearest valid: 50000 or 50000.1)"
    )


def test_manual_off_lot_size_is_denied_not_changed(desk: Desk) -> None:
    reason = denied(desk, req(size="0.01234", bot=MANUAL_ACCOUNT))
    assert reason == (
        "size off lot: 0.01234 is not a multiple of 0.0001 (nearest valid: 0.0123 or 0.0124)"
    )


def test_manual_on_grid_order_passes_as_is(desk: Desk) -> None:
    request = req(size="0.0123", price="50000.1", bot=MANUAL_ACCOUNT)
    assert desk.risk.check(request) is request


def test_price_band(desk: Desk) -> None:
    assert denied(desk, req(price="53000")) == ("price band: 53000 is 6.00% from mid 50000 > 5.00%")
    assert isinstance(desk.risk.check(req(price="52500")), OrderRequest)  # exactly 5%


def test_no_mid_is_a_denial(desk: Desk) -> None:
    desk.mids[SYMBOL] = None
    assert denied(desk, req(price=None)) == "price band: no mid price for BTC-USDT"


def test_max_order_notional(desk: Desk) -> None:
    assert denied(desk, req(size="0.25")) == "max order notional: 12,500.00 > 10,000.00"
    # a market order is valued at the mid
    assert denied(desk, req(size="0.25", price=None)) == (
        "max order notional: 12,500.00 > 10,000.00"
    )


def test_max_position_per_bot(desk: Desk) -> None:
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.4")
    assert denied(desk, req(size="0.15")) == (
        "max position per bot: 27,500.00 > 25,000.00 (bot1 would hold 0.55 BTC-USDT)"
    )


def test_max_position_per_bot_counts_open_orders_on_the_same_side() -> None:
    desk = Desk(open_orders=FakeOpenOrders({("bot1", SYMBOL, Side.BUY): D("0.2")}))
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.3")
    assert denied(desk, req(size="0.04")) == (
        "max position per bot: 27,000.00 > 25,000.00 (bot1 would hold 0.54 BTC-USDT)"
    )
    # open sells do not add to a buy
    desk = Desk(open_orders=FakeOpenOrders({("bot1", SYMBOL, Side.SELL): D("0.2")}))
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.3")
    assert isinstance(desk.risk.check(req(size="0.04")), OrderRequest)


def test_max_position_per_symbol(desk: Desk) -> None:
    desk.portfolio.positions[("bot2", SYMBOL)] = D("0.45")
    desk.portfolio.positions[(MANUAL_ACCOUNT, SYMBOL)] = D("0.45")
    assert denied(desk, req(size="0.15")) == (
        "max position per symbol: 52,500.00 > 50,000.00 (desk would hold 1.05 BTC-USDT)"
    )


def test_gross_exposure(desk: Desk) -> None:
    desk.portfolio.equity_ = D(10_000)
    desk.portfolio.gross = D(8_000)
    assert denied(desk, req(size="0.05")) == (
        "gross exposure: 10,500.00 > 10,000.00 (100% of equity 10,000.00)"
    )


def test_daily_loss_blocks_new_risk_but_not_the_way_out(desk: Desk) -> None:
    desk.portfolio.pnl = D(-1_000)
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.1")
    assert denied(desk, req(Side.BUY)) == "daily loss: -1,000.00 <= -1,000.00"
    assert isinstance(desk.risk.check(req(Side.SELL, size="0.1")), OrderRequest)


def test_order_rate_per_account_in_a_sliding_window(desk: Desk) -> None:
    for _ in range(5):
        assert isinstance(desk.risk.check(req()), OrderRequest)
    assert denied(desk, req()) == "order rate: bot1 sent 5 orders in the last 1s (max 5)"
    assert isinstance(desk.risk.check(req(bot="bot2")), OrderRequest)  # another account
    desk.clock.advance_ns(NS_PER_S - 1)
    assert denied(desk, req()).startswith("order rate: bot1")
    desk.clock.advance_ns(1)  # the first five are now a full second old
    assert isinstance(desk.risk.check(req()), OrderRequest)


def test_order_rate_overall() -> None:
    desk = Desk(RiskConfig(max_orders_per_s=3))
    for bot in ("a", "b", "c"):
        assert isinstance(desk.risk.check(req(bot=bot)), OrderRequest)
    assert denied(desk, req(bot="d")) == "order rate: desk sent 3 orders in the last 1s (max 3)"


def test_denied_orders_do_not_use_up_the_rate(desk: Desk) -> None:
    for _ in range(10):
        denied(desk, req(size="0.25"))
    assert isinstance(desk.risk.check(req()), OrderRequest)


# -- denials are recorded and published ------------------------------------------------------------


def test_denials_are_kept_and_published(desk: Desk) -> None:
    request = req(size="0.25")
    denied(desk, request)
    (denial,) = desk.risk.denials
    assert denial.request == request
    assert denial.reason == "max order notional: 12,500.00 > 10,000.00"
    assert denial.ts_ns == desk.clock.now_ns()
    (event,) = desk.events
    assert (event.source, event.kind, event.symbol) == ("risk", "risk_denied", SYMBOL)
    assert event.message == (
        "denied bot1 buy 0.25 BTC-USDT @ 50000: max order notional: 12,500.00 > 10,000.00"
    )


def test_denials_are_bounded() -> None:
    desk = Desk(RiskConfig(max_denials_kept=3))
    for size in ("0.21", "0.22", "0.23", "0.24"):
        denied(desk, req(size=size))
    assert [d.request.size for d in desk.risk.denials] == [D("0.22"), D("0.23"), D("0.24")]


# -- halt ------------------------------------------------------------------------------------------


def test_halted_denies_everything_until_resume(desk: Desk) -> None:
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.1")
    desk.risk.halt("operator pressed halt")
    assert desk.risk.state is RiskState.HALTED
    assert denied(desk, req()) == "halted: operator pressed halt"
    assert denied(desk, req(Side.SELL, size="0.1", reduce_only=True)) == (
        "halted: operator pressed halt"
    )
    assert desk.risk.evaluate() == []
    desk.risk.resume()
    assert desk.risk.state is RiskState.ACTIVE
    assert isinstance(desk.risk.check(req()), OrderRequest)
    kinds = [(e.kind, e.message) for e in desk.events if e.kind == "risk_state"]
    assert kinds == [
        ("risk_state", "active -> halted: operator pressed halt (by operator)"),
        ("risk_state", "halted -> active: resumed (by operator)"),
    ]


# -- the monitor: REDUCING -------------------------------------------------------------------------


def exposed_desk(**config: object) -> Desk:
    """Equity 10,000; bot1 long 0.15 BTC, bot2 short 2 ETH: gross 12,500 > 10,000."""
    desk = Desk(RiskConfig(**config), accounts=lambda: [("bot1", SYMBOL), ("bot2", "ETH-USDT")])  # type: ignore[arg-type]
    desk.portfolio.equity_ = D(10_000)
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.15")
    desk.portfolio.positions[("bot2", "ETH-USDT")] = D(-2)
    desk.portfolio.gross = D(12_500)
    return desk


def test_exposure_breach_reduces_with_trimming_orders() -> None:
    desk = exposed_desk()
    orders = desk.risk.evaluate()
    assert desk.risk.state is RiskState.REDUCING
    assert orders == [
        OrderRequest(
            symbol=SYMBOL,
            side=Side.SELL,
            order_type=OrderType.MARKET,
            size=D("0.03"),  # 20% of 0.15
            bot_id="bot1",
            reduce_only=True,
        ),
        OrderRequest(
            symbol="ETH-USDT",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            size=D("0.4"),  # 20% of 2
            bot_id="bot2",
            reduce_only=True,
        ),
    ]
    # the trims pass the pre-trade checks
    assert all(isinstance(desk.risk.check(o), OrderRequest) for o in orders)
    state_events = [e for e in desk.events if e.kind == "risk_state"]
    assert state_events[0].message == (
        "active -> reducing: gross exposure: 12,500.00 > 10,000.00 (by risk monitor)"
    )


def test_reducing_lets_only_reducing_orders_through() -> None:
    desk = exposed_desk()
    desk.risk.evaluate()
    assert denied(desk, req(Side.BUY, size="0.01")).startswith(
        "reducing: only orders that reduce a position pass (bot1 holds 0.15 BTC-USDT; "
        "buy 0.01 does not reduce it)"
    )
    assert denied(desk, req(Side.BUY, size="0.01", bot="bot9")).startswith("reducing:")
    assert denied(desk, req(Side.SELL, size="0.2")).startswith("reducing:")  # would flip short
    assert denied(desk, req(Side.BUY, size="0.01", reduce_only=True)).startswith("reducing:")
    assert isinstance(desk.risk.check(req(Side.SELL, size="0.15")), OrderRequest)
    assert isinstance(desk.risk.check(req(Side.SELL, size="0.2", reduce_only=True)), OrderRequest)


def test_trimming_waits_for_the_interval_and_ends_with_hysteresis() -> None:
    desk = exposed_desk(trim_interval_s=5.0)
    assert len(desk.risk.evaluate()) == 2
    desk.clock.advance_ns(4 * NS_PER_S)
    assert desk.risk.evaluate() == []  # too soon for the next step
    desk.clock.advance_ns(1 * NS_PER_S)
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.12")
    desk.portfolio.gross = D(9_000)  # below the limit, not yet below 80% of it
    orders = desk.risk.evaluate()
    assert desk.risk.state is RiskState.REDUCING
    assert [o.size for o in orders] == [D("0.024"), D("0.4")]
    desk.clock.advance_ns(5 * NS_PER_S)
    desk.portfolio.gross = D(7_999)
    assert desk.risk.evaluate() == []
    assert desk.risk.state is RiskState.ACTIVE
    assert isinstance(desk.risk.check(req(Side.BUY, size="0.01")), OrderRequest)


def test_trim_sizes_respect_lot_min_size_and_leave_no_dust() -> None:
    desk = exposed_desk()
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.0019")  # 20% = 0.00038 < min 0.001
    desk.portfolio.positions[("bot2", "ETH-USDT")] = D("0.0009")  # below min: cannot trade
    (order,) = desk.risk.evaluate()
    assert (order.symbol, order.size) == (SYMBOL, D("0.0019"))  # 0.001 would leave 0.0009 dust


def test_trim_is_capped_at_the_max_order_notional() -> None:
    desk = exposed_desk(max_order_notional=D(1_000))
    desk.portfolio.positions[("bot1", SYMBOL)] = D(1)  # 20% = 0.2 = 10,000 notional
    orders = desk.risk.evaluate()
    assert orders[0].size == D("0.02")  # 1,000 / 50,000


def test_ioc_trims_are_priced_through_the_mid() -> None:
    desk = exposed_desk(trim_order_type=OrderType.IOC, trim_slippage_pct=D(1))
    btc, eth = desk.risk.evaluate()
    assert (btc.order_type, btc.side, btc.price) == (OrderType.IOC, Side.SELL, D("49500.0"))
    assert (eth.order_type, eth.side, eth.price) == (OrderType.IOC, Side.BUY, D("2525.0"))


def test_traded_accounts_are_trimmed_without_an_accounts_provider() -> None:
    desk = Desk()
    assert isinstance(desk.risk.check(req(size="0.15")), OrderRequest)
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.15")
    desk.portfolio.equity_ = D(5_000)
    desk.portfolio.gross = D(7_500)
    (order,) = desk.risk.evaluate()
    assert (order.bot_id, order.side, order.size) == ("bot1", Side.SELL, D("0.03"))


def test_daily_loss_breach_reduces() -> None:
    desk = exposed_desk()
    desk.portfolio.gross = D(1_000)
    desk.portfolio.pnl = D(-1_200)
    assert len(desk.risk.evaluate()) == 2
    assert desk.risk.state is RiskState.REDUCING
    assert "daily loss: -1,200.00 <= -1,000.00" in desk.risk.state_reason


def test_breach_action_halt() -> None:
    desk = exposed_desk(breach_action="halt")
    assert desk.risk.evaluate() == []
    assert desk.risk.state is RiskState.HALTED
    assert denied(desk, req()) == "halted: gross exposure: 12,500.00 > 10,000.00"


def test_hard_daily_loss_halts_and_resume_acknowledges_it() -> None:
    desk = exposed_desk()
    desk.portfolio.gross = D(1_000)
    desk.portfolio.pnl = D(-2_500)
    assert desk.risk.evaluate() == []
    assert desk.risk.state is RiskState.HALTED
    assert desk.risk.state_reason == "daily loss hard limit: -2,500.00 <= -2,000.00"
    desk.risk.resume()
    # the operator resumed: the same loss now reduces instead of halting again
    assert len(desk.risk.evaluate()) == 2
    assert desk.risk.state is RiskState.REDUCING


def test_resume_from_reducing_goes_back_if_still_breached() -> None:
    desk = exposed_desk()
    desk.risk.evaluate()
    desk.risk.resume()
    assert desk.risk.state is RiskState.ACTIVE
    assert len(desk.risk.evaluate()) == 2
    assert desk.risk.state is RiskState.REDUCING


# -- config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price_band_pct", D(0), "@price_band_pct: must be > 0"),
        ("max_order_notional", D(-1), "@max_order_notional: must be > 0"),
        ("max_orders_per_s", 0, "@max_orders_per_s: must be >= 1"),
        ("daily_loss_halt", D(500), "@daily_loss_halt: must be >= daily_loss_limit"),
        ("trim_fraction", D("1.5"), r"@trim_fraction: must be in \(0, 1\]"),
        ("trim_interval_s", -1.0, "@trim_interval_s: must be >= 0"),
        ("trim_slippage_pct", D(6), "@trim_slippage_pct: must be below price_band_pct"),
        ("recovery_ratio", D(0), "@recovery_ratio"),
    ],
)
def test_config_is_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RiskConfig(**{field: value})  # type: ignore[arg-type]


def test_config_decodes_from_yaml_shaped_data() -> None:
    config = msgspec.convert(
        {"max_order_notional": "5000", "breach_action": "halt", "trim_order_type": "ioc"},
        RiskConfig,
        strict=False,
    )
    assert config.max_order_notional == D(5000)
    assert config.trim_order_type is OrderType.IOC
    with pytest.raises(msgspec.ValidationError, match="@trim_order_type: must be market or ioc"):
        msgspec.convert({"trim_order_type": "limit"}, RiskConfig, strict=False)
