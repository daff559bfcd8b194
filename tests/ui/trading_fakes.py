"""A fake EngineClient for the trading mode: the frozen market of ``FakeEngineClient`` plus
orders, fills, positions, risk state and instrument rules, all deterministic.

Commands are recorded in ``executed`` (as the base fake does) and applied to the fake's state
the way the engine would: a SubmitOrder becomes an open order with a client order id, a cancel
removes it, a halt blocks, and so on. ``refuse`` and ``check_reason`` make the engine say no.
"""

from __future__ import annotations

from typing import Any

from desk.bridge.views import (
    DenialView,
    FillView,
    InstrumentView,
    OrderView,
    PositionView,
    ReconciliationView,
    TradingView,
)
from desk.core.commands import (
    AcceptReconciliation,
    CancelAll,
    CancelOrder,
    Command,
    CommandAck,
    ConfirmLive,
    Flatten,
    Halt,
    ResumeTrading,
    SubmitOrder,
)
from desk.core.enums import Mode
from desk.core.orders import OrderRequest
from tests.ui.fakes import NS, T0, FakeEngineClient

INSTRUMENTS = {  # symbol -> (tick, lot, min size)
    "BTC-USDT": ("0.1", "0.0001", "0.001"),
    "ETH-USDT": ("0.01", "0.001", "0.01"),
    "SOL-USDT": ("0.001", "0.01", "0.1"),
}
TRADING_COMMANDS = (
    SubmitOrder,
    CancelOrder,
    CancelAll,
    Flatten,
    Halt,
    ResumeTrading,
    AcceptReconciliation,
    ConfirmLive,
)


def _order(
    n: int,
    symbol: str,
    side: str,
    price: float | None,
    size: float,
    filled: float = 0.0,
    bot_id: str = "manual",
    order_type: str = "limit",
) -> OrderView:
    return OrderView(
        client_order_id=f"m{n:04d}",
        venue_order_id=f"v{n:04d}",
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=price,
        size=size,
        filled=filled,
        avg_price=price or 0.0,
        status="partially_filled" if filled else "live",
        bot_id=bot_id,
        reason="",
        created_ns=T0 - (10 - n) * NS,
        updated_ns=T0 - (10 - n) * NS,
        venue="okx",
    )


