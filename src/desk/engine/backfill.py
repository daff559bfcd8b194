"""Candle history at start: every enabled venue's charts backfilled from its REST candles.

Before the feeds start, every (venue, symbol, timeframe) gets up to ``candles.backfill_bars``
closed bars from the venue's REST candles: OKX ``market/candles`` + ``history-candles``
(``backfill_okx``), Binance ``/api/v3/klines`` (``backfill_binance``), Coinbase
``.../products/{id}/candles`` (``backfill_coinbase``). They are published on
``market_data:{symbol}`` as closed ``Candle`` events of that venue with ``backfill=True`` (the
chart, the indicator board and SQLite take them like any closed bar) and the venue's live
aggregator (``engine.venue_candles[(venue, symbol)]``) continues from them: the venue's bar still
in progress becomes the forming bar that live trades extend.

Timeframes (``backfill_plan``): venues stamp bars by their start, desk by their end (``end =
start + bar``); a timeframe the venue serves is fetched as is, any other whole multiple of one
of its bars is rebuilt from the longest that divides it, and one no bar divides (under a minute
on OKX and Coinbase, which serve no second bars) fills live.

**Bots** warm up on the backfilled bars of their venue but never trade on them:
``BotManager`` ignores backfilled candles, and here every running bot on the (venue, symbol,
timeframe) is fed them directly, its signals dropped, so its indicators and windows are ready
and its first signal comes from a live bar. Model bots (deferred strategies, which decide off
the loop) are not fed: they warm up on live bars.

Venues are fetched concurrently, all within ``backfill_timeout``. A venue that fails or is slow
costs one warning event naming it, never the start nor the other venues' history: its charts
(those not done yet) fill live.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from desk.core import topics
from desk.core.enums import Severity
from desk.core.events import Candle
from desk.engine.backfill_binance import BinanceSource
from desk.engine.backfill_coinbase import CoinbaseSource
from desk.engine.backfill_okx import OKX_BARS, OkxSource, fetch_bars
from desk.engine.backfill_plan import BarPlan, SourceBar, VenueBars, build_candles, plan_for

log = logging.getLogger("desk.engine.backfill")

__all__ = [
    "OKX_BARS",
    "SOURCES",
    "BarPlan",
    "CandleSource",
    "backfill_candles",
    "build_candles",
    "fetch_bars",
    "plan",
    "publish",
]


class CandleSource(Protocol):
    """One venue's REST candles, as the backfill reads them."""

    venue: str
    bars: VenueBars

    async def fetch(
        self, symbol: str, bar: str, bar_s: int, wanted: int
    ) -> Sequence[SourceBar]: ...

    async def close(self) -> None: ...


SOURCES: dict[str, Callable[[str], CandleSource]] = {
    "okx": OkxSource,
    "binance": BinanceSource,
    "coinbase": CoinbaseSource,
}
"""Venue -> the source of its candles, made from the venue's REST URL."""


def plan(timeframe: str) -> BarPlan:
    """The OKX bar a timeframe is fetched or rebuilt from (``backfill_okx``)."""
    return plan_for(timeframe, OKX_BARS)


async def backfill_candles(engine: Any) -> dict[tuple[str, str, str], int]:
    """Backfill every venue, symbol and timeframe of ``engine``; (venue, symbol, timeframe) ->
    closed bars backfilled."""
    config = engine.config
    wanted = config.candles.backfill_bars
    if wanted <= 0 or getattr(getattr(config, "replay", None), "enabled", False):
        return {}
    by_venue: dict[str, dict[str, Any]] = {}
    aggregators = getattr(engine, "venue_candles", None) or {
        ("okx", symbol): a for symbol, a in engine.candles.items()
    }
    for (venue, symbol), aggregator in aggregators.items():
        if venue in SOURCES:
            by_venue.setdefault(venue, {})[symbol] = aggregator
    counts: dict[tuple[str, str, str], int] = {}
    timeout = config.candles.backfill_timeout
    jobs = [
        _venue(engine, venue, symbols, wanted, timeout, counts)
        for venue, symbols in by_venue.items()
    ]
    await asyncio.gather(*jobs)
    return counts


async def _venue(
    engine: Any,
    venue: str,
    aggregators: dict[str, Any],
    wanted: int,
    timeout: float,
    counts: dict[tuple[str, str, str], int],
) -> None:
    """One venue's symbols, concurrently, within ``timeout``; a failure is a warning."""
    started = time.perf_counter()
    source: CandleSource | None = None
    try:
        source = SOURCES[venue](getattr(engine.config.exchanges, venue).rest_url)
        jobs = [
            _symbol(engine, source, symbol, aggregator, wanted, counts)
            for symbol, aggregator in aggregators.items()
        ]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout)
    except Exception as exc:  # any failure of this venue: its charts fill live
        text = f"{venue} candle backfill incomplete ({type(exc).__name__}: {exc}); charts fill live"
        engine.emit("candles", "backfill_failed", text, Severity.WARNING)
    finally:
        if source is not None:
            await source.close()
    took = time.perf_counter() - started
    summary = ", ".join(f"{s} {tf} {n}" for (v, s, tf), n in counts.items() if v == venue)
    engine.emit("candles", "backfilled", f"{venue} candle history in {took:.2f} s: {summary}")


async def _symbol(
    engine: Any,
    source: CandleSource,
    symbol: str,
    aggregator: Any,
    wanted: int,
    counts: dict[tuple[str, str, str], int],
) -> None:
    fetched: dict[str, Sequence[SourceBar]] = {}
    for timeframe in aggregator.timeframes:
        p = plan_for(timeframe, source.bars)
        if p.bar is None:
            continue
        need = (wanted + 2) * p.per
        rows = fetched.get(p.bar)
        if rows is None or len(rows) < need:
            rows = fetched[p.bar] = await source.fetch(symbol, p.bar, p.bar_s, need)
        closed, forming = build_candles(symbol, p, rows, time.time_ns(), source.venue)
        closed = closed[-wanted:]
        publish(engine, closed)
        aggregator.seed(timeframe, closed[-1] if closed else None, forming)
        counts[(source.venue, symbol, timeframe)] = len(closed)


def publish(engine: Any, closed: list[Candle]) -> None:
    """Closed backfilled bars, oldest first: to SQLite, the bus, and running bots' warm-up."""
    if not closed:
        return
    first = closed[0]
    strategies = _warming(engine, first.venue, first.symbol, first.timeframe)
    topic = topics.market_data(first.symbol)
    for candle in closed:
        engine.store.record_candle(candle)
        engine.bus.publish(topic, candle)
        for bot_id, strategy in strategies:
            try:
                strategy.on_candle(candle)  # the signal, if any, is dropped: warm-up only
            except Exception:  # one bot cannot stop the backfill
                log.exception("bot %s: warm-up failed on %d", bot_id, candle.end)


def _warming(engine: Any, venue: str, symbol: str, timeframe: str) -> list[tuple[str, Any]]:
    """(bot id, strategy) of every running bot that trades ``symbol`` on ``timeframe`` off
    ``venue``'s candles and decides on the loop (deferred model strategies warm up live)."""
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
            or getattr(config, "venue", "okx") != venue
        ):
            continue
        strategy = bots.strategy(status.bot_id)
        if not isinstance(strategy, DeferredStrategy):
            out.append((status.bot_id, strategy))
    return out
