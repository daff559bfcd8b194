"""Shared pieces of the recorder tests: an engine config on the simulator, reading a tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from desk.config import DeskConfig, parse_config


def sim_config(
    tmp_path: Path,
    *,
    exchanges: dict[str, Any] | None = None,
    symbols: tuple[str, ...] = ("BTC-USDT", "ETH-USDT"),
    steps_per_second: int = 400,
    **recorder: Any,
) -> DeskConfig:
    """An engine on the simulator (every venue in ``exchanges`` too) recording to ``rec``."""
    return parse_config(
        {
            "exchanges": exchanges or {},
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": list(symbols),
                "timeframes": ["1s"],
                "channels": ["trades", "books", "tickers"],
            },
            "storage": {"sqlite_path": str(tmp_path / "desk.sqlite")},
            "simulator": {
                "enabled": True,
                "port": 0,
                "seed": 5,
                "steps_per_second": steps_per_second,
            },
            "recorder": {"enabled": True, "path": str(tmp_path / "rec"), **recorder},
        }
    )


def read_kind(root: Path, kind: str, venue: str = "okx") -> pd.DataFrame:
    """One kind of one venue, as a reader would load it (every finalised file of it)."""
    folder = root / f"venue={venue}" / f"kind={kind}"
    if not folder.exists():
        return pd.DataFrame()
    return pd.read_parquet(folder)


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def rows_in(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