class TradingFakeClient(FakeEngineClient):
    """FakeEngineClient with a trading state that commands change."""

    def __init__(self, mode: Mode = Mode.SIM, **kwargs: Any) -> None:
        super().__init__(mode=mode, **kwargs)
        self.trading_version = 1
        self.open_orders: list[OrderView] = [
            _order(1, "BTC-USDT", "buy", 65431.8, 0.05),
            _order(2, "BTC-USDT", "sell", 65432.5, 0.02, filled=0.005, bot_id="btc-ma"),
            _order(3, "ETH-USDT", "buy", 3450.0, 1.5, bot_id="eth-rsi", order_type="post_only"),
        ]
        self.fills: list[FillView] = [
            FillView(
                ts=T0 - (30 - i) * NS,
                client_order_id=f"f{i:04d}",
                trade_id=f"t{i}",
                symbol="BTC-USDT" if i % 2 else "ETH-USDT",
                side="buy" if i % 3 else "sell",
                price=65430.0 + i if i % 2 else 3455.5 + i / 100,
                size=0.01 * (i + 1),
                fee=0.0123 * (i + 1),
                fee_ccy="USDT",
                liquidity="maker" if i % 2 else "taker",
                bot_id="manual" if i % 2 else "btc-ma",
                venue="okx",
            )
            for i in range(6)
        ]
        self.positions: list[PositionView] = [
            PositionView(
                bot_id="manual",
                symbol="BTC-USDT",
                size=0.15,
                avg_price=65000.0,
                mark_price=65432.15,
                unrealized_pnl=64.82,
                realized_pnl=12.5,
                fees=1.23,
                notional=9814.82,
                venue="okx",
            ),
            PositionView(
                bot_id="btc-ma",
                symbol="ETH-USDT",
                size=-2.0,
                avg_price=3470.0,
                mark_price=3456.785,
                unrealized_pnl=26.43,
                realized_pnl=-8.75,
                fees=0.9,
                notional=6913.57,
                venue="okx",
            ),
            PositionView(
                bot_id="eth-rsi",
                symbol="SOL-USDT",
                size=10.0,
                avg_price=150.0,
                mark_price=145.2345,
                unrealized_pnl=-47.66,
                realized_pnl=0.0,
                fees=0.15,
                notional=1452.35,
                venue="okx",
            ),
        ]
        self.denials: list[DenialView] = [
            DenialView(
                ts=T0 - 5 * NS,
                bot_id="btc-ma",
                symbol="BTC-USDT",
                side="buy",
                size=2.0,
                price=65440.0,
                reason="max order notional 10000 exceeded",
            )
        ]
        self.risk_state = "ACTIVE"
        self.risk_reason = ""
        self.reconciliation: ReconciliationView | None = None
        self.live_confirmed = mode is not Mode.LIVE
        self.check_reason = ""  # what check_order answers ("" = fine)
        self.checked: list[OrderRequest] = []
        self._next_id = 100

    # -- EngineClient: trading ---------------------------------------------------------------

    def trading(self) -> TradingView:
        self._count("trading")
        return TradingView(
            version=self.trading_version,
            venue="okx",
            open_orders=list(self.open_orders),
            recent_orders=[],
            fills=list(self.fills),
            positions=list(self.positions),
            equity=100_043.21,
            realized_pnl=3.75,
            unrealized_pnl=43.59,
            fees=2.28,
            gross_exposure=18_180.74,
            daily_pnl=45.06,
            risk_state=self.risk_state,
            risk_reason=self.risk_reason,
            denials=list(self.denials),
            breaker_state="closed",
            trading_blocked=self.risk_state == "HALTED",
            reconciliation=self.reconciliation,
            live_confirmed=self.live_confirmed,
        )

    def instruments(self) -> list[InstrumentView]:
        self._count("instruments")
        return [
            InstrumentView(
                symbol=symbol,
                base=symbol.split("-")[0],
                quote=symbol.split("-")[1],
                tick_size=tick,
                lot_size=lot,
                min_size=minimum,
                state="live",
            )
            for symbol, (tick, lot, minimum) in INSTRUMENTS.items()
            if symbol in self.symbols
        ]

    def check_order(self, request: OrderRequest) -> str:
        self._count("check_order")
        self.checked.append(request)
        if self.risk_state == "HALTED":
            return "trading halted"
        return self.check_reason

    async def execute(self, command: Command) -> CommandAck:
        if not isinstance(command, TRADING_COMMANDS):
            return await super().execute(command)
        self.executed.append(command)
        name = type(command).__name__
        reason = self.refuse.get(name)
        if reason:
            return CommandAck(command=name, accepted=False, reason=reason)
        detail: dict[str, Any] = {}
        if isinstance(command, SubmitOrder):
            if self.risk_state == "HALTED":
                return CommandAck(command=name, accepted=False, reason="trading halted")
            detail["client_order_id"] = self._submit(command.request)
        elif isinstance(command, CancelOrder):
            self.open_orders = [
                o for o in self.open_orders if o.client_order_id != command.client_order_id
            ]
        elif isinstance(command, CancelAll | Halt):
            self.open_orders = []
            if isinstance(command, Halt):
                self.risk_state, self.risk_reason = "HALTED", command.reason
        elif isinstance(command, ResumeTrading):
            self.risk_state, self.risk_reason = "ACTIVE", ""
        elif isinstance(command, AcceptReconciliation):
            self.reconciliation = None
        elif isinstance(command, ConfirmLive):
            self.live_confirmed = True
        if isinstance(command, Flatten) or (isinstance(command, Halt) and command.flatten):
            self.positions = []
        self.trading_version += 1
        return CommandAck(command=name, accepted=True, detail=detail)

    # -- test controls -----------------------------------------------------------------------

    def set_reconciliation(self, differences: list[str]) -> None:
        self.reconciliation = ReconciliationView(
            ts=T0, clean=False, blocking=True, differences=differences
        )
        self.trading_version += 1

    def trading_commands(self) -> list[Command]:
        return [c for c in self.executed if isinstance(c, TRADING_COMMANDS)]

    def _submit(self, request: OrderRequest) -> str:
        self._next_id += 1
        order_id = f"m{self._next_id:04d}"
        self.open_orders.append(
            OrderView(
                client_order_id=order_id,
                venue_order_id="",
                symbol=request.symbol,
                side=request.side.value,
                order_type=request.order_type.value,
                price=float(request.price) if request.price is not None else None,
                size=float(request.size),
                filled=0.0,
                avg_price=0.0,
                status="live",
                bot_id=request.bot_id,
                reason="",
                created_ns=T0 + self._next_id,
                updated_ns=T0 + self._next_id,
                venue=request.venue,
            )
        )
        return order_id
