"""History at start on every venue: Binance's and Coinbase's charts backfilled from their own
REST candles (the real simulators over real HTTP), live bars continuing from them, and a venue
whose REST fails left to fill live while the others still get their history."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from desk.config import DeskConfig, with_simulator
from desk.core import topics
from desk.core.clock import NS_PER_S
from desk.core.enums import Severity, Side
from desk.core.events import Candle, SystemEvent, Trade
from desk.engine.backfill_binance import BINANCE_BARS
from desk.engine.backfill_coinbase import COINBASE_BARS
from desk.engine.backfill_plan import plan_for
from desk.engine.engine import Engine
from desk.engine.views import EngineViews
from desk.signals.bots import BotConfig
from desk.sim.binance.klines import Klines
from tests.waiting import wait_until

SYM = "BTC-USDT"
BARS = 40
MINUTE = 60 * NS_PER_S
OTHERS = ("binance", "coinbase")


@pytest.mark.parametrize(
    ("timeframe", "bar", "per"),
    [
        ("1s", "1s", 1),
        ("3s", "1s", 3),
        ("1m", "1m", 1),
        ("8h", "8h", 1),
        ("3d", "1d", 3),
        ("1w", "1d", 7),
    ],
)
def test_binance_timeframes_come_from_its_klines(timeframe: str, bar: str, per: int) -> None:
    p = plan_for(timeframe, BINANCE_BARS)
    assert (p.bar, p.per) == (bar, per)


@pytest.mark.parametrize(
    ("timeframe", "bar", "per"),
    [
        ("1s", None, 0),
        ("1m", "ONE_MINUTE", 1),
        ("3m", "ONE_MINUTE", 3),
        ("4h", "TWO_HOUR", 2),
        ("6h", "SIX_HOUR", 1),
        ("1w", "ONE_DAY", 7),
    ],
)
def test_coinbase_timeframes_come_from_its_granularities(
    timeframe: str, bar: str | None, per: int
) -> None:
    p = plan_for(timeframe, COINBASE_BARS)
    assert (p.bar, p.per) == (bar, per)


def sim_config(tmp_path: Path, timeout: float = 15.0) -> DeskConfig:
    config = with_simulator(DeskConfig(), all_venues=True)
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp_path / "desk.sqlite"))
    candles = msgspec.structs.replace(config.candles, backfill_bars=BARS, backfill_timeout=timeout)
    trading = msgspec.structs.replace(config.trading, symbols=(SYM,), timeframes=("1s", "1m", "5m"))
    bot = BotConfig(
        bot_id="warm-binance",
        strategy="ma_crossover",
        params={"fast": 2, "slow": 3},
        symbol=SYM,
        timeframe="1m",
        size=0.001,
        venue="binance",
    )
    return msgspec.structs.replace(
        config, storage=storage, candles=candles, trading=trading, bots=(bot,)
    )


class Started:
    """An engine on the simulators of every venue, with what its bus carried."""

    def __init__(self, tmp_path: Path, timeout: float = 15.0) -> None:
        self.engine = Engine(sim_config(tmp_path, timeout))
        self.views = EngineViews(self.engine)
        self.seen: list[Any] = []
        self.engine.bus.subscribe(topics.market_data(SYM), self.seen.append)
        self.engine.bus.subscribe(topics.SYSTEM_EVENTS, self.seen.append)

    def candles(self, venue: str, timeframe: str, backfill: bool | None = None) -> list[Candle]:
        return [
            e
            for e in self.seen
            if isinstance(e, Candle)
            and e.closed
            and (e.venue, e.timeframe) == (venue, timeframe)
            and (backfill is None or e.backfill == backfill)
        ]

    def warnings(self) -> list[SystemEvent]:
        return [
            e
            for e in self.seen
            if isinstance(e, SystemEvent)
            and e.kind == "backfill_failed"
            and e.severity is Severity.WARNING
        ]


async def test_binance_and_coinbase_charts_start_with_history(tmp_path: Path) -> None:
    run = Started(tmp_path)
    await run.engine.start()
    try:
        assert not run.warnings()
        okx_closes = {c.end: c.close for c in run.candles("okx", "1m")}
        for venue in OTHERS:
            view = run.views.candles(SYM, "1m", limit=500, venue=venue)
            assert view.forming, f"{venue}: the bar in progress continues live"
            ends = [c.end for c in view.candles]
            assert len(ends) >= BARS + 1, f"{venue}: {BARS} closed bars and the forming one"
            assert all(b - a == MINUTE for a, b in pairwise(ends)), "right-aligned, no hole"
            closed = run.candles(venue, "1m", backfill=True)
            assert len(closed) == BARS and closed[-1].end == ends[-2]
            assert time.time_ns() - 2 * MINUTE < closed[-1].end <= time.time_ns()
            assert all(c.end % MINUTE == 0 for c in closed), "stamped by their end"
            assert len(run.candles(venue, "5m", backfill=True)) == BARS, "24 h of past"
            gaps = [abs(c.close / okx_closes[c.end] - 1) for c in closed]
            assert max(gaps) < 0.003, f"{venue}: the same past as OKX's, a few bps apart"
            assert max(gaps) > 0, f"{venue}: its own prices, not OKX's"
        assert len(run.candles("binance", "1s", backfill=True)) == BARS, "Binance has 1s bars"
        assert not run.candles("coinbase", "1s", backfill=True), "Coinbase has none: live only"
        strategy = run.engine.bots.strategy("warm-binance")
        assert strategy._prev, "the Binance bot warmed up on Binance's history"  # type: ignore[attr-defined]
    finally:
        await run.engine.stop()


async def test_live_bars_continue_after_the_last_backfilled_one(tmp_path: Path) -> None:
    run = Started(tmp_path)
    await run.engine.start()
    try:
        # Binance 1s: live trades close the seeded forming bar, then the next ones
        await wait_until(
            lambda: len(run.candles("binance", "1s", backfill=False)) >= 2, what="live 1s bars"
        )
        seconds = [c.end for c in run.candles("binance", "1s")]
        assert all(b - a == NS_PER_S for a, b in pairwise(seconds)), "no gap, no duplicate"
        last = run.candles("binance", "1s", backfill=True)[-1]
        assert run.candles("binance", "1s", backfill=False)[0].end == last.end + NS_PER_S

        # Coinbase 1m: the seeded forming bar is the one after the last backfilled; a trade past
        # it closes it live, stamped right after the history
        last = run.candles("coinbase", "1m", backfill=True)[-1]
        forming = run.engine.venue_candles[("coinbase", SYM)].forming("1m")
        assert forming is not None and forming.end == last.end + MINUTE
        ts = forming.end + 1
        trade = Trade(
            ts_exchange=ts,
            ts_recv=ts,
            venue="coinbase",
            symbol=SYM,
            trade_id="after-history",
            price=forming.close,
            size=0.01,
            side=Side.BUY,
        )
        run.engine.bus.publish(topics.market_data(SYM), trade)
        await wait_until(
            lambda: bool(run.candles("coinbase", "1m", backfill=False)), what="a live 1m bar"
        )
        minutes = [c.end for c in run.candles("coinbase", "1m")]
        assert all(b - a == MINUTE for a, b in pairwise(minutes)), "no gap, no duplicate"
        live = run.candles("coinbase", "1m", backfill=False)[0]
        assert live.end == last.end + MINUTE and live.open == forming.open
    finally:
        await run.engine.stop()


async def failing(self: Klines, request: web.Request) -> web.Response:
    body = b'{"code":-1000,"msg":"An unknown error occurred while processing the request."}'
    return web.Response(body=body, status=500, content_type="application/json")


async def hanging(self: Klines, request: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("handler", "reason"), [(failing, "-1000"), (hanging, "TimeoutError")], ids=["error", "slow"]
)
async def test_a_venue_whose_rest_fails_fills_live_and_the_others_keep_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: Any, reason: str
) -> None:
    monkeypatch.setattr(Klines, "klines", handler)
    run = Started(tmp_path, timeout=3.0)
    await run.engine.start()
    try:
        [warning] = run.warnings()
        assert "binance" in warning.message and reason in warning.message
        assert not [c for c in run.seen if isinstance(c, Candle) and c.venue == "binance"]
        assert run.engine.venue_candles[("binance", SYM)].forming("1m") is None
        for venue in ("okx", "coinbase"):
            assert len(run.candles(venue, "1m", backfill=True)) == BARS, venue
        await wait_until(
            lambda: bool(run.candles("binance", "1s", backfill=False)), what="live Binance bars"
        )
    finally:
        await run.engine.stop()
