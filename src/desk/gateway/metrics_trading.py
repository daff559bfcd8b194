"""The trading half of ``/metrics``: orders, fills, rejects, risk, money, bots and models.

Read at scrape time from the execution service (OMS, portfolio, risk), the bot manager and its
model pool; fills, rejects and denials from the :class:`~desk.gateway.tally.TradeTally`. A split
role that runs no execution (or no bots) simply has none of those series.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from desk.core.orders import OrderStatus
from desk.execution.risk_rules import RiskState
from desk.gateway.source import EngineSource
from desk.gateway.tally import TradeTally
from desk.signals.bots import BotMode, BotState


def trading_metrics(source: EngineSource, tally: TradeTally) -> Iterator[Metric]:
    yield from _flow(tally)
    execution = source.execution
    if execution is not None:
        yield from _orders(execution)
        yield from _money(execution)
    yield from _bots(source.bots, execution)
    yield from _models(source.bots)


def _flow(tally: TradeTally) -> Iterator[Metric]:
    fills = CounterMetricFamily("desk_fills", "Fills received", labels=["symbol", "side"])
    for (symbol, side), count in sorted(tally.fills.items()):
        fills.add_metric([symbol, side], count)
    rejects = CounterMetricFamily(
        "desk_order_rejects", "Orders rejected, by kind (risk, invalid, blocked, venue)",
        labels=["reason"],
    )  # fmt: skip
    for reason, count in sorted(tally.rejects.items()):
        rejects.add_metric([reason], count)
    denials = CounterMetricFamily(
        "desk_risk_denials", "Orders risk refused, by rule", labels=["reason"]
    )
    for reason, count in sorted(tally.denials.items()):
        denials.add_metric([reason], count)
    yield from (fills, rejects, denials)


def _orders(execution: Any) -> Iterator[Metric]:
    oms = execution.oms
    by_state = Counter(str(order.status) for order in oms.orders(sys.maxsize))
    family = GaugeMetricFamily(
        "desk_orders", "Orders the OMS tracks (this run and its look-back), by state",
        labels=["state"],
    )  # fmt: skip
    for state in OrderStatus:
        family.add_metric([str(state)], by_state.get(str(state), 0))
    yield family
    yield GaugeMetricFamily(
        "desk_trading_blocked",
        "1 while bots may not trade (reconciliation with the venue pending)",
        value=1.0 if oms.trading_blocked else 0.0,
    )


def _money(execution: Any) -> Iterator[Metric]:
    portfolio, risk = execution.portfolio, execution.risk
    totals = portfolio.totals()
    for name, doc, value in (
        ("desk_equity", "Starting cash + realised - fees + unrealised", portfolio.equity()),
        ("desk_pnl_realized", "Realised PnL, all accounts", totals.realized_pnl),
        ("desk_pnl_unrealized", "Unrealised PnL at the marks, all accounts", totals.unrealized_pnl),
        ("desk_fees", "Fees paid (rebates negative), all accounts", totals.fees),
        ("desk_pnl_daily", "PnL since the UTC day began", totals.daily_pnl),
        ("desk_gross_exposure", "Sum of |size| x mark over all positions", totals.gross_exposure),
    ):
        yield GaugeMetricFamily(name, f"{doc} (quote currency)", value=float(value))
    size = GaugeMetricFamily(
        "desk_position_size", "Signed position (base currency)", labels=["bot", "symbol"]
    )
    notional = GaugeMetricFamily(
        "desk_position_notional", "|size| x mark (quote currency)", labels=["bot", "symbol"]
    )
    for position in portfolio.positions():
        key = [position.bot_id, position.symbol]
        size.add_metric(key, float(position.size))
        notional.add_metric(key, float(position.notional))
    yield from (size, notional)
    state = GaugeMetricFamily(
        "desk_risk_state", "1 for the risk state the desk is in", labels=["state"]
    )
    for candidate in RiskState:
        state.add_metric([str(candidate)], 1.0 if risk.state is candidate else 0.0)
    yield state


def _bots(bots: Any, execution: Any) -> Iterator[Metric]:
    statuses = bots.statuses() if bots is not None else []
    if not statuses:
        return
    state = GaugeMetricFamily("desk_bot_state", "1 for the bot's state", labels=["bot", "state"])
    mode = GaugeMetricFamily("desk_bot_mode", "1 for the bot's mode", labels=["bot", "mode"])
    signals = CounterMetricFamily("desk_bot_signals", "Signals the bot made", labels=["bot"])
    sent = CounterMetricFamily("desk_bot_orders_sent", "Signals sent as orders", labels=["bot"])
    pnl = GaugeMetricFamily(
        "desk_bot_pnl", "Realised + unrealised - fees (quote currency)", labels=["bot"]
    )
    portfolio = execution.portfolio if execution is not None else None
    for status in statuses:
        bot = status.bot_id
        for candidate in BotState:
            state.add_metric([bot, str(candidate)], 1.0 if status.state is candidate else 0.0)
        for candidate in BotMode:
            mode.add_metric([bot, str(candidate)], 1.0 if status.mode is candidate else 0.0)
        signals.add_metric([bot], status.signal_count)
        sent.add_metric([bot], status.sent_count)
        if portfolio is not None:
            pnl.add_metric([bot], float(portfolio.totals(bot).net))
    yield from (state, mode, signals, sent, pnl)


def _models(bots: Any) -> Iterator[Metric]:
    pool = getattr(bots, "models", None)
    health = pool.health() if pool is not None else []
    if not health:
        return  # no model runs: no model series
    latency = GaugeMetricFamily(
        "desk_model_inference_latency_seconds",
        "Model inference latency over the recent window, at the quantile",
        labels=["model", "quantile"],
    )
    counts = {
        name: CounterMetricFamily(f"desk_model_{name}", doc, labels=["model"])
        for name, doc in (
            ("predictions", "Predictions made"),
            ("late", "Predictions that came after a newer bar"),
            ("dropped", "Requests dropped (the queue was full)"),
            ("errors", "Predictions that failed"),
        )
    }
    queued = GaugeMetricFamily("desk_model_queue_depth", "Requests waiting", labels=["model"])
    for model in health:
        for quantile, micros in (("0.5", model.infer_p50_us), ("0.99", model.infer_p99_us)):
            if micros is not None:
                latency.add_metric([model.model_id, quantile], micros / 1e6)
        for name, family in counts.items():
            family.add_metric([model.model_id], getattr(model, name))
        queued.add_metric([model.model_id], model.queued)
    yield latency
    yield from counts.values()
    yield queued
