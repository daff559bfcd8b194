"""The OKX side of the candle backfill: its bars and how they are paged.

OKX stamps a bar by its start. ``1m 3m 5m 15m 30m`` and ``1H 2H 4H`` are aligned as desk's
buckets; ``6h 12h 1d`` use the UTC-anchored ``6Hutc 12Hutc 1Dutc`` (OKX's plain ``6H``... start
at UTC+8 midnight, desk's days at UTC midnight). OKX's weeks start on Monday, desk's on the
epoch's Thursday, so ``1w`` is rebuilt from ``1Dutc``. Its REST serves no second bars.

``GET /api/v5/market/candles`` gives the latest 300; ``history-candles`` (100 a page, older)
gives more depth.
"""

from __future__ import annotations

from collections.abc import Sequence

from desk.engine.backfill_plan import SourceBar, VenueBars
from desk.feeds.okx.rest import OkxRestClient, RestCandle

VENUE = "okx"
OKX_BARS: VenueBars = (
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


class OkxSource:
    """OKX's REST candles for the backfill (desk symbols are OKX's instrument ids)."""

    venue = VENUE
    bars = OKX_BARS

    def __init__(self, rest_url: str) -> None:
        self.rest = OkxRestClient(rest_url)

    async def fetch(self, symbol: str, bar: str, bar_s: int, wanted: int) -> Sequence[SourceBar]:
        return await fetch_bars(self.rest, symbol, bar, wanted)

    async def close(self) -> None:
        await self.rest.close()
