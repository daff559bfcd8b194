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
    """

    max_fill_bars: Annotated[int, msgspec.Meta(ge=0)] = DEFAULT_MAX_FILL_BARS
    clock: Literal["wall", "data"] = "wall"
