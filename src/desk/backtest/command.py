"""``desk backtest`` and ``desk sweep``: argument sets and the code that runs them.

cli.py wires them in with a few lines::

    bt = sub.add_parser("backtest", help="backtest a strategy on candles")
    add_backtest_arguments(bt)          # ... and in main(): return run_backtest(args)
    sw = sub.add_parser("sweep", help="sweep a strategy's parameters")
    add_sweep_arguments(sw)             # ... and in main(): return run_sweep(args)

Data: ``--data FILE.csv`` (see :mod:`desk.backtest.data` for the columns and the time
convention), ``--sim HOURS`` of the simulator's market, or else the engine's SQLite database
(``--db``, default ``data/desk.sqlite``, desk's ``storage.sqlite_path``); ``--from``/``--to``
narrow the range. Progress goes to stderr (rich bars), results to stdout: a metrics table, an
equity plot and the last trades; or, with ``--json``, one JSON document. Every run is saved
under ``--runs`` (default ``data/backtests``) unless ``--no-save``; ``desk backtest --list``
and ``--show ID`` read them back. Bad input exits with status 2 and one line saying why.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desk.backtest.config import BacktestConfig, BacktestError
from desk.backtest.names import DEFAULT_ROOT, METRIC_NAMES, json_safe

if TYPE_CHECKING:
    from desk.backtest.data import Candles

# The library (numba, pandas, pyarrow, rich) is imported inside the functions that run a
# command: `desk` builds this parser on every start, whatever the subcommand.

DEFAULT_DB = "data/desk.sqlite"  # desk's storage.sqlite_path default


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", help="strategy name (ma_crossover, rsi_mean_reversion, ...)")
    p.add_argument("--symbol", default="BTC-USDT", help="instrument (default BTC-USDT)")
    p.add_argument("--timeframe", default="1m", help="candle timeframe (default 1m)")
    p.add_argument("--params", default="", help="strategy parameters: fast=10,slow=30 or JSON")
    data = p.add_argument_group("data (default: the engine's SQLite candles)")
    src = data.add_mutually_exclusive_group()
    src.add_argument(
        "--data", metavar="PATH", help="a CSV of OHLCV candles, or a recording directory"
    )
    src.add_argument("--sim", type=float, metavar="HOURS", help="HOURS of simulated market")
    data.add_argument("--db", default=DEFAULT_DB, help=f"desk's SQLite (default {DEFAULT_DB})")
    data.add_argument("--venue", default=None, help="venue of the SQLite candles")
    data.add_argument("--from", dest="from_", metavar="TIME", help="first time (ISO or epoch)")
    data.add_argument("--to", metavar="TIME", help="last time (ISO or epoch)")
    data.add_argument(
        "--csv-stamp",
        choices=("start", "end"),
        default=None,
        help="the CSV time is each candle's start (default) or end",
    )
    data.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    data.add_argument(
        "--steps-per-second", type=float, default=200.0, help="simulator steps per second"
    )
    bt = p.add_argument_group("simulation")
    bt.add_argument("--cash", type=float, default=10_000.0, help="starting equity (quote)")
    bt.add_argument("--sizing", choices=("fixed", "fraction", "atr"), default="fraction")
    bt.add_argument("--size", type=float, default=None, help="fixed size, or the cap")
    bt.add_argument("--fraction", type=float, default=1.0, help="equity share (fraction)")
    bt.add_argument("--risk-budget", type=float, default=0.0, help="quote at risk (atr)")
    bt.add_argument("--atr-multiple", type=float, default=2.0, help="ATRs to the stop (atr)")
    bt.add_argument("--fees-bps", type=float, default=5.0, help="taker fee in bps (default 5)")
    bt.add_argument("--maker-bps", type=float, default=2.0, help="maker fee in bps (default 2)")
    bt.add_argument("--order-type", choices=("market", "limit"), default="market")
    bt.add_argument("--slippage-bps", type=float, default=0.0, help="market slippage, bps")
    bt.add_argument(
        "--slippage-range", type=float, default=0.0, help="market slippage, share of bar range"
    )
    bt.add_argument(
        "--fill",
        choices=("open", "close"),
        default="open",
        help="fill at the next bar's open (default) or the signal bar's close",
    )
    bt.add_argument("--leverage", type=float, default=1.0, help="max leverage (0: no cap)")
    bt.add_argument("--stop-loss", type=float, default=None, help="exit at this loss (0.02=2%%)")
    bt.add_argument("--take-profit", type=float, default=None, help="exit at this gain")
    bt.add_argument("--tick", type=float, default=None, help="price tick (default: instrument)")
    bt.add_argument("--lot", type=float, default=None, help="size lot (default: instrument)")
    bt.add_argument("--min-size", type=float, default=None, help="minimum order size")
    f = p.add_argument_group("a bot's signal filters (as in the bots mode; default: none)")
    f.add_argument("--min-strength", type=float, default=0.0, help="drop weaker signals (0-1)")
    f.add_argument("--cooldown", type=float, default=0.0, help="seconds between sent signals")
    f.add_argument("--confirm-bars", type=int, default=1, help="bars a direction must stand")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print JSON on stdout (for scripts)")
    out.add_argument("--runs", default=DEFAULT_ROOT, help=f"saved runs (default {DEFAULT_ROOT})")
    out.add_argument("--no-save", action="store_true", help="do not save this run")


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """``desk backtest``: one run; or ``--list`` / ``--show ID`` of saved runs."""
    _add_common(parser)
    saved = parser.add_argument_group("saved runs")
    saved.add_argument("--list", action="store_true", help="list saved runs")
    saved.add_argument("--show", type=int, metavar="ID", help="show saved run ID")
    saved.add_argument("--limit", type=int, default=30, help="runs listed (default 30)")
    parser.add_argument("--trades", type=int, default=10, help="trades shown (default 10)")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """``desk sweep``: a grid or random search, optionally walk-forward."""
    _add_common(parser)
    s = parser.add_argument_group("sweep")
    s.add_argument(
        "--grid",
        nargs="+",
        default=[],
        metavar="AXIS",
        help="name=start:stop:step or name=a,b,c (and constraints like fast<slow)",
    )
    s.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="EXPR",
        help="e.g. 'fast<slow' (repeatable)",
    )
    s.add_argument(
        "--random",
        type=int,
        default=None,
        metavar="N",
        help="random search: N combinations drawn from the grid",
    )
    s.add_argument("--sample-seed", type=int, default=0, help="seed of the random search")
    s.add_argument("--metric", default="sharpe", choices=METRIC_NAMES, help="rank by (sharpe)")
    s.add_argument("--backend", choices=("loky", "dask"), default="loky")
    s.add_argument("--scheduler", default=None, help="Dask scheduler, e.g. tcp://HOST:8786")
    s.add_argument("--workers", type=int, default=None, help="parallel workers (default: cores)")
    s.add_argument("--top", type=int, default=20, help="rows shown (default 20)")
    s.add_argument("--curves", type=int, default=0, help="keep the top N equity curves")
    s.add_argument(
        "--walk-forward",
        type=int,
        default=None,
        metavar="N",
        help="N steps: optimise on window k, test on k+1",
    )


# ---- shared --------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> BacktestConfig:
    values: dict[str, Any] = {
        "cash": args.cash,
        "sizing": args.sizing,
        "size": math.inf if args.size is None else args.size,
        "fraction": args.fraction,
        "risk_budget": args.risk_budget,
        "atr_multiple": args.atr_multiple,
        "maker_bps": args.maker_bps,
        "taker_bps": args.fees_bps,
        "order_type": args.order_type,
        "slippage_bps": args.slippage_bps,
        "slippage_range": args.slippage_range,
        "fill": args.fill,
        "leverage": args.leverage if args.leverage and args.leverage > 0 else None,
        "stop_loss": args.stop_loss,
        "take_profit": args.take_profit,
        "min_strength": args.min_strength,
        "cooldown_s": args.cooldown,
        "confirm_bars": args.confirm_bars,
    }
    for name in ("tick", "lot", "min_size"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    return BacktestConfig(**values)


def load_candles(args: argparse.Namespace) -> Candles:
    """The candles the arguments name (CSV, simulator or SQLite), ``--from``/``--to`` applied."""
    from desk.backtest.data import load_csv, load_sqlite, parse_time, simulate_candles
    from desk.backtest.report import progress_bar

    start = parse_time(args.from_) if args.from_ else None
    end = parse_time(args.to) if args.to else None
    if start is not None and end is not None and end <= start:
        raise BacktestError(f"--to ({args.to}) must be after --from ({args.from_})")
    if args.data and Path(args.data).is_dir():  # a recording (desk.backtest.recording_data)
        from desk.backtest.recording_data import load_recording

        return load_recording(
            args.data, args.symbol, args.timeframe, venue=args.venue, start_ns=start, end_ns=end
        )
    if args.data:
        return load_csv(
            args.data, args.symbol, args.timeframe, stamp=args.csv_stamp, start_ns=start, end_ns=end
        )
    if args.sim is not None:
        with progress_bar(f"simulating {args.sim:g} h of {args.symbol}", "steps") as update:
            candles = simulate_candles(
                args.sim,
                args.symbol,
                args.timeframe,
                seed=args.seed,
                steps_per_second=args.steps_per_second,
                progress=update,
            )
        if start is not None or end is not None:
            candles = candles.between(start, end)
        return candles
    return load_sqlite(
        args.db, args.symbol, args.timeframe, venue=args.venue, start_ns=start, end_ns=end
    )


def _fail(command: str, exc: Exception) -> int:
    print(f"desk {command}: {exc}", file=sys.stderr)
    return 2


def _print_json(value: Any) -> None:
    print(json.dumps(json_safe(value), indent=2, allow_nan=False))


def _require_strategy(args: argparse.Namespace) -> str:
    if not args.strategy:
        raise BacktestError("--strategy is required (e.g. --strategy ma_crossover)")
    return str(args.strategy)


def _data_desc(c: Candles) -> str:
    from desk.backtest.report import describe_data

    extra = f", {c.filled} gaps filled" if c.filled else ""
    return describe_data(c.symbol, c.timeframe, c.source, c.start_ns, c.end_ns, len(c)) + extra


# ---- desk backtest -------------------------------------------------------------------------


def run_backtest(args: argparse.Namespace) -> int:
    """``desk backtest``; returns the exit status."""
    try:
        if args.list:
            return _list_runs(args)
        if args.show is not None:
            return _show_run(args)
        return _backtest(args)
    except BacktestError as exc:
        return _fail("backtest", exc)


def _backtest(args: argparse.Namespace) -> int:
    from desk.backtest import report
    from desk.backtest.report import make_console, progress_bar
    from desk.backtest.run import backtest, make_strategy, parse_params
    from desk.backtest.store import RunStore

    strategy = _require_strategy(args)
    params = parse_params(args.params)
    make_strategy(strategy, params)  # refuse a bad name or parameter before loading data
    config = _config(args)
    candles = load_candles(args)
    with progress_bar(f"backtesting {strategy}", "bars") as update:
        update(0, len(candles))
        result = backtest(candles, strategy, params, config)
        update(len(candles), len(candles))
    run_id = None if args.no_save else RunStore(args.runs).save_backtest(result)
    if args.json:
        _print_json(
            {
                "id": run_id,
                "strategy": strategy,
                "params": params,
                "symbol": candles.symbol,
                "timeframe": candles.timeframe,
                "source": candles.source,
                "start_ns": candles.start_ns,
                "end_ns": candles.end_ns,
                "bars": len(candles),
                "config": result.config.to_dict(),
                "signals": result.signals,
                "skipped": result.skipped,
                "metrics": result.metrics,
            }
        )
        return 0
    console = make_console()
    saved = f"saved as run {run_id}" if run_id is not None else "not saved"
    console.print(report.header(strategy, params, _data_desc(candles)))
    console.print(report.metrics_table(result.metrics, title=f"Metrics ({saved})"))
    console.print(report.plot_panel(result.equity, result.end, min(console.width, 100), "Equity"))
    trades = result.trades_frame()
    if len(trades) and args.trades > 0:
        console.print(report.trades_table(trades, args.trades))
    if result.skipped:
        console.print(
            f"[yellow]{result.skipped} signal(s) not traded: sizing or the minimum "
            "size refused them[/]"
        )
    return 0


def _list_runs(args: argparse.Namespace) -> int:
    from desk.backtest import report
    from desk.backtest.store import RunStore

    records = RunStore(args.runs).list(args.limit)
    if args.json:
        _print_json([_record_dict(r) for r in records])
        return 0
    if not records:
        print(f"no saved runs under {args.runs}")
        return 0
    report.make_console().print(report.runs_table(records))
    return 0


def _record_dict(record: Any) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(record)


def _show_run(args: argparse.Namespace) -> int:
    from desk.backtest import report
    from desk.backtest.report import make_console
    from desk.backtest.store import RunStore

    store = RunStore(args.runs)
    record = store.get(args.show)
    if args.json:
        _print_json(_record_dict(record))
        return 0
    console = make_console()
    desc = report.describe_data(
        record.symbol, record.timeframe, record.source, record.start_ns, record.end_ns, record.bars
    )
    console.print(report.header(record.strategy, record.params, desc))
    console.print(report.metrics_table(record.metrics, title=f"Run {record.id} ({record.kind})"))
    if record.kind == "backtest":
        equity = store.equity(record.id)
        console.print(
            report.plot_panel(
                equity["equity"].to_numpy(),
                equity["end"].to_numpy(),
                min(console.width, 100),
                "Equity",
            )
        )
        trades = store.trades(record.id)
        if len(trades):
            console.print(report.trades_table(trades, args.trades))
    elif record.kind == "sweep":
        top = record.extra.get("top", [])
        axes = list(record.extra.get("grid", {}).get("axes", {}))
        console.print(
            report.ranked_table(
                top,
                axes,
                record.extra["metric"],
                f"Top {len(top)} of {record.extra['combinations']}",
            )
        )
    return 0


# ---- desk sweep ----------------------------------------------------------------------------


def run_sweep(args: argparse.Namespace) -> int:
    """``desk sweep``; returns the exit status."""
    try:
        return _sweep(args)
    except BacktestError as exc:
        return _fail("sweep", exc)


def _sweep(args: argparse.Namespace) -> int:
    from desk.backtest import report
    from desk.backtest.grid import Grid
    from desk.backtest.report import make_console, progress_bar
    from desk.backtest.run import parse_params
    from desk.backtest.store import RunStore
    from desk.backtest.sweep import sweep
    from desk.backtest.walkforward import walk_forward

    strategy = _require_strategy(args)
    if not args.grid:
        raise BacktestError("--grid is required (e.g. --grid fast=5:50:5 slow=20:200:10)")
    if args.backend == "dask" and not args.scheduler:
        raise BacktestError("--backend dask needs --scheduler tcp://HOST:8786")
    if args.workers is not None and args.workers < 1:
        raise BacktestError(f"--workers must be >= 1, got {args.workers}")
    base = parse_params(args.params)
    grid = Grid.parse(args.grid, args.constraint)
    grid.check(strategy, base)  # refuse unknown names before loading data
    config = _config(args)
    candles = load_candles(args)
    options: dict[str, Any] = {
        "backend": args.backend,
        "workers": args.workers,
        "scheduler": args.scheduler,
        "sample": args.random,
        "seed": args.sample_seed,
    }
    store = None if args.no_save else RunStore(args.runs)
    if args.walk_forward:
        with progress_bar("walk-forward", "combos") as update:
            wf = walk_forward(
                candles,
                strategy,
                grid,
                config,
                windows=args.walk_forward,
                base=base,
                metric=args.metric,
                progress=update,
                **options,
            )
        run_id = store.save_walk_forward(wf) if store else None
        if args.json:
            _print_json(
                {
                    "id": run_id,
                    "metric": args.metric,
                    "summary": wf.summary(),
                    "windows": [w.to_dict() for w in wf.windows],
                }
            )
            return 0
        console = make_console()
        console.print(report.header(strategy, base, _data_desc(candles)))
        console.print(report.walk_forward_table(wf.windows, args.metric))
        console.print(_summary_text(wf.summary(), run_id))
        return 0
    with progress_bar(f"sweeping {strategy}", "combos") as update:
        result = sweep(
            candles,
            strategy,
            grid,
            config,
            base=base,
            metric=args.metric,
            curves=args.curves,
            progress=update,
            **options,
        )
    run_id = store.save_sweep(result) if store else None
    rows = result.rows(args.top)
    if args.json:
        _print_json(
            {
                "id": run_id,
                "strategy": strategy,
                "metric": args.metric,
                "combinations": len(result.indices),
                "backend": result.backend,
                "workers": result.workers,
                "rows": rows,
            }
        )
        return 0
    console = make_console()
    console.print(report.header(strategy, base, _data_desc(candles)))
    saved = f"saved as run {run_id}" if run_id is not None else "not saved"
    title = (
        f"Top {len(rows)} of {len(result.indices):,} by {args.metric} ({result.backend}, "
        f"{result.workers} workers; {saved})"
    )
    console.print(report.ranked_table(rows, grid.names, args.metric, title))
    if result.curves:
        best = int(result.indices[result.order()[0]])
        curve = result.curves[best]
        console.print(
            report.plot_panel(
                curve,
                candles.end[-len(curve) :],
                min(console.width, 100),
                f"Equity of the best (combo {best})",
            )
        )
    return 0


def _summary_text(summary: dict[str, float], run_id: int | None) -> str:
    parts = [f"{k.replace('_', ' ')}: {v:.4g}" for k, v in summary.items()]
    saved = f" (saved as run {run_id})" if run_id is not None else ""
    return "; ".join(parts) + saved
