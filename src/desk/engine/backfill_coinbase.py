"""The Coinbase side of the candle backfill: its granularities and how they are paged.

Coinbase stamps a candle by its start (Unix seconds); its granularities, ``ONE_MINUTE`` to
``ONE_DAY``, are UTC-aligned as desk's buckets of the same length. Anything else (``3m``,
``4h``, ``1w``) is rebuilt from the longest one that divides it; it has no second bars, so
desk's ``1s``, ``3s``... fill live.

A request names a time range holding at most 350 candles; the backfill asks for ranges of
``PAGE`` (300: under the limit whether the venue counts the range's end bar or not) from the
latest (the forming bar included) back, until it has enough or a range comes back empty (the
start of the venue's history); a bar two ranges both return is kept once. Coinbase's candles
carry no quote volume: it is estimated as the base volume at the bar's typical price ((high +
low + close) / 3).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from desk.engine.backfill_plan import SourceBar, VenueBar, VenueBars
from desk.feeds.coinbase.rest import CoinbaseRestClient, RestCandle
from desk.feeds.coinbase.symbols import to_native

VENUE = "coinbase"
COINBASE_BARS: VenueBars = (
    ("ONE_MINUTE", 60),
    ("FIVE_MINUTE", 300),
    ("FIFTEEN_MINUTE", 900),
    ("THIRTY_MINUTE", 1800),
    ("ONE_HOUR", 3600),
    ("TWO_HOUR", 7200),
    ("SIX_HOUR", 21600),
    ("ONE_DAY", 86400),
)
"""Coinbase candle granularities, shortest first (seconds)."""

PAGE = 300
MAX_PAGES = 20


def venue_bar(candle: RestCandle, bar_s: int, now_ms: int) -> VenueBar:
    """A Coinbase candle as the backfill reads it: closed once its whole interval is past."""
    start_ms = candle.start_s * 1000
    typical = (float(candle.high) + float(candle.low) + float(candle.close)) / 3
    quote = repr(float(candle.volume) * typical)
    return VenueBar(
        start_ms,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.volume,
        quote,
        start_ms + bar_s * 1000 <= now_ms,
    )


class CoinbaseSource:
    """Coinbase's candles for the backfill (desk symbols are Coinbase's product ids)."""

    venue = VENUE
    bars = COINBASE_BARS

    def __init__(self, rest_url: str) -> None:
        self.rest = CoinbaseRestClient(rest_url)

    async def fetch(self, symbol: str, bar: str, bar_s: int, wanted: int) -> Sequence[SourceBar]:
        """Up to ``wanted`` bars (the newest), range by range going back."""
        product = to_native(symbol)
        now_ms = time.time_ns() // 1_000_000
        end = (now_ms // 1000 // bar_s + 1) * bar_s  # just after the bar still forming
        rows: dict[int, RestCandle] = {}
        for _ in range(MAX_PAGES):
            count = min(PAGE, wanted - len(rows))
            if count <= 0:
                break
            start = end - count * bar_s
            page = await self.rest.get_candles(product, bar, start, end)
            if not page:
                break
            for candle in page:
                rows.setdefault(candle.start_s, candle)
            end = start
        newest = sorted(rows, reverse=True)[:wanted]
        return [venue_bar(rows[s], bar_s, now_ms) for s in newest]

    async def close(self) -> None:
        await self.rest.close()
