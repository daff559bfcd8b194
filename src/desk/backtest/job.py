"""A backtest or a sweep in a worker process, for the UI's backtest mode.

The UI must stay responsive and the engine must keep trading while a backtest runs, so the run
happens in a child process (``spawn``: a clean interpreter, no copy of the UI's threads), which
loads the candles, runs the backtest (or the sweep, and then a backtest of its best
combination for the curve and the trades), saves the run like ``desk backtest`` does, and sends
back a compact :class:`JobResult`: the metrics, the equity and drawdown curves cut to a few
thousand points, the last trades, and for a sweep the ranked rows and, over two parameters,
the heatmap of the chosen metric. Progress comes back as ``(phase, done, total)`` along the way.

:class:`BacktestJob` is the parent's side: start, :meth:`~BacktestJob.poll` (non-blocking; the
UI calls it on its refresh tick), cancel. Importing this module loads neither numba nor pandas:
the child imports the library.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import multiprocessing
import os
import pickle
import queue
import sys
import traceback
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from desk.backtest.names import DEFAULT_ROOT

TRADES_SHOWN = 200
CURVE_POINTS = 2_000
SIM_STEPS_PER_SECOND = 20.0
"""The UI's simulated market steps 20 times a simulated second (the server's 200 is ~25 s of
CPU per simulated hour; 20 keeps the trades and candles, ten times faster)."""


class JobRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the form asks for.

    ``source``: ``sim`` (``hours`` of the simulator's market, ``seed``), ``db`` (the engine's
    SQLite at ``path``) or ``csv`` (the file at ``path``); for the last two ``hours`` > 0 keeps
    only that many hours up to the last candle. ``params``/``grid`` are typed as on the command
    line (``fast=10,slow=30``; ``fast=5:50:5 slow=20:200:10 fast<slow``); a grid makes a sweep
    ranked by ``metric``. ``filters``: a bot's signal filters by name (``confirm_bars`` ...,
    :class:`~desk.backtest.config.BacktestConfig`). Runs are saved under ``runs``.
    """

    strategy: str
    symbol: str
    timeframe: str
    source: Literal["sim", "db", "csv"] = "sim"
    hours: float = 4.0
    path: str = ""
    params: str = ""
    grid: str = ""
    metric: str = "sharpe"
    taker_bps: float = 5.0
    filters: dict[str, float] = {}
    seed: int = 7
    steps_per_second: float = SIM_STEPS_PER_SECOND
    runs: str = DEFAULT_ROOT
    workers: int = 1


class HeatmapData(msgspec.Struct, frozen=True, kw_only=True):
    """``metric`` over two parameters: ``values[i][j]`` at ``y[i]``, ``x[j]`` (NaN: not run)."""

    metric: str
    x_name: str
    y_name: str
    x: list[Any]
    y: list[Any]
    values: list[list[float]]
    best: tuple[int, int] | None = None  # (i, j) of the best cell


class JobResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the UI shows of a finished run (for a sweep: its best combination in detail)."""

    run_id: int | None
    kind: Literal["backtest", "sweep"]
    strategy: str
    symbol: str
    timeframe: str
    data: str
    bars: int
    params: dict[str, Any]
    metrics: dict[str, float]
    end: list[int]
    equity: list[float]
    drawdown: list[float]
    trades: list[dict[str, Any]]
    trade_count: int
    metric: str = "sharpe"
    combinations: int = 0
    axes: list[str] = msgspec.field(default_factory=list)
    ranked: list[dict[str, Any]] = msgspec.field(default_factory=list)
    heatmap: HeatmapData | None = None


def default_workers() -> int:
    """Sweep workers for the UI: every core but one, which the engine keeps."""
    return max(1, (os.cpu_count() or 1) - 1)


# ---- the child's side ----------------------------------------------------------------------


def run_job(request: JobRequest, progress: Any = None) -> JobResult:
    """Run ``request`` here (the child calls this; tests may too).

    ``progress(phase, done, total)`` is called along the way. Bad input raises
    :class:`~desk.backtest.config.BacktestError` with the reason.
    """
    from desk.backtest.config import BacktestConfig
    from desk.backtest.run import backtest, make_strategy, parse_params
    from desk.backtest.store import RunStore

    report = progress or (lambda phase, done, total: None)
    params = parse_params(request.params)
    make_strategy(request.strategy, params)  # a bad name or parameter before any data
    grid = _grid(request, params)
    candles = _candles(request, report)
    config = BacktestConfig(taker_bps=request.taker_bps, **request.filters)  # type: ignore[arg-type]
    store = RunStore(request.runs)
    if grid is None:
        report("backtesting", 0, len(candles))
        result = backtest(candles, request.strategy, params, config)
        report("backtesting", len(candles), len(candles))
        run_id = store.save_backtest(result)
        return _result(request, "backtest", run_id, candles, result)
    from desk.backtest.sweep import sweep

    swept = sweep(
        candles, request.strategy, grid, config, base=params, metric=request.metric,
        workers=request.workers, progress=lambda done, total: report("sweeping", done, total),
    )  # fmt: skip
    run_id = store.save_sweep(swept)
    best = swept.best()["params"]
    report("best in detail", 0, 1)
    result = backtest(candles, request.strategy, best, config)
    return _result(
        request, "sweep", run_id, candles, result,
        combinations=len(swept.indices), axes=list(grid.names), ranked=swept.rows(20),
        heatmap=_heatmap(swept),
    )  # fmt: skip


def _grid(request: JobRequest, params: dict[str, Any]) -> Any:
    if not request.grid.strip():
        return None
    from desk.backtest.grid import Grid

    grid = Grid.parse([request.grid])
    grid.check(request.strategy, params)
    return grid


def _candles(request: JobRequest, report: Any) -> Any:
    from desk.backtest.config import BacktestError
    from desk.backtest.data import load_csv, load_sqlite, simulate_candles

    if request.source == "sim":
        return simulate_candles(
            request.hours, request.symbol, request.timeframe, seed=request.seed,
            steps_per_second=request.steps_per_second,
            progress=lambda done, total: report("simulating", done, total),
        )  # fmt: skip
    report("loading", 0, 1)
    if not request.path:
        raise BacktestError(f"no {'database' if request.source == 'db' else 'CSV file'} named")
    if request.source == "db":
        candles = load_sqlite(request.path, request.symbol, request.timeframe)
    else:
        candles = load_csv(request.path, request.symbol, request.timeframe)
    if request.hours > 0:
        candles = candles.between(candles.end_ns - int(request.hours * 3600e9), None)
    return candles


def _result(
    request: JobRequest, kind: Literal["backtest", "sweep"], run_id: int, candles: Any,
    result: Any, **sweep: Any,
) -> JobResult:  # fmt: skip
    from desk.backtest.report import describe_data

    frame = result.equity_frame()
    end, equity, drawdown = _thin(
        frame["end"].to_numpy(), frame["equity"].to_numpy(), frame["drawdown"].to_numpy()
    )
    trades = result.trades_frame()
    rows = [
        {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
        for row in trades.tail(TRADES_SHOWN).to_dict("records")
    ]
    return JobResult(
        run_id=run_id,
        kind=kind,
        strategy=request.strategy,
        symbol=candles.symbol,
        timeframe=candles.timeframe,
        data=describe_data(
            candles.symbol,
            candles.timeframe,
            candles.source,
            candles.start_ns,
            candles.end_ns,
            len(candles),
        ),
        bars=len(candles),
        params=dict(result.params),
        metrics={k: float(v) for k, v in result.metrics.items()},
        end=end,
        equity=equity,
        drawdown=drawdown,
        trades=rows,
        trade_count=len(trades),
        metric=request.metric,
        **sweep,
    )


def _thin(end: Any, equity: Any, drawdown: Any) -> tuple[list[int], list[float], list[float]]:
    """At most CURVE_POINTS points: per bucket its last stamp and equity and its worst
    drawdown (a plot of a million bars must still show the deepest hole)."""
    n = len(equity)
    if n <= CURVE_POINTS:
        return [int(x) for x in end], [float(x) for x in equity], [float(x) for x in drawdown]
    import numpy as np

    edges = np.linspace(0, n, CURVE_POINTS + 1).astype(np.int64)
    last = edges[1:] - 1
    worst = np.minimum.reduceat(drawdown, edges[:-1])
    return end[last].tolist(), equity[last].tolist(), worst.tolist()


def _heatmap(swept: Any) -> HeatmapData | None:
    """The chosen metric over a two-parameter grid (cells the constraints left out are NaN)."""
    from desk.backtest.names import METRIC_NAMES, sort_key

    axes = swept.grid.axes
    if len(axes) != 2:
        return None
    (y_name, ys), (x_name, xs) = axes
    values = [[math.nan] * len(xs) for _ in ys]
    col = METRIC_NAMES.index(swept.metric)
    best: tuple[float, int, tuple[int, int]] | None = None
    for pos, index in enumerate(swept.indices.tolist()):
        i, j = divmod(int(index), len(xs))
        value = float(swept.table[pos, col])
        values[i][j] = value
        key = (sort_key(swept.metric, value), int(index), (i, j))
        if best is None or key[:2] < best[:2]:
            best = key
    return HeatmapData(
        metric=swept.metric, x_name=x_name, y_name=y_name, x=list(xs), y=list(ys),
        values=values, best=best[2] if best is not None else None,
    )  # fmt: skip


def _child(request: JobRequest, out: Any) -> None:
    """The worker process: progress, then ("done", result) or ("error", reason).

    Its output goes to ``<runs>/worker.log``, never to the terminal the UI draws on.
    """
    _log_output(Path(request.runs) / "worker.log")

    def progress(phase: str, done: int, total: int) -> None:
        out.put(("progress", phase, done, total))

    try:
        from desk.backtest.config import BacktestError

        try:
            result = run_job(request, progress)
        except BacktestError as exc:
            out.put(("error", str(exc)))
            return
        out.put(("done", msgspec.msgpack.encode(result)))
    except Exception as exc:  # a bug: the reason goes to the UI, the trace to stderr
        traceback.print_exc()
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _log_output(path: Path) -> None:
    """Send this process's stdout and stderr (file descriptors too) to ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (the process's)
    except OSError:
        log = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    for fd in (1, 2):
        os.dup2(log.fileno(), fd)
    sys.stdout = sys.stderr = log


