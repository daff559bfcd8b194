"""``/metrics`` of a real engine on the simulator, parsed with prometheus_client's parser, is
the engine's own counters: feeds, latency histograms, orders, fills, risk denials, money."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import websockets
from prometheus_client import generate_latest

from desk.core.commands import SubmitOrder
from desk.core.enums import Side
from desk.core.histogram import EDGES_NS
from desk.core.orders import OrderRequest, OrderStatus, OrderType
from tests.gateway.support import (
    TIMEOUT,
    by_name,
    exposed_names,
    gateway_config,
    running,
    samples,
    scrape,
    value,
    ws_url,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-desk.json"
OPTIONAL = ("desk_model_", "desk_redis_")
"""Series that exist only while a model runs, or while the engine is linked to Redis."""


async def test_metrics_are_the_engines_own_counters(tmp_path: Path) -> None:
    async with running(gateway_config(tmp_path / "desk.sqlite", {})) as engine:
        execution, feed = engine.execution, engine.feeds.feeds[0]
        assert execution is not None, engine.execution_error
        await wait_until(
            lambda: (
                len(execution.oms.fills(1000)) >= 2
                and engine.bots.tick_to_order.histogram.count >= 1
            ),
            TIMEOUT,
            "the bot's orders filled",
        )
        too_big = OrderRequest(
            symbol="BTC-USDT", side=Side.BUY, order_type=OrderType.MARKET, size=Decimal(5)
        )
        await engine.commands.execute(SubmitOrder(request=too_big))
        await wait_until(
            lambda: any(d.reason.startswith("max order notional") for d in execution.risk.denials),
            TIMEOUT,
            "the risk denial",
        )

        # Over HTTP: the text parses, and a moving counter lies between two readings of it.
        before = feed.counters.messages
        text = await scrape(engine)
        after = feed.counters.messages
        found = samples(text)
        scraped = value(found, "desk_feed_messages_total", venue="okx", connection="okx")
        assert before <= scraped <= after

        # The example dashboard asks only for what the gateway exports.
        wanted = set(re.findall(r"desk_[a-z0-9_]+", DASHBOARD.read_text(encoding="utf-8")))
        missing = {n for n in wanted - exposed_names(text) if not n.startswith(OPTIONAL)}
        assert missing == set()

        async with websockets.connect(ws_url(engine, "/ws/market/ETH-USDT")) as ws:
            await ws.recv()
            # The same collector read with no await in between: equal to the engine's counters.
            found = samples(generate_latest(engine.gateway.registry).decode())
            counters, oms, portfolio = feed.counters, execution.oms, execution.portfolio
            key = {"venue": "okx", "connection": "okx"}
            assert value(found, "desk_feed_messages_total", **key) == counters.messages
            assert value(found, "desk_feed_bytes_total", **key) == counters.bytes
            assert value(found, "desk_feed_reconnects_total", **key) == counters.reconnects
            assert value(found, "desk_feed_gaps_total", **key) == counters.gaps
            assert value(found, "desk_feed_connected", **key) == 1

            histogram = counters.latency_histogram
            name = "desk_exchange_to_receive_latency_seconds"
            assert value(found, f"{name}_count", **key) == histogram.count > 0
            assert value(found, f"{name}_sum", **key) == pytest.approx(histogram.sum_ns / 1e9)
            assert value(found, f"{name}_bucket", le="+Inf", **key) == histogram.count
            one_ms = EDGES_NS.index(1_000_000)
            assert value(found, f"{name}_bucket", le="0.001", **key) == sum(
                histogram.counts[: one_ms + 1]
            )
            buckets = sorted(
                (float(dict(labels)["le"]), v)
                for labels, v in by_name(found, f"{name}_bucket").items()
            )
            assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative

            tick_to_order = engine.bots.tick_to_order.histogram
            assert value(found, "desk_tick_to_order_latency_seconds_count") == tick_to_order.count

            fills = oms.fills(1_000_000)
            assert sum(by_name(found, "desk_fills_total").values()) == len(fills)
            by_state = Counter(str(o.status) for o in oms.orders(1_000_000))
            for state in OrderStatus:
                assert value(found, "desk_orders", state=str(state)) == by_state[str(state)]
            risk_rejects = [
                o for o in oms.orders(1_000_000) if o.reason.startswith("risk: max order notional")
            ]
            assert value(found, "desk_risk_denials_total", reason="max_order_notional") == len(
                risk_rejects
            )
            assert value(found, "desk_order_rejects_total", reason="risk") >= len(risk_rejects) > 0

            assert value(found, "desk_equity") == float(portfolio.equity())
            assert value(found, "desk_pnl_realized") == float(portfolio.totals().realized_pnl)
            assert value(found, "desk_risk_state", state="active") == 1
            status = engine.bots.status("fast")
            assert value(found, "desk_bot_signals_total", bot="fast") == status.signal_count
            assert value(found, "desk_bot_state", bot="fast", state="running") == 1
            assert value(found, "desk_sqlite_rows_written_total") == engine.store.rows_written
            assert value(found, "desk_candles_closed_total") == engine.candles_closed
            assert value(found, "desk_gateway_clients", route="/ws/market/{symbol}") == 1
            assert value(found, "desk_process_resident_memory_bytes") > 0
            assert value(found, "desk_event_loop_lag_seconds") >= 0
