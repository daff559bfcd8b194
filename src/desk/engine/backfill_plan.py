"""Venue-neutral rules of the candle backfill: which venue bar a desk timeframe comes from, and
how venue bars (stamped by their start) become desk candles (stamped by their end).

A venue serves a fixed set of bars (``bars``: (name, seconds), shortest first, each aligned as
desk's epoch-aligned buckets of the same length). A desk timeframe is fetched as the longest
of them that divides it, ``per`` of them making one desk bar: the same bar when one matches
(``per == 1``), else a rebuild (``10m`` from ``5m``, ``1w`` from ``1d``). A timeframe no venue
bar divides (``1s`` where the venue has no second bars) has no plan: it fills live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from desk.core.clock import NS_PER_MS, NS_PER_S
from desk.core.events import Candle
from desk.market.candles import bucket_end
from desk.market.timeframes import parse_timeframe

VenueBars = tuple[tuple[str, int], ...]
"""A venue's REST bars as (its name, seconds), shortest first."""


@dataclass(frozen=True, slots=True)
class BarPlan:
    """How one desk timeframe is backfilled: from ``bar`` (``None``: live only), ``per`` of
    them making one desk bar."""

    timeframe: str
    bar: str | None
    bar_s: int
    per: int


def plan_for(timeframe: str, bars: VenueBars) -> BarPlan:
    """The venue bar ``timeframe`` is fetched or rebuilt from (module docstring)."""
    seconds = parse_timeframe(timeframe) // NS_PER_S
    for name, length in reversed(bars):
        if seconds % length == 0:
            return BarPlan(timeframe, name, length, seconds // length)
    return BarPlan(timeframe, None, 0, 0)


class SourceBar(Protocol):
    """One venue bar as a backfill reads it: its start, prices and volumes (the venue's strings
    or numbers) and whether the venue says it is closed."""

    @property
    def start_ms(self) -> int: ...
    @property
    def open(self) -> str: ...
    @property
    def high(self) -> str: ...
    @property
    def low(self) -> str: ...
    @property
    def close(self) -> str: ...
    @property
    def volume(self) -> str: ...
    @property
    def quote_volume(self) -> str: ...
    @property
    def confirmed(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class VenueBar:
    """A ``SourceBar`` made from a venue's own row (Binance's klines, Coinbase's candles)."""

    start_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    confirmed: bool


def build_candles(
    symbol: str, p: BarPlan, rows: Iterable[SourceBar], now_ns: int, venue: str = "okx"
) -> tuple[list[Candle], Candle | None]:
    """Desk candles of ``venue`` from its rows (any order): the closed ones oldest first, and
    the one still forming (or None). A rebuilt bar missing its oldest source bars is dropped."""
    tf = parse_timeframe(p.timeframe)
    bar_ns = p.bar_s * NS_PER_S
    groups: dict[int, list[SourceBar]] = {}
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
        candle = _candle(venue, symbol, p.timeframe, end, group, done, now_ns)
        if done:
            closed.append(candle)
        else:
            forming = candle
    return closed, forming


def _candle(
    venue: str,
    symbol: str,
    timeframe: str,
    end: int,
    group: list[SourceBar],
    done: bool,
    now_ns: int,
) -> Candle:
    return Candle(
        ts_exchange=end,
        ts_recv=now_ns,
        venue=venue,
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
