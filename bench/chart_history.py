"""Time from ``desk --sim`` to a candle chart with history on screen, and history per timeframe.

Prints figures, asserts nothing (DESIGN.md section 7). Two Pilot runs of the real app on the
real in-process engine and simulator (``desk --sim``), from the moment the app is created:

* backfill on (``candles.backfill_bars``, default 300): seconds until the market mode's chart,
  switched to 1m (it opens on 1s), shows at least ``--bars`` candles, and the backfilled bars
  per timeframe;
* the reference, the same run with ``backfill_bars: 0`` (what desk did before): candles on the
  chart after the same wait (live bars only: nothing before the first minute closes).

Also the simulator's own cost: generating its hours of past (per instrument) on first read.

    .venv/bin/python bench/chart_history.py [--bars 60] [--timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desk.app import DeskApp  # noqa: E402
from desk.clients.inprocess import InProcessClient  # noqa: E402
from desk.config import DeskConfig, with_simulator  # noqa: E402
from desk.core.events import Candle  # noqa: E402
from desk.engine.engine import Engine  # noqa: E402
from desk.sim.instruments import DEFAULT_INSTRUMENTS  # noqa: E402
from desk.sim.market import FlowParams  # noqa: E402
from desk.sim.okx.history import generate_past  # noqa: E402
from desk.widgets.candle_chart import CandleChart  # noqa: E402


def config(folder: str, bars: int) -> DeskConfig:
    base = with_simulator(DeskConfig())
    storage = msgspec.structs.replace(base.storage, sqlite_path=f"{folder}/desk-{bars}.sqlite")
    candles = msgspec.structs.replace(base.candles, backfill_bars=bars)
    return msgspec.structs.replace(base, storage=storage, candles=candles)


async def run(
    folder: str, bars: int, want: int, timeout: float
) -> tuple[float | None, int, Any, float]:
    """(seconds to ``want`` candles on the chart or None, candles shown, backfill counts,
    seconds to the chart's first view)."""
    started = time.perf_counter()
    cfg = config(folder, bars)
    engine = Engine(cfg)
    counts: Counter[str] = Counter()

    def count(event: Any) -> None:
        if isinstance(event, Candle) and event.backfill:
            counts[event.timeframe] += 1

    symbol = cfg.trading.symbols[0]
    engine.bus.subscribe(f"market_data:{symbol}", count)
    app = DeskApp(InProcessClient(engine), cfg)
    took: float | None = None
    shown = 0
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = started + timeout
        switched = False
        first_view = float("nan")
        while time.perf_counter() < deadline:
            await pilot.pause(0.05)
            charts = app.screen.query(CandleChart)
            view = charts.first().candles if charts else None
            if view is None:
                continue
            if not switched:  # the chart opens on 1s (live only): "t" "t" -> 3s -> 1m
                first_view = time.perf_counter() - started
                await pilot.press("t", "t")
                switched = True
            shown = len(view.candles) if view.timeframe == "1m" else 0
            if shown >= want:
                took = time.perf_counter() - started
                break
        await pilot.press("q")
    return took, shown, counts, first_view


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=60, help="candles that count as history")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    spec = DEFAULT_INSTRUMENTS[0]
    t = time.perf_counter()
    generate_past(spec, 7, FlowParams(), 200.0, 24 * 3600, 600_000)
    print(f"simulator past: 24 h of 1 s bars for {spec.inst_id} in {time.perf_counter() - t:.3f} s")
    with tempfile.TemporaryDirectory() as folder:
        took, shown, counts, first = await run(folder, 300, args.bars, args.timeout)
        wait = took if took is not None else args.timeout
        print(
            f"backfill on : chart with >= {args.bars} candles after "
            f"{'timeout' if took is None else format(took, '.2f') + ' s'} ({shown} shown; "
            f"the chart's first view, on 1s, at {first:.2f} s)"
        )
        print(
            "              history bars per timeframe: "
            + ", ".join(f"{tf} {n}" for tf, n in counts.items())
        )
        cfg = config(folder, 0)
        for tf in cfg.trading.timeframes:
            if tf not in counts:
                print(f"              {tf}: none (OKX REST has no second bars: fills live)")
        _, ref_shown, _, ref_first = await run(folder, 0, 10**9, wait)
        print(
            f"reference   : backfill off, 1m candles on the chart after {wait:.2f} s: "
            f"{ref_shown} (first view at {ref_first:.2f} s)"
        )


if __name__ == "__main__":
    asyncio.run(main())
