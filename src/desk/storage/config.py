"""Storage settings: the SQLite file and its write batching (``storage``)."""

from __future__ import annotations

from desk.core.config import FrozenConfig, PositiveFloat, PositiveInt


class StorageConfig(FrozenConfig, frozen=True):
    sqlite_path: str = "data/desk.sqlite"
    batch_size: PositiveInt = 500
    flush_interval: PositiveFloat = 0.25
    queue_size: PositiveInt = 100_000
