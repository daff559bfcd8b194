"""Every run kept: a SQLite table of runs, and parquet files of their trades and curves.

``<root>/runs.sqlite`` holds one row per run (backtest, sweep or walk-forward): when, what
(strategy, parameters, config), on which data (symbol, timeframe, venue, source, time range,
bars) and the metrics. ``<root>/<id>/`` holds the bulky parts as parquet (zstd):
``trades.parquet`` and ``equity.parquet`` for a backtest, ``results.parquet`` (every
combination's metrics, ranked) and ``curves.parquet`` (the top curves, when kept) for a sweep,
``windows.parquet`` for a walk-forward. :meth:`RunStore.list` and :meth:`RunStore.get` read
them back (``desk backtest --list`` / ``--show ID``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from desk.backtest.config import BacktestError
from desk.backtest.names import DEFAULT_ROOT, METRIC_NAMES

if TYPE_CHECKING:
    from desk.backtest.data import Candles
    from desk.backtest.run import BacktestResult
    from desk.backtest.sweep import SweepResult
    from desk.backtest.walkforward import WalkForwardResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    strategy TEXT NOT NULL,
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    venue TEXT NOT NULL,
    source TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    bars INTEGER NOT NULL,
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    extra TEXT NOT NULL
);
"""
COLUMNS = (
    "id",
    "created_ns",
    "kind",
    "strategy",
    "symbol",
    "timeframe",
    "venue",
    "source",
    "start_ns",
    "end_ns",
    "bars",
    "params",
    "config",
    "metrics",
    "extra",
)
JSON_COLUMNS = ("params", "config", "metrics", "extra")


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One saved run (the SQLite row, JSON columns decoded)."""

    id: int
    created_ns: int
    kind: str
    strategy: str
    symbol: str
    timeframe: str
    venue: str
    source: str
    start_ns: int
    end_ns: int
    bars: int
    params: dict[str, Any]
    config: dict[str, Any]
    metrics: dict[str, Any]
    extra: dict[str, Any]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")


class RunStore:
    """The runs under ``root`` (created on first save)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self.db = self.root / "runs.sqlite"

    def _connect(self, create: bool) -> sqlite3.Connection:
        if not create and not self.db.is_file():
            raise BacktestError(f"no saved runs under {self.root}")
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db)
        con.executescript(SCHEMA)
        return con

    def folder(self, run_id: int) -> Path:
        return self.root / str(run_id)

    # ---- saving ------------------------------------------------------------------------

    def _insert(
        self,
        kind: str,
        strategy: str,
        candles: Candles,
        params: dict[str, Any],
        config: dict[str, Any],
        metrics: dict[str, Any],
        extra: dict[str, Any],
        files: dict[str, pd.DataFrame],
    ) -> int:
        con = self._connect(create=True)
        try:
            with con:
                cur = con.execute(
                    f"INSERT INTO runs ({', '.join(COLUMNS[1:])}) VALUES "
                    f"({', '.join('?' * (len(COLUMNS) - 1))})",
                    (
                        time.time_ns(),
                        kind,
                        strategy,
                        candles.symbol,
                        candles.timeframe,
                        candles.venue,
                        candles.source,
                        candles.start_ns,
                        candles.end_ns,
                        len(candles),
                        json.dumps(params),
                        json.dumps(config),
                        json.dumps(metrics),
                        json.dumps(extra),
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                folder = self.folder(run_id)
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    for name, frame in files.items():
                        _write_parquet(frame, folder / f"{name}.parquet")
                except Exception:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
        finally:
            con.close()
        return run_id

    def save_backtest(self, result: BacktestResult) -> int:
        c = result.candles.window(result.start, len(result.candles))
        extra = {"signals": result.signals, "fills": result.fills, "skipped": result.skipped}
        return self._insert(
            "backtest",
            result.strategy,
            c,
            result.params,
            result.config.to_dict(),
            result.metrics,
            extra,
            {"trades": result.trades_frame(), "equity": result.equity_frame()},
        )

    def save_sweep(self, result: SweepResult) -> int:
        rows = result.rows()
        table = pd.DataFrame(
            [
                {
                    "rank": r["rank"],
                    "combo": r["combo"],
                    "params": json.dumps(r["params"]),
                    **r["metrics"],
                }
                for r in rows
            ]
        )
        files = {"results": table}
        if result.curves:
            files["curves"] = pd.concat(
                [
                    pd.DataFrame(
                        {"combo": k, "end": result.candles.end[-len(curve) :], "equity": curve}
                    )
                    for k, curve in result.curves.items()
                ],
                ignore_index=True,
            )
        best = rows[0]
        extra = {
            "grid": result.grid.spec(),
            "metric": result.metric,
            "combinations": len(rows),
            "backend": result.backend,
            "workers": result.workers,
            "top": rows[: min(20, len(rows))],
        }
        return self._insert(
            "sweep",
            result.strategy,
            result.candles,
            best["params"],
            result.config.to_dict(),
            best["metrics"],
            extra,
            files,
        )

    def save_walk_forward(self, result: WalkForwardResult) -> int:
        windows = [w.to_dict() for w in result.windows]
        table = pd.DataFrame(
            [
                {
                    "window": w.k,
                    "train_start": w.train[0],
                    "train_end": w.train[1],
                    "test_start": w.test[0],
                    "test_end": w.test[1],
                    "params": json.dumps(w.params),
                    **{f"is_{m}": w.in_sample[m] for m in METRIC_NAMES},
                    **{f"oos_{m}": w.out_of_sample[m] for m in METRIC_NAMES},
                }
                for w in result.windows
            ]
        )
        extra = {"grid": result.grid.spec(), "metric": result.metric, "windows": windows}
        return self._insert(
            "walkforward",
            result.strategy,
            result.candles,
            {},
            result.config.to_dict(),
            result.summary(),
            extra,
            {"windows": table},
        )

    # ---- reading -----------------------------------------------------------------------

    def list(self, limit: int | None = None) -> list[RunRecord]:
        """Saved runs, newest first."""
        if not self.db.is_file():
            return []
        con = self._connect(create=False)
        try:
            sql = f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY id DESC"
            rows = con.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        finally:
            con.close()
        return [self._record(r) for r in rows]

    def get(self, run_id: int) -> RunRecord:
        con = self._connect(create=False)
        try:
            row = con.execute(
                f"SELECT {', '.join(COLUMNS)} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        finally:
            con.close()
        if row is None:
            raise BacktestError(f"no saved run {run_id} under {self.root}")
        return self._record(row)

    def frame(self, run_id: int, name: str) -> pd.DataFrame:
        """One of a run's parquet files (``trades``, ``equity``, ``results``, ...)."""
        path = self.folder(run_id) / f"{name}.parquet"
        if not path.is_file():
            raise BacktestError(f"run {run_id} has no {name} (looked for {path})")
        return pq.read_table(path).to_pandas()

    def trades(self, run_id: int) -> pd.DataFrame:
        return self.frame(run_id, "trades")

    def equity(self, run_id: int) -> pd.DataFrame:
        return self.frame(run_id, "equity")

    @staticmethod
    def _record(row: tuple[Any, ...]) -> RunRecord:
        values = dict(zip(COLUMNS, row, strict=True))
        for key in JSON_COLUMNS:
            values[key] = json.loads(values[key])
        return RunRecord(**values)
