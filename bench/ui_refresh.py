"""UI refresh cost of the market mode, on a churning fake market and on the real engine.

Prints figures, asserts nothing (DESIGN.md section 7). For each run:

* sample: one refresh tick — the App asks the EngineClient for book (2 x depth), tape, tickers
  and candles and every widget rebuilds its rows (all four change on every tick here);
* paint: the compositor frame that follows — render_line of every changed line plus the ANSI
  encoding a terminal would receive (the headless driver skips only the final write);
* whole = sample + paint, the cost of one refresh from timer to terminal bytes;
* loop lag: how late a 10 ms asyncio timer fires while all of this (and the engine) runs.

    .venv/bin/python bench/ui_refresh.py [--seconds 15] [--sizes 120x45,80x24] [--skip-engine]
        [--three-venues]

``--three-venues`` adds runs with OKX, Binance and Coinbase live (issue 15): one venue's ladder,
and the consolidated ladder of all three (``v v v``), which samples three books per tick. Each
prints its whole-refresh CPU p50/p99 as a ratio of the OKX-only engine run of the same
invocation (the machine's load moves both alike).

120x45 is the smallest size that shows the whole 2 x 20 ladder. The goal for a whole refresh
at p99 is under 10 ms. Both apps run with ``freeze_gc=True``, as ``desk`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.ui.fakes

from tests.ui.fakes import FakeEngineClient  # noqa: E402
from textual.app import App  # noqa: E402
from textual.screen import Screen  # noqa: E402

from desk.app import DeskApp  # noqa: E402
from desk.bridge.views import BookView, CandlesView, TapeView, TickersView  # noqa: E402
from desk.config import DeskConfig, with_simulator  # noqa: E402
from desk.widgets.ladder import Ladder  # noqa: E402

LAG_INTERVAL_S = 0.01


class ChurningClient(FakeEngineClient):
    """The fake market with every view new on every call, like a market at full speed.

    Views are built once and re-versioned (with a moving last candle and changing sizes), so
    the figures are the UI's cost, not the fake's.
    """

    def __init__(self, venues: tuple[str, ...] = ("okx",)) -> None:
        super().__init__(venues=venues)
        self._views: dict[tuple[object, ...], Any] = {}

    def _memo(self, key: tuple[object, ...], build: Callable[[], Any]) -> Any:
        if key not in self._views:
            self._views[key] = build()
        return self._views[key]

    def book(self, symbol: str, depth: int = 20, venue: str = "okx") -> BookView:
        self.bump_book(symbol)
        version = self.book_versions[symbol]
        return self._memo(
            ("book", symbol, depth, version % 50, venue),
            lambda: super(ChurningClient, self).book(symbol, depth, venue),
        )

    def tape(self, symbol: str, limit: int = 50, venue: str = "all") -> TapeView:
        view = self._memo(
            ("tape", symbol, limit, venue),
            lambda: super(ChurningClient, self).tape(symbol, limit, venue),
        )
        shift = self.book_versions[symbol] % len(view.trades)
        trades = view.trades[shift:] + view.trades[:shift]
        return msgspec.structs.replace(view, version=self.book_versions[symbol], trades=trades)

    def candles(
        self, symbol: str, timeframe: str, limit: int = 120, venue: str = "okx"
    ) -> CandlesView:
        view = self._memo(
            ("candles", symbol, timeframe, limit, venue),
            lambda: super(ChurningClient, self).candles(symbol, timeframe, limit, venue),
        )
        version = self.book_versions[symbol]
        last = view.candles[-1]
        moved = msgspec.structs.replace(last, close=last.close + (version % 7 - 3) * 0.1)
        return msgspec.structs.replace(view, version=version, candles=[*view.candles[:-1], moved])

    def tickers(self) -> TickersView:
        view = self._memo(("tickers",), super().tickers)
        return msgspec.structs.replace(view, version=sum(self.book_versions.values()))


class Timings:
    """Wall and thread-CPU time of every refresh tick and every compositor frame.

    CPU time is the figure to trust on a shared machine: it is what the UI itself spent,
    whatever else the machine was running; wall time adds whatever preempted it.
    """

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.paints: list[tuple[float, float]] = []
        self._compositor_refresh: Callable[..., Any] = Screen._compositor_refresh
        self._display: Callable[..., Any] = App._display

    def install(self, app: DeskApp) -> None:
        timings = self
        refresh_views = app.refresh_views

        def timed_sample() -> None:
            wall, cpu = time.perf_counter(), time.thread_time()
            refresh_views()
            timings.samples.append((time.perf_counter() - wall, time.thread_time() - cpu))

        def timed_paint(screen: Screen, *args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return timings._compositor_refresh(screen, *args, **kwargs)
            finally:
                timings.paints.append((time.perf_counter() - wall, time.thread_time() - cpu))

        def encode_when_headless(app: App, screen: Screen, renderable: Any) -> None:
            if (
                app.is_headless
                and renderable is not None
                and hasattr(renderable, "render_segments")
            ):
                renderable.render_segments(app.console)
            timings._display(app, screen, renderable)

        app.refresh_views = timed_sample  # type: ignore[method-assign]
        Screen._compositor_refresh = timed_paint  # type: ignore[method-assign]
        App._display = encode_when_headless  # type: ignore[method-assign]

    def uninstall(self) -> None:
        Screen._compositor_refresh = self._compositor_refresh  # type: ignore[method-assign]
        App._display = self._display  # type: ignore[method-assign]


async def measure_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        expected = time.perf_counter() + LAG_INTERVAL_S
        await asyncio.sleep(LAG_INTERVAL_S)
        samples.append(max(0.0, time.perf_counter() - expected))


async def run(
    app: DeskApp,
    size: tuple[int, int],
    seconds: float,
    ready: Callable[[], bool],
    keys: tuple[str, ...] = (),
) -> dict:
    timings = Timings()
    lag: list[float] = []
    stop = asyncio.Event()
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 90
        while not ready():
            if time.monotonic() > deadline:
                raise SystemExit("the market never showed up")
            await pilot.pause(0.05)
        await pilot.press(*keys)  # e.g. v v v: the ladder of every venue merged
        await asyncio.sleep(1.0)  # warm caches and let the first full layout pass
        timings.install(app)
        lag_task = asyncio.create_task(measure_lag(lag, stop))
        try:
            await asyncio.sleep(seconds)
        finally:
            stop.set()
            await lag_task
            timings.uninstall()
        result = {
            "samples": timings.samples,
            "paints": timings.paints,
            "lag": lag,
            "depth": app.screen.query_one(Ladder).depth,
        }
        await pilot.press("q")
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def whole_cpu(result: dict) -> list[float]:
    """CPU time of each whole refresh (its sample plus the frame that followed)."""
    pairs = zip(result["samples"], result["paints"], strict=False)
    return [s[1] + p[1] for s, p in pairs]


def report(name: str, result: dict, reference: dict | None = None) -> None:
    """The figures of one run; with ``reference`` (the OKX-only engine run of this invocation)
    also the whole refresh's CPU p50 and p99 as a ratio of the reference's."""
    samples, paints, lag = result["samples"], result["paints"], result["lag"]
    whole = [(s[0] + p[0], s[1] + p[1]) for s, p in zip(samples, paints, strict=False)]
    print(f"\n{name}  (ladder 2x{result['depth']}, {len(samples)} refreshes, {len(paints)} frames)")
    print(f"  {'':<24}{'cpu p50':>9}{'cpu p99':>9}{'wall p50':>10}{'wall p99':>10}   (ms)")
    for label, pairs in (
        ("sample (refresh tick)", samples),
        ("paint (frame + ANSI)", paints),
        ("whole refresh", whole),
    ):
        cpu = [c for _, c in pairs]
        wall = [w for w, _ in pairs]
        print(
            f"  {label:<24}{pct(cpu, 0.5):>9.2f}{pct(cpu, 0.99):>9.2f}"
            f"{pct(wall, 0.5):>10.2f}{pct(wall, 0.99):>10.2f}"
        )
    print(f"  {'event-loop lag':<24}{'':>18}{pct(lag, 0.5):>10.2f}{pct(lag, 0.99):>10.2f}")
    if samples:
        print(f"  mean sample cpu {statistics.fmean(c for _, c in samples) * 1000:.2f} ms")
    if reference is not None and samples and reference["samples"]:
        mine, theirs = whole_cpu(result), whole_cpu(reference)
        p50, p99 = (pct(mine, q) / pct(theirs, q) for q in (0.5, 0.99))
        print(f"  whole refresh cpu vs the OKX-only engine run: p50 {p50:.2f}x  p99 {p99:.2f}x")


def fake_app(venues: tuple[str, ...] = ("okx",)) -> tuple[DeskApp, Callable[[], bool]]:
    app = DeskApp(ChurningClient(venues), DeskConfig(), freeze_gc=True)
    return app, lambda: app.refreshes >= 3


def engine_app(tmp: Path, all_venues: bool = False) -> tuple[DeskApp, Callable[[], bool]] | None:
    try:
        from desk.clients.inprocess import InProcessClient
        from desk.engine.engine import Engine
    except ImportError as error:
        print(f"\nreal engine: skipped ({error})")
        return None
    config = with_simulator(DeskConfig(), all_venues=all_venues)
    storage = msgspec.structs.replace(config.storage, sqlite_path=str(tmp / "bench.sqlite"))
    config = msgspec.structs.replace(config, storage=storage)
    app = DeskApp(InProcessClient(Engine(config)), config, freeze_gc=True)

    def ready() -> bool:
        screen = app.screen
        ladders = screen.query(Ladder) if screen.is_mounted else []
        live = any(ladder.book is not None and ladder.book.bids for ladder in ladders)
        client = app.client
        venues = ("okx", "binance", "coinbase") if all_venues else ("okx",)
        return live and all(client.book(app.symbol, 5, v).bids for v in venues)

    return app, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument(
        "--sizes", default="120x45,80x24", help="terminal sizes, WIDTHxHEIGHT[,WIDTHxHEIGHT…]"
    )
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument(
        "--three-venues",
        action="store_true",
        help="also OKX, Binance and Coinbase live, one venue's ladder and all three merged",
    )
    args = parser.parse_args()
    for size in args.sizes.split(","):
        width, height = (int(part) for part in size.split("x"))
        print(f"\n== market mode at {width}x{height}, {args.seconds:.0f} s per run ==")
        bench_size((width, height), args.seconds, args.skip_engine, args.three_venues)


def bench_size(
    size: tuple[int, int], seconds: float, skip_engine: bool, three_venues: bool = False
) -> None:
    app, ready = fake_app()
    report(
        "fake client, every view changing every tick", asyncio.run(run(app, size, seconds, ready))
    )
    if skip_engine:
        return
    okx_only = None
    with tempfile.TemporaryDirectory() as tmp:
        built = engine_app(Path(tmp))
        if built is not None:
            app, ready = built
            okx_only = asyncio.run(run(app, size, seconds, ready))
            report("real engine on the simulator", okx_only)
    if not three_venues:
        return
    app, ready = fake_app(("okx", "binance", "coinbase"))
    merged = asyncio.run(run(app, size, seconds, ready, ("v", "v", "v")))
    report("fake client, three venues merged, every view changing every tick", merged)
    if skip_engine:
        return
    for name, keys in (("OKX's ladder", ()), ("all three merged", ("v", "v", "v"))):
        with tempfile.TemporaryDirectory() as tmp:
            built = engine_app(Path(tmp), all_venues=True)
            if built is not None:
                app, ready = built
                result = asyncio.run(run(app, size, seconds, ready, keys))
                report(f"real engine, three venues live, {name}", result, okx_only)


if __name__ == "__main__":
    main()
