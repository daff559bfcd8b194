"""The Binance side of the candle backfill: its kline intervals and how they are paged.

Binance stamps a kline by its open time; every interval up to ``1d`` is UTC-aligned as desk's
buckets of the same length, ``1s`` included (Binance serves second bars, so desk's ``1s``,
``3s``... backfill too). Binance's weeks start on Monday and its ``3d`` bars need not fall on
desk's buckets, so ``3d`` and ``1w`` are rebuilt from ``1d``.

``GET /api/v3/klines`` gives up to 1000 a request, oldest first, the last one still forming;
older pages are asked for with ``endTime`` just before the oldest bar so far.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from desk.engine.backfill_plan import SourceBar, VenueBar, VenueBars
from desk.feeds.binance.rest import KLINES_MAX, BinanceRestClient, Kline
from desk.feeds.binance.symbols import to_native

VENUE = "binance"
BINANCE_BARS: VenueBars = (
    ("1s", 1),
    ("1m", 60),
    ("3m", 180),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("4h", 14400),
    ("6h", 21600),
    ("8h", 28800),
    ("12h", 43200),
    ("1d", 86400),
)
"""Binance kline intervals aligned as desk's epoch-aligned buckets, shortest first (seconds)."""

MAX_PAGES = 20


def venue_bar(kline: Kline, bar_ms: int, now_ms: int) -> VenueBar:
    """A kline as the backfill reads it: closed once its whole interval is past."""
    return VenueBar(
        kline.open_time,
        kline.open,
        kline.high,
        kline.low,
        kline.close,
        kline.volume,
        kline.quote_volume,
        kline.open_time + bar_ms <= now_ms,
    )


class BinanceSource:
    """Binance's klines for the backfill (``BTC-USDT`` asked for as ``BTCUSDT``)."""

    venue = VENUE
    bars = BINANCE_BARS

    def __init__(self, rest_url: str) -> None:
        self.rest = BinanceRestClient(rest_url)

    async def fetch(self, symbol: str, bar: str, bar_s: int, wanted: int) -> Sequence[SourceBar]:
        """Up to ``wanted`` bars (the newest), in pages going back."""
        native = to_native(symbol)
        rows = await self.rest.get_klines(native, bar, min(KLINES_MAX, max(1, wanted)))
        pages = 0
        while rows and len(rows) < wanted and pages < MAX_PAGES:
            limit = min(KLINES_MAX, wanted - len(rows))
            older = await self.rest.get_klines(native, bar, limit, end_ms=rows[0].open_time - 1)
            older = [k for k in older if k.open_time < rows[0].open_time]
            if not older:
                break
            rows = older + rows
            pages += 1
        now_ms = time.time_ns() // 1_000_000
        return [venue_bar(k, bar_s * 1000, now_ms) for k in rows[-wanted:]]

    async def close(self) -> None:
        await self.rest.close()
