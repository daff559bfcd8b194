"""The recorder's settings (``recorder``): what it records, where, and how it bounds memory."""

from __future__ import annotations

from typing import Literal

from desk.core.config import FrozenConfig, PositiveFloat, PositiveInt

RECORDED_KINDS = ("raw", "trades", "books", "tickers", "candles", "funding")

Kind = Literal["raw", "trades", "books", "tickers", "candles", "funding"]


class RecorderConfig(FrozenConfig, frozen=True):
    """``enabled``: record in ``desk engine`` / ``desk --sim`` / the feed role, and run
    ``desk record``. ``path``: the root of the hive-partitioned parquet tree. ``kinds``: what to
    record (raw frames and the normalised kinds). ``flush_interval``: seconds between writes (a
    crash loses at most this much). ``rotate``: one finalised file per hour (``1h``) or per day
    (``1d``). ``max_backlog``: rows waiting per buffer before new ones are dropped (and a
    ``dropped`` gap row says how many). ``row_group_rows``: parquet row-group size for scans.
    """

    enabled: bool = False
    path: str = "data/recordings"
    kinds: tuple[Kind, ...] = RECORDED_KINDS
    flush_interval: PositiveFloat = 5.0
    rotate: Literal["1h", "1d"] = "1h"
    max_backlog: PositiveInt = 500_000
    row_group_rows: PositiveInt = 128 * 1024

    def __post_init__(self) -> None:
        if not self.path.strip():
            raise ValueError("@path: must name a folder for the recordings")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("@kinds: a kind is listed twice")
        if self.flush_interval > 3600:
            raise ValueError(f"@flush_interval: at most 3600 s, got {self.flush_interval}")
