"""The arbitrage seeker and the spread watcher in the engine, with OKX and Binance on the
simulator over real WebSockets: a config bot trades both legs on the paper venues (each filling
on its own venue's live book) through risk and the OMS, and the watcher alerts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from desk.config import parse_config
from desk.core import topics
from desk.core.enums import Severity, Side
from desk.core.orders import Fill
from desk.engine.engine import Engine
from desk.signals.strategies.arbitrage import ArbitrageStrategy
from tests.waiting import wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

SYMBOL = "BTC-USDT"
ANY_SPREAD = -10_000.0  # every spread "exceeds" it: trade and alert on the first quotes


async def test_a_config_arbitrage_bot_trades_both_venues_and_the_watcher_alerts(
    tmp_path: Path,
) -> None:
    config = parse_config(
        {
            "system": {"mode": "paper", "status_interval": 60},
            "trading": {"symbols": [SYMBOL], "timeframes": ["1m"], "channels": ["books"]},
            "exchanges": {"binance": {"enabled": True}},
            "storage": {"sqlite_path": str(tmp_path / "d.sqlite"), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 7, "steps_per_second": 200},
            "watchers": {
                "spread": {"enabled": True, "threshold_bps": ANY_SPREAD, "min_duration_s": 0},
            },
            "bots": [
                {
                    "bot_id": "arb",
                    "strategy": "arbitrage",
                    "symbol": SYMBOL,
                    "timeframe": "1m",
                    "size": 0.001,
                    "cooldown_s": 3600,  # one round in this test
                    "params": {
                        "venues": ["okx", "binance"],
                        "threshold_bps": ANY_SPREAD,
                        "slippage_bps": 50,
                    },
                }
            ],
        }
    )
    engine = Engine(config)
    fills: list[Fill] = []
    alerts: list[Any] = []
    engine.bus.subscribe(
        topics.trade_updates("arb"), lambda e: isinstance(e, Fill) and fills.append(e)
    )
    engine.bus.subscribe(
        topics.SYSTEM_EVENTS,
        lambda e: alerts.append(e) if getattr(e, "kind", "") == "spread_open" else None,
    )
    await engine.start()
    try:
        assert engine.execution is not None, engine.execution_error
        arb = engine.bots.strategy("arb")
        assert isinstance(arb, ArbitrageStrategy)
        await wait_until(
            lambda: arb.ledger is not None and bool(arb.ledger.rounds) and arb.current is None,
            60,
            "the first round to settle",
        )
        ledger = arb.ledger
        assert ledger is not None
        trade = ledger.rounds[0]
        legs = ledger.round_legs(trade)
        assert trade.outcome == "hedged", [(leg.role, leg.status, leg.reason) for leg in legs]
        assert {(leg.venue, leg.side, leg.filled) for leg in legs} == {
            (trade.buy_venue, Side.BUY, Decimal("0.001")),
            (trade.sell_venue, Side.SELL, Decimal("0.001")),
        }
        assert {trade.buy_venue, trade.sell_venue} == {"okx", "binance"}
        assert {f.venue for f in fills} == {"okx", "binance"}  # each leg on its own venue
        assert ledger.positions == {
            trade.buy_venue: Decimal("0.001"),
            trade.sell_venue: Decimal("-0.001"),
        }
        # exact PnL from the fills with their fees, and the portfolio holds the same legs
        cash = sum(
            (f.price * f.size * (1 if f.side is Side.SELL else -1) - f.fee for f in fills),
            Decimal(0),
        )
        assert ledger.net_position == 0 and ledger.pnl() == cash
        portfolio = engine.execution.portfolio
        for venue, size in ledger.positions.items():
            assert portfolio.position("arb", SYMBOL, venue) == size
        await wait_until(lambda: bool(alerts), 30, "the spread watcher's alert")
        assert alerts[0].severity is Severity.WARNING
        assert alerts[0].message.startswith(f"{SYMBOL}: buy ")
        assert " bps net for " in alerts[0].message
    finally:
        await engine.stop()
