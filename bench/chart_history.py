"""Time from ``desk --sim`` to a candle chart with history on screen, and history per timeframe.

Prints figures, asserts nothing (DESIGN.md section 7). Two Pilot runs of the real app on the
real in-process engine and simulator (``desk --sim``), from the moment the app is created:

* backfill on (``candles.backfill_bars``, default 300): seconds until the market mode's chart,
  on 1m (``t`` pressed until it shows 1m, wherever ``ui.timeframe`` opens it), shows at least
  ``--bars`` candles, and the backfilled bars per timeframe;
* the reference, the same run with ``backfill_bars: 0`` (what desk did before): candles on the
  chart after the same wait (live bars only: nothing before the first minute closes).

Also the simulator's own cost: generating its hours of past (per instrument) on first read,
and the whole start's backfill (``desk.engine.backfill.backfill_candles``, timed around the call
inside ``Engine.start``, the simulators' past generated on the way) with OKX alone (the
reference: what desk backfilled before Binance and Coinbase had history) and with all three
venues (``desk --sim``), best of ``--repeat`` fresh engines each.

    .venv/bin/python bench/chart_history.py [--bars 60] [--timeout 60] [--repeat 3]
                                            [--backfill-only]
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
from desk.engine import engine as engine_module  # noqa: E402
from desk.engine.engine import Engine  # noqa: E402
from desk.sim.instruments import DEFAULT_INSTRUMENTS  # noqa: E402
from desk.sim.market import FlowParams  # noqa: E402
from desk.sim.okx.history import generate_past  # noqa: E402
from desk.widgets.candle_chart import CandleChart  # noqa: E402


def config(folder: str, bars: int, all_venues: bool = False) -> DeskConfig:
    base = with_simulator(DeskConfig(), all_venues=all_venues)
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
        pressed_on: str | None = None  # the timeframe "t" was last pressed on
        first_view = float("nan")
        while time.perf_counter() < deadline:
            await pilot.pause(0.05)
            charts = app.screen.query(CandleChart)
            view = charts.first().candles if charts else None
            if view is None:
                continue
            if first_view != first_view:  # nan: the chart's first view
                first_view = time.perf_counter() - started
            if view.timeframe != "1m":  # ui.timeframe may open it elsewhere: "t" until 1m
                if view.timeframe != pressed_on:  # once per timeframe shown
                    pressed_on = view.timeframe
                    await pilot.press("t")
                continue
            shown = len(view.candles)
            if shown >= want:
                took = time.perf_counter() - started
                break
        await pilot.press("q")
    return took, shown, counts, first_view


async def backfill_seconds(folder: str, all_venues: bool) -> tuple[float, int]:
    """(seconds the start's backfill took, closed bars it published) on a fresh engine."""
    original = engine_module.backfill_candles
    took: list[float] = []
    counts: dict[Any, int] = {}

    async def timed(engine: Any) -> Any:
        t = time.perf_counter()
        result = await original(engine)
        took.append(time.perf_counter() - t)
        counts.update(result)
        return result

    engine_module.backfill_candles = timed  # type: ignore[assignment]
    engine = Engine(config(folder, 300, all_venues))
    try:
        await engine.start()
    finally:
        engine_module.backfill_candles = original
        await engine.stop()
    return took[0], sum(counts.values())


async def compare_backfill(folder: str, repeat: int) -> None:
    """Best of ``repeat`` starts, OKX alone then all three venues, alternating."""
    best: dict[bool, tuple[float, int]] = {}
    for _ in range(repeat):
        for all_venues in (False, True):
            took, bars = await backfill_seconds(folder, all_venues)
            if all_venues not in best or took < best[all_venues][0]:
                best[all_venues] = (took, bars)
    (alone, alone_bars), (three, three_bars) = best[False], best[True]
    print(
        f"start backfill, best of {repeat}: OKX alone {alone:.2f} s ({alone_bars} bars); "
        f"OKX + Binance + Coinbase {three:.2f} s ({three_bars} bars): "
        f"x{three / alone:.2f} the time for x{three_bars / alone_bars:.2f} the bars"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=60, help="candles that count as history")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3, help="starts per backfill figure")
    parser.add_argument("--backfill-only", action="store_true", help="skip the chart runs")
    args = parser.parse_args()
    spec = DEFAULT_INSTRUMENTS[0]
    t = time.perf_counter()
    generate_past(spec, 7, FlowParams(), 200.0, 24 * 3600, 600_000)
    print(f"simulator past: 24 h of 1 s bars for {spec.inst_id} in {time.perf_counter() - t:.3f} s")
    with tempfile.TemporaryDirectory() as folder:
        await compare_backfill(folder, args.repeat)
        if args.backfill_only:
            return
        took, shown, counts, first = await run(folder, 300, args.bars, args.timeout)
        wait = took if took is not None else args.timeout
        print(
            f"backfill on : chart with >= {args.bars} candles after "
            f"{'timeout' if took is None else format(took, '.2f') + ' s'} ({shown} shown; "
            f"the chart's first view at {first:.2f} s)"
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
