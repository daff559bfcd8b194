"""The candle aggregator's settings (``candles``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from desk.core.config import FrozenConfig
from desk.market.candles import DEFAULT_MAX_FILL_BARS


class CandlesConfig(FrozenConfig, frozen=True):
    """How live candles are made from trades (``desk.market.candles``).

    ``max_fill_bars``: at most this many empty intervals are filled with flat candles at once;
    a longer gap (a sleeping process, a timestamp from another year) is recorded as a gap and
    the series restarts. ``clock``: ``wall`` closes candles on the local clock (live data);
    ``data`` follows the data's own time and never reads the wall clock (a replay of recorded
    data; also set ``exchanges.okx.validation.max_clock_skew: 0`` so old timestamps pass).
    ``backfill_bars``: closed bars of history fetched per symbol and timeframe from the venue's
    REST candles at start (0: none, charts fill live); ``backfill_timeout``: seconds the whole
    backfill may take before the start goes on without the rest (``desk.engine.backfill``).
    """

    max_fill_bars: Annotated[int, msgspec.Meta(ge=0)] = DEFAULT_MAX_FILL_BARS
    clock: Literal["wall", "data"] = "wall"
    backfill_bars: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 300
    backfill_timeout: Annotated[float, msgspec.Meta(gt=0)] = 15.0
