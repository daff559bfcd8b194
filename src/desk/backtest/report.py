"""How backtest results look in a terminal: metrics tables, ranked sweeps, walk-forward, runs.

Rich renderables for :mod:`desk.backtest.command`; numbers are formatted by what they are
(percentages, ratios, money, durations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from desk.backtest.data import fmt_ns
from desk.backtest.formatting import LABELS, SHORT, fmt_metric
from desk.backtest.plot import equity_plot


def metrics_table(metrics: Mapping[str, Any], title: str = "Metrics") -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for name, label in LABELS.items():
        if name in metrics:
            table.add_row(label, fmt_metric(name, metrics[name]))
    return table


def plot_panel(equity: np.ndarray, end: np.ndarray, width: int, title: str) -> Panel:
    lines = equity_plot(
        equity,
        width=width - 4,
        start_label=fmt_ns(int(end[0]))[:16] if len(end) else "",
        end_label=fmt_ns(int(end[-1]))[:16] if len(end) else "",
    )
    return Panel(Text("\n".join(lines), style="green"), title=title, expand=False)


def trades_table(trades: Any, limit: int = 10) -> Table:
    """The last ``limit`` trades of a trades frame."""
    table = Table(
        title=f"Trades (last {min(limit, len(trades))} of {len(trades)})", title_justify="left"
    )
    for col in ("entry", "exit", "side", "size", "entry px", "exit px", "pnl", "fees", "why"):
        table.add_column(col, justify="right" if col not in ("side", "why") else "left")
    for row in trades.tail(limit).itertuples():
        table.add_row(
            fmt_ns(int(row.entry_time))[:19],
            fmt_ns(int(row.exit_time))[:19],
            row.side,
            f"{row.size:g}",
            f"{row.entry_price:,.6g}",
            f"{row.exit_price:,.6g}",
            Text(f"{row.pnl:,.2f}", style="green" if row.pnl > 0 else "red"),
            f"{row.fees:,.2f}",
            "open" if row.open else row.reason,
        )
    return table


def header(strategy: str, params: Mapping[str, Any], candles_desc: str) -> Text:
    shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
    return Text.assemble((strategy, "bold"), f" ({shown})  ", (candles_desc, "dim"))


def describe_data(
    symbol: str, timeframe: str, source: str, start_ns: int, end_ns: int, bars: int
) -> str:
    return f"{symbol} {timeframe}, {bars:,} bars {fmt_ns(start_ns)} .. {fmt_ns(end_ns)} [{source}]"


RANK_METRICS = (
    "total_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "win_rate",
    "profit_factor",
    "trades",
    "final_equity",
)


def ranked_table(
    rows: Sequence[Mapping[str, Any]], axes: Iterable[str], metric: str, title: str
) -> Table:
    axes = list(axes)
    shown = [metric] + [m for m in RANK_METRICS if m != metric]
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    for name in axes:
        table.add_column(name, justify="right", style="cyan")
    for name in shown:
        label = SHORT.get(name, name)
        table.add_column(label, justify="right", style="bold" if name == metric else None)
    for row in rows:
        params = row["params"]
        table.add_row(
            str(row["rank"]),
            *[str(params.get(a, "")) for a in axes],
            *[fmt_metric(m, row["metrics"][m]) for m in shown],
        )
    return table


def walk_forward_table(windows: Sequence[Any], metric: str) -> Table:
    table = Table(
        title=f"Walk-forward ({metric}: in-sample vs out-of-sample)", title_justify="left"
    )
    for col in (
        "step",
        "train",
        "test",
        "params",
        f"IS {metric}",
        f"OOS {metric}",
        "IS return",
        "OOS return",
    ):
        table.add_column(col, justify="right" if col != "params" else "left")
    for w in windows:
        table.add_row(
            str(w.k),
            f"{fmt_ns(w.train[0])[:16]} .. {fmt_ns(w.train[1])[:16]}",
            f"{fmt_ns(w.test[0])[:16]} .. {fmt_ns(w.test[1])[:16]}",
            ", ".join(f"{k}={v}" for k, v in w.params.items()),
            fmt_metric(metric, w.in_sample[metric]),
            fmt_metric(metric, w.out_of_sample[metric]),
            fmt_metric("total_return", w.in_sample["total_return"]),
            fmt_metric("total_return", w.out_of_sample["total_return"]),
        )
    return table


def runs_table(records: Sequence[Any]) -> Table:
    table = Table(title="Saved runs", title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("kind")
    table.add_column("strategy", no_wrap=True)
    table.add_column("data", no_wrap=True)
    table.add_column("params")
    for col in ("return", "sharpe", "max dd"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in records:
        m = r.metrics
        table.add_row(
            str(r.id),
            fmt_ns(r.created_ns)[5:16].replace("T", " "),
            r.kind,
            r.strategy,
            f"{r.symbol} {r.timeframe} x{r.bars:,}",
            ", ".join(f"{k}={v}" for k, v in r.params.items()) or "-",
            fmt_metric("total_return", m.get("total_return")),
            fmt_metric("sharpe", m.get("sharpe")),
            fmt_metric("max_drawdown", m.get("max_drawdown")),
        )
    return table


def group(*items: Any) -> Group:
    return Group(*[i for i in items if i is not None])


def make_console(stderr: bool = False) -> Any:
    """A rich console; piped output is 160 columns wide so tables are not squeezed."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


@contextmanager
def progress_bar(what: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (done/total, rate, ETA); yields the update callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    out = make_console(stderr=True)
    if not out.is_terminal:  # scripts and pipes get no bars, only the result
        yield lambda done, total: None
        return
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task(what, total=None, rate="")

        def update(done: int, total: int) -> None:
            speed = bar.tasks[0].speed
            rate = f"{speed:,.0f} {unit}/s" if speed else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield update
