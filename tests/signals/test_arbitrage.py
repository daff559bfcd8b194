"""The arbitrage seeker trades a crossed spread on two paper venues, each leg through risk and
an OMS, and keeps both legs' fills, its per-venue and hedged position and its exact PnL.

Two paper venues, each filling against its own real OrderBook, each behind its own risk engine
and OMS (the engine's order path routes an order by ``OrderRequest.venue``), one portfolio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import TestClock
from desk.core.enums import Severity, Side
from desk.core.events import BookChanged, SystemEvent
from desk.core.orders import Order, OrderRequest, OrderType
from desk.execution.oms import OrderManager
from desk.execution.paper import PaperConfig, PaperVenue
from desk.execution.portfolio import Portfolio
from desk.execution.risk import RiskEngine
from desk.execution.risk_rules import RiskConfig
from desk.market.book import OrderBook
from desk.market.instruments import Instrument
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig, BotSignal, SignalFate
from desk.signals.order_sink import PaperSink
from desk.signals.strategies import create_strategy
from desk.signals.strategies.arbitrage import ArbitrageStrategy
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.waiting import wait_until

D = Decimal
SYM = "BTC-USDT"
T0 = 1_700_000_000_000_000_000
VENUES = ("okx", "binance")


class Venue:
    """One paper venue over its own book, with its own risk engine and OMS."""

    def __init__(self, name: str, rig: Rig, risk: RiskConfig) -> None:
        self.name = name
        self.book = OrderBook(SYM, venue=name)
        self.instrument = Instrument(
            venue=name, symbol=SYM, base="BTC", quote="USDT",
            tick_size="0.1", lot_size="0.0001", min_size="0.001",
        )  # fmt: skip
        self.paper = PaperVenue(
            book={SYM: self.book}.get,
            instruments={SYM: self.instrument},
            clock=rig.clock,
            config=PaperConfig(taker_fee_bps=D(10), initial_balances={"USDT": D(1_000_000)}),
            name=f"paper-{name}",
        )
        self.oms = OrderManager(
            rig.bus, rig.store, self.paper, rig.clock, portfolio=rig.portfolio, venue_name=name
        )
        self.risk = RiskEngine(
            instruments={SYM: self.instrument},
            mid=self.mid,
            portfolio=rig.portfolio,
            clock=rig.clock,
            config=risk,
            open_orders=self.oms,
            bus=rig.bus,
        )
        self.oms.check = self.risk.check

    def mid(self, symbol: str) -> Decimal | None:
        bids, asks = self.book.raw_bids(1), self.book.raw_asks(1)
        return (D(bids[0][0]) + D(asks[0][0])) / 2 if bids and asks else None

    def levels(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]], rig: Rig) -> None:
        """Replace the book and publish its change (what the venue's feed does)."""
        self.book.apply_snapshot(bids, asks, seq_id=1)
        rig.t += 1_000_000
        rig.bus.publish(
            topics.market_data(SYM),
            BookChanged(
                ts_exchange=rig.t, ts_recv=rig.t, venue=self.name, symbol=SYM, seq_id=1,
                snapshot=True, best_bid=self.book.best_bid_px, best_ask=self.book.best_ask_px,
            ),
        )  # fmt: skip


class Rig:
    def __init__(self, path: Path, risk: dict[str, RiskConfig] | None = None) -> None:
        self.t = T0
        self.clock = TestClock(T0)
        self.bus = Bus()
        self.store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=0.02))
        self.portfolio = Portfolio(self.clock, starting_cash=D(1_000_000))
        risk = risk or {}
        self.venues = {v: Venue(v, self, risk.get(v, RiskConfig())) for v in VENUES}
        self.bots = BotManager(self.bus, self.store, PaperSink(), self.clock)
        self.bots.orders = self.route
        self.events: list[SystemEvent] = []
        self.signals: list[BotSignal] = []
        self.bus.subscribe(topics.SYSTEM_EVENTS, self.events.append)
        self.bus.subscribe("bot_signals:*", self._on_bot)

    def _on_bot(self, event: Any) -> None:
        if isinstance(event, BotSignal):
            self.signals.append(event)

    def route(self, request: OrderRequest) -> Order:
        """The engine's order path: the OMS (behind its risk engine) of the request's venue."""
        return self.venues[request.venue].oms.submit(request)

    async def start(self, **params: Any) -> ArbitrageStrategy:
        await self.store.open()
        for venue in self.venues.values():
            await venue.oms.start()
        base = {"venues": list(VENUES), "threshold_bps": 5.0, "slippage_bps": 10.0}
        self.bots.add_bot(
            BotConfig(
                bot_id="arb1", strategy="arbitrage", symbol=SYM, timeframe="1m", size=0.5,
                params={**base, **params},
            )
        )  # fmt: skip
        self.bots.start_bot("arb1")
        strategy = self.bots.strategy("arb1")
        assert isinstance(strategy, ArbitrageStrategy)
        return strategy

    async def stop(self) -> None:
        self.bots.close()
        for venue in self.venues.values():
            await venue.oms.stop()
        await self.store.close()

    def warnings(self) -> list[str]:
        return [e.message for e in self.events if e.severity is Severity.WARNING]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path / "desk.sqlite")
    yield r
    await r.stop()