@contextlib.contextmanager
def _real_stdio() -> Iterator[None]:
    """Real stdout/stderr while a process starts: a UI (Textual) replaces them with objects
    without a file descriptor, which multiprocessing's helper process cannot inherit."""
    saved = sys.stdout, sys.stderr
    try:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            try:
                ok = stream is not None and stream.fileno() >= 0
            except (AttributeError, OSError, ValueError):
                ok = False
            if not ok:
                setattr(sys, name, getattr(sys, f"__{name}__") or open(os.devnull, "w"))  # noqa: SIM115
        yield
    finally:
        sys.stdout, sys.stderr = saved


# ---- the parent's side ---------------------------------------------------------------------


class BacktestJob:
    """One request running in its own process; :meth:`poll` it, read ``progress``/``result``/
    ``error`` after."""

    def __init__(self, request: JobRequest) -> None:
        self.request = request
        self.phase = "starting"
        self.done_count = 0
        self.total = 0
        self.result: JobResult | None = None
        self.error = ""
        self.canceled = False
        self._context = multiprocessing.get_context("spawn")
        self._queue: Any = None
        self._process: Any = None

    def start(self) -> BacktestJob:
        with _real_stdio():
            self._queue = self._context.Queue()
            # Not daemonic: a sweep's own loky workers need a parent that may have children.
            # cancel() (and the exit hook) end it; it never outlives the UI.
            self._process = self._context.Process(
                target=_child, args=(self.request, self._queue), name="desk-backtest"
            )
            self._process.start()
        atexit.register(_cancel_at_exit, weakref.ref(self))
        return self

    @property
    def running(self) -> bool:
        return self.result is None and not self.error and not self.canceled

    def poll(self) -> bool:
        """Take what the process sent so far (never blocks); whether anything changed."""
        if self._process is None or self.canceled:
            return False
        changed = False
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
            except (EOFError, OSError, pickle.UnpicklingError) as exc:  # a torn message
                self.error, self.phase = f"lost the backtest process's answer: {exc!r}", "failed"
                changed = True
                break
            changed = True
            kind = message[0]
            if kind == "progress":
                _, self.phase, self.done_count, self.total = message
            elif kind == "done":
                self.result = msgspec.msgpack.decode(message[1], type=JobResult)
                self.phase = "done"
            else:
                self.error = message[1]
                self.phase = "failed"
        if self.running and not self._process.is_alive() and self._queue.empty():
            self.error = f"the backtest process ended unexpectedly (exit {self._process.exitcode})"
            self.phase = "failed"
            changed = True
        if not self.running:
            self._reap()
        return changed

    def cancel(self) -> None:
        """Stop the process now (a result not yet received is dropped)."""
        if self.running:
            self.canceled = True
            self.phase = "canceled"
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
        self._reap()

    def _reap(self) -> None:
        process = self._process
        if process is not None and process.pid is not None and not process.is_alive():
            process.join(timeout=0)


def _cancel_at_exit(ref: weakref.ref[BacktestJob]) -> None:
    job = ref()
    if job is not None and job._process.is_alive():
        job._process.terminate()
        job._process.join(timeout=5)
