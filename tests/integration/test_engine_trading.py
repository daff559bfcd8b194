"""Trading inside the real engine: manual orders, bots' orders, risk, halt, on the simulator's
private OKX API (over real WebSockets) and on the paper venue."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from desk.clients.inprocess import InProcessClient
from desk.config import DeskConfig, parse_config
from desk.core.commands import CancelAll, Flatten, Halt, ResumeTrading, SubmitOrder
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.engine.engine import Engine
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

EAGER_BOT = {
    "bot_id": "eager",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1s",
    "size": 0.01,
    "params": {"fast": 2, "slow": 3},
}


def _config(db: Path, mode: str = "sim", bots: list[dict[str, Any]] | None = None) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": mode, "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 5, "steps_per_second": 400},
            "bots": bots or [],
        }
    )


async def _started(config: DeskConfig) -> InProcessClient:
    client = InProcessClient(Engine(config))
    await client.start()
    execution = client.engine.execution
    assert execution is not None, client.engine.execution_error
    await wait_until(lambda: execution.mid("BTC-USDT") is not None, 30, "a BTC-USDT book")
    return client


def _market(side: Side, size: str, symbol: str = "BTC-USDT") -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, order_type=OrderType.MARKET, size=Decimal(size))


def _position(client: InProcessClient, bot_id: str, symbol: str) -> float:
    for p in client.trading().positions:
        if (p.bot_id, p.symbol) == (bot_id, symbol):
            return p.size
    return 0.0


@pytest.mark.parametrize("mode", ["sim", "paper"])
async def test_manual_orders_fill_and_show_as_positions(tmp_path: Path, mode: str) -> None:
    client = await _started(_config(tmp_path / "d.sqlite", mode))
    try:
        assert client.trading().venue == ("okx" if mode == "sim" else "paper")
        ack = await client.execute(SubmitOrder(request=_market(Side.BUY, "0.02")))
        assert ack.accepted, ack.reason
        cid = ack.detail["client_order_id"]
        await wait_until(lambda: _position(client, "manual", "BTC-USDT") == 0.02, 30, "filled")
        order = next(o for o in client.trading().recent_orders if o.client_order_id == cid)
        assert (order.status, order.filled) == ("filled", 0.02)
        assert any(f.client_order_id == cid for f in client.trading().fills)
        assert {f.venue for f in client.trading().fills} == {"okx"}  # the mode says paper

        mid = client.engine.execution.mid("BTC-USDT")
        resting = OrderRequest(
            symbol="BTC-USDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.01"),
            price=(mid * Decimal("0.98")).quantize(Decimal("0.1")),
        )
        # Canceled while still on its way: the cancel waits until the venue has the order.
        assert (await client.execute(SubmitOrder(request=resting))).accepted
        done = await client.execute(CancelAll())
        assert done.accepted and done.detail["canceled"] == 1
        await wait_until(lambda: not client.trading().open_orders, 30, "the cancel")
        canceled = [o for o in client.trading().recent_orders if o.status == "canceled"]
        assert len(canceled) == 1 and canceled[0].filled == 0

        flat = await client.execute(Flatten())
        assert flat.accepted, flat.reason
        await wait_until(lambda: _position(client, "manual", "BTC-USDT") == 0, 30, "flat")
        view = client.trading()
        assert view.fees > 0 and view.risk_state == "active"
    finally:
        await client.stop()


async def test_risk_refuses_a_bad_manual_order_with_the_reason(tmp_path: Path) -> None:
    client = await _started(_config(tmp_path / "d.sqlite"))
    try:
        mid = client.engine.execution.mid("BTC-USDT")
        off_tick = OrderRequest(
            symbol="BTC-USDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.01"),
            price=mid.quantize(Decimal("0.1")) + Decimal("0.05"),
        )
        assert "price off tick" in client.check_order(off_tick)
        ack = await client.execute(SubmitOrder(request=off_tick))
        assert not ack.accepted and "price off tick" in ack.reason and "nearest valid" in ack.reason
        huge = _market(Side.BUY, "5")
        assert "max order notional" in client.check_order(huge)
        assert client.check_order(_market(Side.BUY, "0.01")) == ""
        assert not client.trading().open_orders
        denied = client.trading().denials
        assert denied and "price off tick" in denied[0].reason
    finally:
        await client.stop()


async def test_halt_stops_a_bot_that_keeps_signalling_and_resume_lets_it_trade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "d.sqlite"
    client = await _started(_config(db, bots=[EAGER_BOT]))
    try:
        await wait_until(
            lambda: any(s.fate == "sent" for s in client.signals(bot_id="eager").signals),
            60,
            "the bot trading",
        )
        ack = await client.execute(Halt(reason="test halt", flatten=True))
        assert ack.accepted
        assert client.trading().risk_state == "halted"
        seen = client.signals(bot_id="eager").total
        await wait_until(
            lambda: client.signals(bot_id="eager").total >= seen + 2, 60, "signals while halted"
        )
        after = client.signals(bot_id="eager", limit=2).signals
        assert {s.fate for s in after} <= {"filtered_risk"}
        assert not client.trading().open_orders
        await wait_until(lambda: _position(client, "eager", "BTC-USDT") == 0, 30, "flattened")

        assert (await client.execute(ResumeTrading())).accepted
        seen = client.signals(bot_id="eager").total
        await wait_until(
            lambda: (
                any(
                    s.fate == "sent"
                    for s in client.signals(bot_id="eager").signals[: -seen or None]
                )
                and client.signals(bot_id="eager").total > seen
            ),
            60,
            "the bot trading again",
        )
    finally:
        await client.stop()