def _settled(strategy: ArbitrageStrategy) -> bool:
    return strategy.current is None and strategy.ledger is not None and strategy.ledger.rounds


async def test_a_crossed_spread_is_traded_on_both_venues_with_exact_pnl(rig: Rig) -> None:
    arb = await rig.start()
    okx, binance = rig.venues["okx"], rig.venues["binance"]
    okx.levels([("99.0", "5")], [("100.0", "1"), ("100.5", "5")], rig)
    assert rig.signals == []  # one venue: no spread yet
    # buy okx 100.0, sell binance 101.0: (101 x 0.999 - 100 x 1.001) / 100.1 = +79.8 bps net
    binance.levels([("101.0", "1"), ("100.8", "5")], [("101.5", "5")], rig)
    [signal] = rig.signals
    assert signal.fate is SignalFate.SENT and signal.signal.direction == "long"
    assert signal.signal.reason == "BTC-USDT: buy okx 100.0 / sell binance 101.0 = +79.8 bps net"
    await wait_until(lambda: _settled(arb), what="both legs done")
    ledger = arb.ledger
    assert ledger is not None
    [trade] = ledger.rounds
    assert (trade.buy_venue, trade.sell_venue, trade.outcome) == ("okx", "binance", "hedged")
    legs = ledger.round_legs(trade)
    assert [(leg.role, leg.venue, leg.side, leg.filled, leg.avg_price) for leg in legs] == [
        ("buy", "okx", Side.BUY, D("0.5"), D("100.0")),
        ("sell", "binance", Side.SELL, D("0.5"), D("101.0")),
    ]
    assert ledger.positions == {"okx": D("0.5"), "binance": D("-0.5")}
    assert ledger.net_position == 0
    # fees: 0.5 x 100 x 10 bps = 0.05, 0.5 x 101 x 10 bps = 0.0505
    assert ledger.fees == D("0.1005")
    assert ledger.pnl() == D("50.5") - D("50.0") - D("0.1005") == D("0.3995")
    # the portfolio (what risk and the trading mode see) agrees, to the cent and beyond
    assert rig.portfolio.totals("arb1").net == D("0.3995")
    snap = arb.snapshot()
    assert snap is not None and snap.pnl == D("0.3995") and snap.hedged == 1
    assert [(f.role, f.venue, f.price, f.size) for f in reversed(snap.fills)] == [
        ("buy", "okx", D("100.0"), D("0.5")),
        ("sell", "binance", D("101.0"), D("0.5")),
    ]
    venues = rig.venues.values()
    sent = [v.oms.order(leg.client_order_id) for v, leg in zip(venues, legs, strict=True)]
    assert [(o.order_type, o.venue) for o in sent if o] == [
        (OrderType.IOC, "okx"),
        (OrderType.IOC, "binance"),
    ]


async def test_no_trade_while_the_spread_does_not_beat_the_fees(rig: Rig) -> None:
    arb = await rig.start()
    rig.venues["okx"].levels([("99.9", "5")], [("100.0", "5")], rig)
    # gross +10 bps, fees 20 bps: -10 bps net
    rig.venues["binance"].levels([("100.1", "5")], [("100.2", "5")], rig)
    assert rig.signals == [] and arb.ledger is not None and not arb.ledger.rounds


