"""The backtest mode's form: what to test, on which data, with which parameters or grid.

Fields: strategy, symbol, timeframe, the metric a sweep ranks by (and its heatmap shows), the
data (the simulator's market generated offline, the engine's own SQLite candles, or a CSV
file), the period (hours: simulated, or the last hours of the stored data; ``4h``, ``90m``,
``2d``; empty = all stored), the taker fee, the parameters (``fast=10,slow=30`` or JSON,
prefilled with the strategy's defaults), a grid (``fast=5:50:5 slow=20:200:10 fast<slow``;
empty: one backtest) and a bot's signal filters (``confirm_bars=2,cooldown_s=60``; empty:
none), so a run trades what a bot with those filters would send. :meth:`BacktestForm.request`
turns them into a :class:`~desk.backtest.job.JobRequest`, or says what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select

from desk.backtest.job import SIM_STEPS_PER_SECOND, JobRequest
from desk.backtest.names import METRIC_NAMES
from desk.bridge.views import StrategyInfo

SOURCES = (("simulated", "sim"), ("engine candles", "db"), ("CSV file", "csv"))
PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd]?)\s*$")
HOURS_PER = {"m": 1 / 60, "h": 1.0, "d": 24.0, "": 1.0}
FILTERS = ("min_strength", "cooldown_s", "confirm_bars")
"""A bot's signal filters (:class:`~desk.signals.bots.BotConfig`), as a backtest takes them."""


def parse_period(text: str, source: str) -> float | str:
    """Hours from ``4h`` / ``90m`` / ``2d`` / ``6``; 0 (all) for empty stored data; or why not."""
    if not text.strip():
        return "period: how many hours to simulate (e.g. 4h)" if source == "sim" else 0.0
    match = PERIOD.match(text.lower())
    if match is None:
        return f"period: {text.strip()!r} is not a duration like 4h, 90m or 2d"
    hours = float(match.group(1)) * HOURS_PER[match.group(2)]
    if not hours > 0:
        return "period: must be more than 0"
    return hours


def parse_filters(text: str) -> dict[str, float] | str:
    """``confirm_bars=2,cooldown_s=60`` (commas or spaces) as numbers by name; or why not."""
    out: dict[str, float] = {}
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or name not in FILTERS:
            return f"filters: {part!r} is not one of {', '.join(f + '=...' for f in FILTERS)}"
        try:
            number = float(value)
        except ValueError:
            return f"filters: {name} = {value!r} is not a number"
        out[name] = int(number) if name == "confirm_bars" and number.is_integer() else number
    return out


