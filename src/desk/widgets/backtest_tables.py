"""The backtest mode's tables: a run's metrics, its trades, and a sweep's ranking.

Values are formatted by what they are (:mod:`desk.backtest.formatting`: percentages, money,
counts, durations); gains and losses, longs and shorts carry the bots tables' theme marks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from desk.backtest.formatting import LABELS, SHORT, fmt_metric
from desk.widgets.bot_tables import MarkedTable
from desk.widgets.formatting import NS
from desk.widgets.keyed_table import Cell, Column

SIGNED = ("total_return", "cagr", "sharpe", "sortino", "calmar", "avg_trade")
RANKED_METRICS = ("total_return", "sharpe", "max_drawdown", "win_rate", "trades")


def utc_stamp(ts_ns: int) -> str:
    """MM-DD HH:MM:SS in UTC."""
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(int(ts_ns) // NS))


def sign_mark(value: Any) -> str:
    if not isinstance(value, int | float) or math.isnan(value) or value == 0:
        return ""
    return "up" if value > 0 else "down"


class MetricsTable(MarkedTable):
    """One row per metric: its name and its value."""

    ALL_COLUMNS: ClassVar[Sequence[Column]] = (
        Column("metric", "metric", 23),
        Column("value", "value", 12, right=True),
    )

    def show_metrics(self, metrics: Mapping[str, float]) -> None:
        rows: dict[str, Mapping[str, Cell]] = {}
        for name, label in LABELS.items():
            if name not in metrics:
                continue
            value = metrics[name]
            mark = sign_mark(value) if name in SIGNED else ""
            rows[name] = {"metric": label, "value": self.mark(fmt_metric(name, value), mark)}
        self.show_records(rows)


class TradesTable(MarkedTable, can_focus=True):
    """The run's round trips, newest last (the last ones the worker sent)."""

    ALL_COLUMNS: ClassVar[Sequence[Column]] = (
        Column("entry", "entry (UTC)", 14),
        Column("exit", "exit (UTC)", 14, drop=3),
        Column("side", "side", 5),
        Column("size", "size", 10, right=True),
        Column("entry_px", "entry px", 11, right=True, drop=2),
        Column("exit_px", "exit px", 11, right=True),
        Column("pnl", "pnl", 10, right=True),
        Column("fees", "fees", 8, right=True, drop=1),
        Column("why", "why", 11, drop=4),
    )

    def show_trades(self, trades: Sequence[Mapping[str, Any]]) -> None:
        rows: dict[str, Mapping[str, Cell]] = {}
        for k, t in enumerate(trades):
            pnl = float(t["pnl"])
            rows[str(k)] = {
                "entry": utc_stamp(t["entry_time"]),
                "exit": utc_stamp(t["exit_time"]),
                "side": self.mark(str(t["side"]), "long" if t["side"] == "long" else "short"),
                "size": f"{float(t['size']):.6g}",
                "entry_px": f"{float(t['entry_price']):,.6g}",
                "exit_px": f"{float(t['exit_price']):,.6g}",
                "pnl": self.mark(f"{pnl:,.2f}", sign_mark(pnl)),
                "fees": f"{float(t['fees']):,.2f}",
                "why": "open" if t["open"] else str(t["reason"]),
            }
        self.show_records(rows)


class RankedTable(MarkedTable, can_focus=True):
    """A sweep's best combinations: rank, the grid's parameters and a few metrics."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor=True)
        self.ranked_rows: list[dict[str, Any]] = []
        self.axes: tuple[str, ...] = ()

    def show_ranked(self, rows: list[dict[str, Any]], axes: Sequence[str], metric: str) -> None:
        """``rows`` as :meth:`SweepResult.rows` gives them; the columns follow the grid."""
        shown = (metric, *(m for m in RANKED_METRICS if m != metric))
        columns = (
            Column("rank", "#", 3, right=True),
            *(Column(f"p:{a}", a, max(6, len(a)), right=True) for a in axes),
            *(
                Column(f"m:{m}", SHORT.get(m, m), 9, right=True, drop=len(shown) - k)
                for k, m in enumerate(shown)
            ),
        )
        if columns != tuple(self.ALL_COLUMNS):
            self.ALL_COLUMNS = columns
            self.COLUMNS = self.fitting_columns(self.size.width or 200)
            self.clear(columns=True)
            self._cells.clear()
            self._add_columns()
        self.ranked_rows, self.axes = rows, tuple(axes)
        records: dict[str, Mapping[str, Cell]] = {}
        for row in rows:
            record: dict[str, Cell] = {"rank": str(row["rank"])}
            record.update({f"p:{a}": str(row["params"].get(a, "")) for a in axes})
            for m in shown:
                value = row["metrics"][m]
                mark = sign_mark(value) if m in SIGNED else ""
                record[f"m:{m}"] = self.mark(fmt_metric(m, value), mark)
            records[str(row["rank"])] = record
        self.show_records(records)

    def selected_params(self) -> dict[str, Any] | None:
        """The parameters of the row under the cursor."""
        key = self.selected_key()
        for row in self.ranked_rows:
            if str(row["rank"]) == key:
                return dict(row["params"])
        return None
