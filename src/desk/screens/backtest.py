"""Backtest mode (``6``): test a strategy, or sweep its parameters, while the engine trades.

The form (:mod:`desk.screens.backtest_form`) says what to run; enter or ``ctrl+r`` starts it in
a worker process (:class:`~desk.backtest.job.BacktestJob`: the UI keeps drawing and the engine
keeps trading), with a progress bar that follows the phases (simulating, sweeping …); ``c``
cancels it. The result: the equity curve with the drawdown underneath, the metrics, the
trades, and for a sweep the ranking and, over two parameters, a heatmap of the chosen metric
(the best combination is the one shown in detail). Every run is saved like ``desk backtest``
saves it, beside the engine's database (``<storage dir>/backtests``).

``a`` applies the parameters (a sweep's: the ranked row under the cursor) to a running bot of
the same strategy: a confirmation names the bot, the parameters and the run, and the change
goes to the engine as the bots mode sends it (``SetBotParams`` through the App), recorded with
the operator as its author and the backtest's run id.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Label, ProgressBar, TabbedContent, TabPane

from desk.backtest.formatting import fmt_metric
from desk.backtest.job import BacktestJob, JobResult, default_workers
from desk.core.commands import SetBotParams
from desk.messages import CommandRequested
from desk.screens.backtest_form import BacktestForm
from desk.screens.base import DeskScreen, bindings
from desk.screens.confirm import Choice, ConfirmScreen
from desk.screens.context import RefreshContext
from desk.widgets.backtest_tables import MetricsTable, RankedTable, TradesTable
from desk.widgets.equity_plot import EquityPlot
from desk.widgets.heatmap import Heatmap

DEFAULT_DATABASE = "data/desk.sqlite"
MAX_BOT_CHOICES = 9


class BacktestScreen(DeskScreen):
    """The form, the progress of the run, and its result in tabs."""

    MODE_TITLE = "backtest"
    BINDINGS = bindings("backtest")
    DEFAULT_CSS = """
    BacktestScreen #bt-form { border-top: solid $panel; }
    BacktestScreen #bt-progress-row { height: 1; background: $surface; padding: 0 1; }
    BacktestScreen #bt-progress { width: 32; }
    BacktestScreen #bt-status {
        width: 1fr; color: $foreground; text-wrap: nowrap; text-overflow: ellipsis;
    }
    BacktestScreen #bt-status.-error { color: $error; text-style: bold; }
    BacktestScreen #bt-results { height: 1fr; }
    BacktestScreen #bt-equity-row, BacktestScreen #bt-sweep-row { height: 1fr; }
    BacktestScreen #bt-side-metrics { display: none; width: 40; border-left: solid $panel; }
    BacktestScreen.-wide #bt-side-metrics { display: block; }
    BacktestScreen #bt-sweep-row { layout: vertical; }
    BacktestScreen.-wide #bt-sweep-row { layout: horizontal; }
    BacktestScreen #bt-ranked { height: 1fr; min-height: 4; }
    BacktestScreen.-wide #bt-ranked { width: 1fr; }
    BacktestScreen #bt-heatmap { height: auto; padding: 0 1; }
    BacktestScreen.-wide #bt-heatmap { width: auto; max-width: 50%; }
    BacktestScreen #bt-empty { color: $muted; padding: 1 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.job: BacktestJob | None = None
        self.result: JobResult | None = None
        self._client: Any = None
        self._runs = str(Path(DEFAULT_DATABASE).parent / "backtests")
        self._database = DEFAULT_DATABASE
        self._started = 0.0
        self._shown: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield self.header
        yield BacktestForm(id="bt-form")
        with Horizontal(id="bt-progress-row"):
            yield ProgressBar(id="bt-progress", show_eta=False)
            yield Label("no run yet — fill the form, enter runs it", id="bt-status")
        with TabbedContent(id="bt-results", initial="bt-tab-equity"):
            with TabPane("equity", id="bt-tab-equity"), Horizontal(id="bt-equity-row"):
                yield EquityPlot(id="bt-equity")
                yield MetricsTable(id="bt-side-metrics")
            with TabPane("metrics", id="bt-tab-metrics"):
                yield MetricsTable(id="bt-metrics")
            with TabPane("trades", id="bt-tab-trades"):
                yield TradesTable(id="bt-trades")
            with TabPane("sweep", id="bt-tab-sweep"), Vertical(id="bt-sweep-row"):
                yield RankedTable(id="bt-ranked")
                yield Heatmap(id="bt-heatmap")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.form = self.query_one(BacktestForm)
        self.progress = self.query_one(ProgressBar)
        self.status = self.query_one("#bt-status", Label)
        self.equity = self.query_one(EquityPlot)
        self.ranked = self.query_one(RankedTable)
        self.heatmap = self.query_one(Heatmap)
        config = getattr(self.app, "config", None)
        if config is not None:  # runs are kept beside the engine's database
            self._database = config.storage.sqlite_path
            self._runs = str(Path(self._database).parent / "backtests")

    def on_unmount(self) -> None:
        if self.job is not None:
            self.job.cancel()

    # -- sampling --------------------------------------------------------------------------

    def sample_body(self, ctx: RefreshContext) -> None:
        self._client = ctx.client
        if not self.form.filled:
            self.form.fill(ctx.client.strategies(), ctx.client.symbols, ctx.client.timeframes,
                           ctx.symbol)  # fmt: skip
            self.query_one("#bt-strategy").focus()
        job = self.job
        if job is None or not job.poll():
            return
        if job.result is not None:
            self.show_result(job.result)
        elif job.error:
            self._status(f"failed: {job.error}", error=True)
            self.progress.update(total=1, progress=0)
        else:
            self.progress.update(total=max(job.total, 1), progress=job.done_count)
            elapsed = time.monotonic() - self._started
            self._status(f"{job.phase} {job.done_count:,}/{job.total:,} · {elapsed:.0f} s")

    def _status(self, text: str, *, error: bool = False) -> None:
        self.status.update(text)
        self.status.set_class(error, "-error")

    def show_result(self, result: JobResult) -> None:
        """Draw a finished run (the job's, or one a test hands over)."""
        self.result = result
        self.progress.update(total=1, progress=1)
        what = f"sweep of {result.combinations:,}, best" if result.kind == "sweep" else "backtest"
        params = " ".join(f"{k}={v}" for k, v in result.params.items())
        metric = result.metrics.get(result.metric, float("nan"))
        self._status(
            f"run #{result.run_id} · {what} {params} · {result.metric} "
            f"{fmt_metric(result.metric, metric)} · {result.data}"
        )
        key = (result.run_id, result.kind)
        self.equity.show(result.end, result.equity, result.drawdown, key)
        for table in self.query(MetricsTable):
            table.show_metrics(result.metrics)
        trades = self.query_one(TradesTable)
        trades.show_trades(result.trades)
        trades.border_title = f"trades · last {len(result.trades)} of {result.trade_count}"
        self.ranked.show_ranked(result.ranked, result.axes, result.metric)
        self.heatmap.show(result.heatmap)
        self.heatmap.display = result.heatmap is not None
        tab = self.query_one(TabbedContent)
        tab.get_tab("bt-tab-sweep").disabled = result.kind != "sweep"

    # -- actions ---------------------------------------------------------------------------

    def on_backtest_form_submitted(self, message: BacktestForm.Submitted) -> None:
        message.stop()
        self.action_run()

    def action_run(self) -> None:
        if self.job is not None and self.job.running:
            self.notify("a run is going: c cancels it", severity="warning")
            return
        request = self.form.request(
            runs=self._runs, database=self._database, workers=default_workers()
        )
        if isinstance(request, str):
            self._status(request, error=True)
            return
        self.job = BacktestJob(request).start()
        self._started = time.monotonic()
        self.progress.update(total=None, progress=0)
        kind = "sweep" if request.grid else "backtest"
        self._status(f"starting the {kind} of {request.strategy} in a worker process …")
        self.action_results()

    def action_cancel_run(self) -> None:
        if self.job is None or not self.job.running:
            self.notify("no run to cancel", severity="information")
            return
        self.job.cancel()
        self.progress.update(total=1, progress=0)
        self._status("canceled")

    def action_results(self) -> None:
        """Leave the form: the result tabs take the keys (numbers switch modes again)."""
        tabs = self.query_one(TabbedContent)
        active = tabs.active_pane
        targets = list(active.query("RankedTable, TradesTable")) if active else []
        (targets[0] if targets else tabs.query_one("Tabs")).focus()

    def action_form(self) -> None:
        self.form.field("params").focus()

    def action_apply(self) -> None:
        """Send the run's parameters to a bot of its strategy, after asking which one."""
        result = self.result
        if result is None or result.run_id is None:
            self.notify("no result to apply yet: run a backtest first", severity="warning")
            return
        params = self.ranked.selected_params() if result.kind == "sweep" else None
        params = params or dict(result.params)
        bots = [b for b in self._bots() if b.strategy == result.strategy][:MAX_BOT_CHOICES]
        if not bots:
            self.notify(
                f"no bot runs {result.strategy}: add one in the bots mode (3, then n)",
                severity="warning",
            )
            return
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        body = [
            f"{result.strategy}: {shown}",
            f"from backtest run #{result.run_id} ({result.data})",
            "The bot's strategy restarts with these parameters; the change is recorded as",
            "yours, with the run id. Which bot?",
        ]
        choices = [
            Choice(b.bot_id, f"{b.bot_id} {b.symbol} {b.timeframe}", str(k))
            for k, b in enumerate(bots, start=1)
        ]
        run_id = result.run_id

        def answer(bot_id: str | None) -> None:
            if bot_id:
                command = SetBotParams(bot_id=bot_id, params=params, backtest_id=run_id)
                self.post_message(CommandRequested(command))

        self.app.push_screen(ConfirmScreen("Apply to a bot?", body, choices), answer)

    def _bots(self) -> list[Any]:
        if self._client is None:
            return []
        try:
            return list(self._client.bots().bots)
        except Exception:  # the engine may not answer yet: nothing to offer
            return []