def params_text(values: dict[str, Any]) -> str:
    """Parameters as a person types them: ``fast=10,slow=30``, or JSON for nested values."""
    if any(isinstance(v, dict | list) for v in values.values()):
        return json.dumps(values)
    return ",".join(f"{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in values.items())


class BacktestForm(Vertical):
    """The form; posts :class:`BacktestForm.Submitted` on enter in any field."""

    DEFAULT_CSS = """
    BacktestForm { height: auto; background: $surface; padding: 0 1; }
    BacktestForm > Grid {
        grid-size: 4;
        grid-columns: 10 1fr 10 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
    }
    BacktestForm .bt-label { color: $muted; }
    BacktestForm .bt-span { column-span: 3; }
    BacktestForm #bt-hint { color: $muted; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    class Submitted(Message):
        """Enter was pressed in a field: run what the form says."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.strategies: dict[str, StrategyInfo] = {}
        self.filled = False

    def compose(self) -> ComposeResult:
        with Grid():
            yield Label("strategy", classes="bt-label")
            yield Select([], id="bt-strategy", allow_blank=True, compact=True)
            yield Label("symbol", classes="bt-label")
            yield Select([], id="bt-symbol", allow_blank=True, compact=True)
            yield Label("timeframe", classes="bt-label")
            yield Select([], id="bt-timeframe", allow_blank=True, compact=True)
            yield Label("rank by", classes="bt-label")
            metrics = [(m, m) for m in METRIC_NAMES]
            yield Select(metrics, value="sharpe", id="bt-metric", allow_blank=False, compact=True)
            yield Label("data", classes="bt-label")
            yield Select(SOURCES, value="sim", id="bt-source", allow_blank=False, compact=True)
            yield Label("period", classes="bt-label")
            yield Input("4h", id="bt-period", compact=True, placeholder="4h, 90m, 2d")
            yield Label("fees bps", classes="bt-label")
            yield Input("5", id="bt-fees", compact=True)
            yield Label("file", classes="bt-label")
            yield Input("", id="bt-file", compact=True, placeholder="CSV path (data: CSV file)")
            yield Label("params", classes="bt-label")
            yield Input("", id="bt-params", compact=True, classes="bt-span")
            yield Label("grid", classes="bt-label")
            yield Input(
                "",
                id="bt-grid",
                compact=True,
                classes="bt-span",
                placeholder="empty: one backtest · fast=5:50:5 slow=20:200:10 fast<slow: a sweep",
            )
            yield Label("filters", classes="bt-label")
            yield Input(
                "",
                id="bt-filters",
                compact=True,
                classes="bt-span",
                placeholder="bot signal filters: min_strength=0.2 cooldown_s=60 confirm_bars=2",
            )
        yield Label(
            f"enter or ctrl+r runs · esc: results · simulated data: seed 7, "
            f"{SIM_STEPS_PER_SECOND:g} steps/s",
            id="bt-hint",
        )

    def fill(
        self,
        strategies: Sequence[StrategyInfo],
        symbols: Sequence[str],
        timeframes: Sequence[str],
        symbol: str = "",
    ) -> None:
        """Offer what the engine knows; the first strategy's defaults go into params."""
        self.strategies = {info.name: info for info in strategies}
        names = list(self.strategies)
        first = "ma_crossover" if "ma_crossover" in self.strategies else (names[0] if names else "")
        self._options("#bt-strategy", names, first)
        self._options("#bt-symbol", list(symbols), symbol if symbol in symbols else symbols[0])
        tf = "1m" if "1m" in timeframes else timeframes[0]
        self._options("#bt-timeframe", list(timeframes), tf)
        self.set_defaults(first)
        self.filled = True

    def _options(self, selector: str, values: list[str], value: str) -> None:
        select = self.query_one(selector, Select)
        select.set_options([(v, v) for v in values])
        if value:
            select.value = value

    def set_defaults(self, strategy: str) -> None:
        info = self.strategies.get(strategy)
        self.field("params").value = params_text(info.defaults) if info is not None else ""

    def field(self, name: str) -> Input:
        """The input ``bt-<name>`` (period, fees, file, params, grid, filters)."""
        return self.query_one(f"#bt-{name}", Input)

    def choice(self, name: str) -> str:
        """The value of the select ``bt-<name>`` ('' when blank)."""
        value = self.query_one(f"#bt-{name}", Select).value
        return value if isinstance(value, str) else ""

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "bt-strategy" and isinstance(event.value, str):
            self.set_defaults(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted())

    def request(self, *, runs: str, database: str, workers: int) -> JobRequest | str:
        """The job the fields describe, or the first thing wrong with them."""
        strategy, symbol, timeframe = (self.choice(n) for n in ("strategy", "symbol", "timeframe"))
        if not (strategy and symbol and timeframe):
            return "choose a strategy, a symbol and a timeframe"
        source = self.choice("source") or "sim"
        hours = parse_period(self.field("period").value, source)
        if isinstance(hours, str):
            return hours
        fees_text = self.field("fees").value.strip() or "5"
        try:
            fees = float(fees_text)
        except ValueError:
            return f"fees bps: {fees_text!r} is not a number"
        filters = parse_filters(self.field("filters").value)
        if isinstance(filters, str):
            return filters
        path = database if source == "db" else self.field("file").value.strip()
        if source == "csv" and not path:
            return "file: the CSV to test on (data: CSV file)"
        return JobRequest(
            strategy=strategy,
            symbol=symbol,
            timeframe=timeframe,
            source=source,  # type: ignore[arg-type]
            hours=hours,
            path=path,
            params=self.field("params").value.strip(),
            grid=self.field("grid").value.strip(),
            metric=self.choice("metric") or "sharpe",
            taker_bps=fees,
            filters=filters,
            runs=runs,
            workers=workers,
        )