async def test_a_one_legged_fill_is_unwound_on_the_filled_venue(rig: Rig) -> None:
    arb = await rig.start(on_one_leg="unwind")
    okx, binance = rig.venues["okx"], rig.venues["binance"]
    okx.levels([("99.0", "5")], [("100.0", "5")], rig)
    # only 0.2 bid within the sell leg's limit (101 x 0.999 = 100.899): IOC sells 0.2
    binance.levels([("101.0", "0.2"), ("99.0", "5")], [("101.5", "5")], rig)
    await wait_until(lambda: _settled(arb), what="round settled")
    ledger = arb.ledger
    assert ledger is not None
    [trade] = ledger.rounds
    assert trade.outcome == "unwound"
    legs = ledger.round_legs(trade)
    assert [(leg.role, leg.venue, leg.side, leg.filled) for leg in legs] == [
        ("buy", "okx", Side.BUY, D("0.5")),
        ("sell", "binance", Side.SELL, D("0.2")),
        ("unwind", "okx", Side.SELL, D("0.3")),  # sold back at okx's bid, 99.0
    ]
    assert ledger.positions == {"okx": D("0.2"), "binance": D("-0.2")}
    fees = D("0.05") + D("0.0202") + D("0.0297")
    assert ledger.pnl() == D("20.2") + D("29.7") - D("50.0") - fees == D("-0.1999")
    assert rig.portfolio.totals("arb1").net == D("-0.1999")
    [warning] = [w for w in rig.warnings() if "one-legged" in w]
    assert "unwinding sell 0.3 on okx" in warning
    assert not arb.flagged


async def test_a_leg_refused_by_risk_flags_the_seeker_until_it_is_hedged(tmp_path: Path) -> None:
    tight = RiskConfig(max_order_notional=D(10))  # binance's risk refuses a 50 USDT order
    rig = Rig(tmp_path / "desk.sqlite", risk={"binance": tight})
    try:
        arb = await rig.start(on_one_leg="flag")
        okx, binance = rig.venues["okx"], rig.venues["binance"]
        okx.levels([("99.0", "5")], [("100.0", "5")], rig)
        binance.levels([("101.0", "5")], [("101.5", "5")], rig)
        await wait_until(lambda: _settled(arb), what="round settled")
        ledger = arb.ledger
        assert ledger is not None
        [trade] = ledger.rounds
        assert trade.outcome == "one_legged" and ledger.one_legged == 1
        buy, sell = ledger.round_legs(trade)
        assert (buy.filled, sell.status) == (D("0.5"), "rejected")
        assert "max order notional" in sell.reason
        [warning] = [w for w in rig.warnings() if "one-legged" in w]
        assert "sell 0.5 on binance: rejected (risk:" in warning and "flagged" in warning
        assert ledger.positions == {"okx": D("0.5")} and arb.flagged
        # the spread is still there, but a flagged seeker opens no new round
        okx.levels([("99.0", "5")], [("100.1", "5")], rig)
        assert len(rig.signals) == 1 and len(ledger.rounds) == 1
        # the operator flattens the bot on okx: hedged again, the flag goes
        rig.route(
            OrderRequest(
                symbol=SYM, side=Side.SELL, order_type=OrderType.MARKET, size=D("0.5"),
                bot_id="arb1", venue="okx", reduce_only=True,
            )
        )  # fmt: skip
        await wait_until(lambda: not arb.flagged, what="flag cleared")
        assert ledger.net_position == 0
    finally:
        await rig.stop()


def test_params_are_validated_naming_the_parameter() -> None:
    with pytest.raises(ValueError, match="venues: name at least two"):
        create_strategy("arbitrage", {"venues": ["okx"]})
    with pytest.raises(ValueError, match="on_one_leg"):
        create_strategy("arbitrage", {"on_one_leg": "pray"})
    with pytest.raises(ValueError, match="no candle backtest"):
        create_strategy("arbitrage").batch_codes({})
