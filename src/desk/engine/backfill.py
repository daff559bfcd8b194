"""Candle history at start: each OKX symbol's chart backfilled from the venue's REST candles.

Before the feeds start, every configured (symbol, timeframe) gets up to
``candles.backfill_bars`` closed bars from ``GET /api/v5/market/candles`` (the latest 300) and,
for more depth, ``history-candles`` (100 a page, older). They are published on
``market_data:{symbol}`` as closed ``Candle`` events with ``backfill=True`` (the chart, the
indicator board and SQLite take them like any closed bar) and the live aggregator continues
from them: the venue's bar still in progress becomes the forming bar that live trades extend.

Timeframes and OKX bars (OKX stamps a bar by its start, desk by its end: ``end = start + bar``):

* same length and alignment, fetched as is: ``1m 3m 5m 15m 30m`` and ``1h 2h 4h`` (``1H 2H
  4H``); ``6h 12h 1d`` use the UTC-anchored ``6Hutc 12Hutc 1Dutc`` (OKX's plain ``6H``... start
  at UTC+8 midnight, desk's days at UTC midnight);
* any other whole number of minutes is rebuilt from the longest OKX bar that divides it (``10m``
  from ``5m``, ``8h`` from ``4H``, ``1w`` from ``1Dutc``: OKX's weeks start on Monday, desk's
  on the epoch's Thursday);
* under a minute (``1s``, ``3s`` ...): OKX's REST serves no second bars, so those fill live.

**Bots** warm up on the backfilled bars but never trade on them: ``BotManager`` ignores
backfilled candles, and here every running bot on the (symbol, timeframe) is fed them
directly, its signals dropped, so its indicators and windows are ready and its first signal
comes from a live bar. Model bots (deferred strategies, which decide off the loop) are not fed:
they warm up on live bars.

A venue that fails or is slow (``backfill_timeout`` in all) costs a warning event, never the
start: those charts fill live.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from desk.core import topics
from desk.core.clock import NS_PER_MS, NS_PER_S
from desk.core.enums import Severity
from desk.core.events import Candle
from desk.feeds.okx.rest import OkxRestClient, RestCandle
from desk.market.candles import bucket_end
from desk.market.timeframes import parse_timeframe

log = logging.getLogger("desk.engine.backfill")

OKX_BARS: tuple[tuple[str, int], ...] = (
    ("1m", 60),
    ("3m", 180),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1800),
    ("1H", 3600),
    ("2H", 7200),
    ("4H", 14400),
    ("6Hutc", 21600),
    ("12Hutc", 43200),
    ("1Dutc", 86400),
)
"""OKX REST bars aligned as desk's epoch-aligned buckets, shortest first (seconds)."""

RECENT_LIMIT = 300
HISTORY_LIMIT = 100
MAX_PAGES = 20


@dataclass(frozen=True, slots=True)
class BarPlan:
    """How one desk timeframe is backfilled: from ``bar`` (``None``: live only), ``per`` of
    them making one desk bar."""

    timeframe: str
    bar: str | None
    bar_s: int
    per: int


def plan(timeframe: str) -> BarPlan:
    """The OKX bar a timeframe is fetched or rebuilt from (see the module docstring)."""
    seconds = parse_timeframe(timeframe) // NS_PER_S
    for name, length in reversed(OKX_BARS):
        if seconds % length == 0:
            return BarPlan(timeframe, name, length, seconds // length)
    return BarPlan(timeframe, None, 0, 0)


async def fetch_bars(rest: OkxRestClient, symbol: str, bar: str, wanted: int) -> list[RestCandle]:
    """Up to ``wanted`` bars (newest first): the recent page, then history pages."""
    rows = await rest.get_candles(symbol, bar, limit=min(RECENT_LIMIT, max(1, wanted)))
    pages = 0
    while rows and len(rows) < wanted and pages < MAX_PAGES:
        older = await rest.get_candles(
            symbol, bar, after=rows[-1].start_ms, limit=HISTORY_LIMIT, history=True
        )
        older = [r for r in older if r.start_ms < rows[-1].start_ms]
        if not older:
            break
        rows += older
        pages += 1
    return rows[:wanted]


def build_candles(
    symbol: str, p: BarPlan, rows: Iterable[RestCandle], now_ns: int
) -> tuple[list[Candle], Candle | None]:
    """Desk candles from OKX rows (any order): the closed ones oldest first, and the one still
    forming (or None). A rebuilt bar missing its oldest source bars is dropped."""
    tf = parse_timeframe(p.timeframe)
    bar_ns = p.bar_s * NS_PER_S
    groups: dict[int, list[RestCandle]] = {}
    for row in sorted(rows, key=lambda r: r.start_ms):
        end = bucket_end(row.start_ms * NS_PER_MS + bar_ns, tf)
        groups.setdefault(end, []).append(row)
    closed: list[Candle] = []
    forming: Candle | None = None
    for end, group in groups.items():
        if group[0].start_ms * NS_PER_MS > end - tf:
            continue  # the oldest desk bar lacks its first source bars
        done = all(r.confirmed for r in group) and end <= now_ns
        if len(group) < p.per and done:
            continue  # a hole in the venue's data: better no bar than a wrong one
        candle = _candle(symbol, p.timeframe, end, group, done, now_ns)
        if done:
            closed.append(candle)
        else:
            forming = candle
    return closed, forming


def _candle(
    symbol: str, timeframe: str, end: int, group: list[RestCandle], done: bool, now_ns: int
) -> Candle:
    return Candle(
        ts_exchange=end,
        ts_recv=now_ns,
        venue="okx",
        symbol=symbol,
        timeframe=timeframe,
        end=end,
        open=float(group[0].open),
        high=max(float(r.high) for r in group),
        low=min(float(r.low) for r in group),
        close=float(group[-1].close),
        volume=sum(float(r.volume) for r in group),
        quote_volume=sum(float(r.quote_volume) for r in group),
        trades=0,
        closed=done,
        backfill=True,
    )


async def backfill_candles(engine: Any) -> dict[tuple[str, str], int]:
    """Backfill every OKX symbol and timeframe of ``engine``; (symbol, timeframe) -> bars."""
    config = engine.config
    wanted = config.candles.backfill_bars
    if wanted <= 0 or getattr(getattr(config, "replay", None), "enabled", False):
        return {}
    started = time.perf_counter()
    rest = OkxRestClient(config.exchanges.okx.rest_url)
    counts: dict[tuple[str, str], int] = {}
    try:
        jobs = [_symbol(engine, rest, symbol, wanted, counts) for symbol in engine.candles]
        await asyncio.wait_for(asyncio.gather(*jobs), config.candles.backfill_timeout)
    except Exception as exc:  # any venue failure: the charts fill live
        text = f"candle backfill incomplete ({type(exc).__name__}: {exc}); charts fill live"
        engine.emit("candles", "backfill_failed", text, Severity.WARNING)
    finally:
        await rest.close()
    took = time.perf_counter() - started
    summary = ", ".join(f"{s} {tf} {n}" for (s, tf), n in counts.items())
    engine.emit("candles", "backfilled", f"candle history in {took:.2f} s: {summary}")
    return counts


async def _symbol(
    engine: Any, rest: OkxRestClient, symbol: str, wanted: int, counts: dict[Any, int]
) -> None:
    aggregator = engine.candles[symbol]
    fetched: dict[str, list[RestCandle]] = {}
    for timeframe in aggregator.timeframes:
        p = plan(timeframe)
        if p.bar is None:
            continue
        need = (wanted + 2) * p.per
        rows = fetched.get(p.bar)
        if rows is None or len(rows) < need:
            rows = fetched[p.bar] = await fetch_bars(rest, symbol, p.bar, need)
        closed, forming = build_candles(symbol, p, rows, time.time_ns())
        closed = closed[-wanted:]
        publish(engine, closed)
        aggregator.seed(timeframe, closed[-1] if closed else None, forming)
        counts[(symbol, timeframe)] = len(closed)


def publish(engine: Any, closed: list[Candle]) -> None:
    """Closed backfilled bars, oldest first: to SQLite, the bus, and running bots' warm-up."""
    if not closed:
        return
    first = closed[0]
    strategies = _warming(engine, first.symbol, first.timeframe)
    topic = topics.market_data(first.symbol)
    for candle in closed:
        engine.store.record_candle(candle)
        engine.bus.publish(topic, candle)
        for bot_id, strategy in strategies:
            try:
                strategy.on_candle(candle)  # the signal, if any, is dropped: warm-up only
            except Exception:  # one bot cannot stop the backfill
                log.exception("bot %s: warm-up failed on %d", bot_id, candle.end)


def _warming(engine: Any, symbol: str, timeframe: str) -> list[tuple[str, Any]]:
    """(bot id, strategy) of every running bot that trades ``symbol`` on ``timeframe`` on OKX
    and decides on the loop (deferred model strategies warm up live)."""
    from desk.signals.bots import BotState
    from desk.signals.strategies.deferred import DeferredStrategy

    out = []
    bots = engine.bots
    for status in bots.statuses():
        config = bots.config(status.bot_id)
        if (
            status.state is not BotState.RUNNING
            or config.symbol != symbol
            or config.timeframe != timeframe
            or getattr(config, "venue", "okx") != "okx"
        ):
            continue
        strategy = bots.strategy(status.bot_id)
        if not isinstance(strategy, DeferredStrategy):
            out.append((status.bot_id, strategy))
    return out
