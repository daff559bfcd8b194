"""Tick-to-order latency in-process, and the orders/s the OMS sustains.

Tick to order: the real components, wired as the engine wires them: OkxFeed (decode +
normalize) -> bus -> CandleAggregator (1s) -> BotManager (strategy, filters, SQLite record) ->
OmsSink -> OrderManager (RiskEngine check, SQLite record, publish) -> venue client. Each trades
frame falls in a new second, so it closes a candle, and the prices alternate so that a
1/2-bar MA crossover signals on every candle: every frame becomes an order. Timed from just
before the frame is handed to the feed to:

* "risk-checked order": ``OrderManager.submit`` returned (checked, recorded, dispatched);
* "venue client": the venue client's ``submit`` was called. The order is durable before that
  (so that a crash can never leave an order the desk forgot): written to the order journal
  (storage/journal.py) in ``submit``; with ``--no-journal`` the OMS waits for the SQLite commit
  of its row instead (the old way, for comparison).

The same again with the Trade event published straight on the bus ("minus decode"), and the
msgspec decode of the frame alone as the reference. The venue answers at once (accepted +
filled), like a paper venue.

Each tick-to-order run is made twice: under CPython's default collector schedule, and under
the garbage-collector policy that ``desk`` and ``desk engine`` run with (engine/gc_policy.py:
start-up objects frozen, collections from a 10 Hz timer between turns of the loop, CPython's
own only past 100k new objects). The machine's own noise, measured in the same run, is the
reference for the tails: the same loop (one turn of the event loop per frame) doing a fixed
amount of plain Python work about as long as a frame's, its p50 and p99.

Orders/s: manual limit orders through ``OrderManager.submit`` (risk + record + publish), then
the same until every order reached the venue and SQLite has committed, next to ``risk.check``
alone; then both again under that garbage-collector policy: the OMS keeps every order it sends
(up to ``execution.history``), and CPython's default policy rescans that growing heap.
Figures only; nothing is asserted.

    .venv/bin/python bench/tick_to_order.py [--frames 2000] [--orders 20000] [--no-journal]
                                            [--stages]

``--stages`` also prints where a frame's time goes up to the risk-checked order: the median
time between points of the path (each timed at its first entry in the frame). The probes cost
a little each, so the rows printed with it read a few microseconds higher than without. It
also splits the frames by whether SQLite's writer was writing a batch meanwhile (or had just
finished, 200 us before the frame): its thread binds and steps the rows while the frame runs,
and those frames' tail is the longer one. On an idle machine it may print one batch that
spans the run: frames come back to back, so the event loop's thread holds the GIL nearly all
the time, and SQLite's thread gets it only at each poll of the loop and each forced switch
(``sys.getswitchinterval()``, 5 ms); its rows wait (the journal has the orders) and are
committed once the frames stop.

``--writer-sched other`` leaves SQLite's writer thread as any other thread instead of
``SCHED_BATCH`` (``storage.writer_sched_batch``, storage/thread_priority.py); ``both`` adds
a run of the frame path under the engine's GC policy with the writer so, as the reference:
the difference shows on a busy machine (a core loaded by something else), not on an idle one.

Each run also prints how many of the rows queued for SQLite were committed while its frames
ran. Back to back, none may be: SQLite's writer thread needs the GIL between two statements,
and the event loop lets go of it at each turn (its ``epoll``) and takes it straight back; each
release wakes the waiting thread, which restarts CPython's 5 ms wait before it may force a
switch, so it is never forced. The journal holds the orders meanwhile; the rows are committed
once the frames stop. (A probe, not in this script: any thread waiting for the GIL, even a
plain ``time.sleep(0)`` loop, adds about 7 us to a frame's p50 here; the writer kept idle
takes it away. A writer in a process of its own was built and measured against this thread:
it commits during the frames, but preparing, pickling and answering its batches on the event
loop cost the frames as much at p50 and more at p99, so the thread stays.)

``--catch-up S`` runs with ``storage.catch_up_interval`` S (the default's otherwise): how long
rows that came while a batch was written wait for their own batch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import LiveClock
from desk.core.enums import Side
from desk.core.events import Candle, Trade
from desk.core.orders import Liquidity, OrderRequest, OrderType
from desk.engine.gc_policy import POLICY, collect_every
from desk.execution.bot_orders import OmsSink
from desk.execution.oms import OrderManager
from desk.execution.portfolio import Portfolio
from desk.execution.risk import RiskEngine
from desk.execution.risk_rules import RiskConfig
from desk.execution.venue import FillReport, OrderAccepted, VenueReport
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.market.candles import CandleAggregator
from desk.market.instruments import Instrument
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig
from desk.signals.strategy import BaseStrategy
from desk.storage import write_behind
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

SYMBOL = "BTC-USDT"
BTC = Instrument(
    venue="okx", symbol=SYMBOL, base="BTC", quote="USDT",
    tick_size="0.1", lot_size="0.00000001", min_size="0.00001",
)  # fmt: skip
MID = Decimal("60000")


class InstantVenue:
    """Accepts and fills every order at once (on the next loop turn), noting when it got it."""

    name = "paper"

    def __init__(self) -> None:
        self.handler: Callable[[VenueReport], None] | None = None
        self.got: dict[str, int] = {}
        self.got_cpu: dict[str, int] = {}  # the thread's CPU clock then
        self.arrived = asyncio.Event()
        self._trade = 0

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self.handler = handler

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, request: OrderRequest) -> None:
        self.got[request.client_order_id] = time.perf_counter_ns()
        self.got_cpu[request.client_order_id] = time.thread_time_ns()
        self.arrived.set()
        self._trade += 1
        cid, vid, now = request.client_order_id, f"v{self._trade}", time.time_ns()
        price = request.price if request.price is not None else MID
        assert self.handler is not None
        self.handler(OrderAccepted(client_order_id=cid, venue_order_id=vid, ts=now))
        self.handler(
            FillReport(
                client_order_id=cid, venue_order_id=vid, trade_id=str(self._trade),
                price=price, size=request.size, fee=Decimal(0), fee_ccy="USDT",
                liquidity=Liquidity.TAKER, ts=now,
            )
        )  # fmt: skip

    async def cancel(self, client_order_id: str, symbol: str) -> None: ...

    async def open_orders(self) -> list[Any]:
        return []

    async def balances(self) -> dict[str, Decimal]:
        return {}

    async def order_status(self, client_order_id: str, symbol: str) -> None:
        return None


JOURNAL = True
WRITER_BATCH = True  # --writer-sched: storage.writer_sched_batch
CATCH_UP: float | None = None  # --catch-up: storage.catch_up_interval (None: the default's)


async def build(db: Path) -> tuple[Bus, SqliteStore, OrderManager, InstantVenue, RiskEngine]:
    bus, clock = Bus(), LiveClock()
    tuning: dict[str, Any] = {"writer_sched_batch": WRITER_BATCH}
    if CATCH_UP is not None:
        tuning["catch_up_interval"] = CATCH_UP
    store = SqliteStore(StorageConfig(sqlite_path=str(db), order_journal=JOURNAL, **tuning))
    await store.open()
    portfolio = Portfolio(clock, starting_cash=Decimal(1_000_000))
    venue = InstantVenue()
    # Every check runs, but no limit binds: the bench measures cost, not refusals.
    big = Decimal(10**12)
    limits = RiskConfig(
        max_orders_per_s_per_account=10**9, max_orders_per_s=10**9,
        max_position_notional_per_bot=big, max_position_notional_per_symbol=big,
        max_gross_exposure_pct=Decimal(10**6),
    )  # fmt: skip
    holder: dict[str, RiskEngine] = {}
    oms = OrderManager(
        bus, store, venue, clock, check=lambda r: holder["risk"].check(r), portfolio=portfolio,
        venue_name="paper",
    )  # fmt: skip
    risk = RiskEngine(
        instruments={SYMBOL: BTC}, mid=lambda s: MID, portfolio=portfolio, clock=clock,
        config=limits, open_orders=oms,
    )  # fmt: skip
    holder["risk"] = risk
    await oms.start()
    return bus, store, oms, venue, risk


def frames(count: int) -> list[bytes]:
    """Trades frames one second apart, prices alternating 60000 / 60010."""
    out = []
    for i in range(count):
        px = "60010" if i % 2 else "60000"
        msg = {
            "arg": {"channel": "trades", "instId": SYMBOL},
            "data": [
                {
                    "instId": SYMBOL, "tradeId": str(1000 + i), "px": px, "sz": "0.01",
                    "side": "buy", "ts": str(1_700_000_000_000 + i * 1000), "count": "1",
                    "source": "0", "seqId": 1 + i,
                }
            ],
        }  # fmt: skip
        out.append(json.dumps(msg, separators=(",", ":")).encode())
    return out


def start_policy(on: bool) -> asyncio.Task[None] | None:
    """The engine's collector policy from now on (as ``Engine.run``: once the parts are built)."""
    if not on:
        return None
    POLICY.start()
    return asyncio.get_running_loop().create_task(collect_every())


async def stop_policy(collector: asyncio.Task[None] | None) -> None:
    if collector is None:
        return
    collector.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await collector
    POLICY.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Timings(NamedTuple):
    """Microseconds per order, from the frame: wall clock, and the CPU time of the thread
    (what the desk itself spent, without the time the machine gave to other processes)."""

    submit: list[float]
    venue: list[float]
    submit_cpu: list[float]
    venue_cpu: list[float]
    committed: int = 0  # SQLite rows committed while the frames ran
    queued: int = 0  # rows queued for SQLite meanwhile


STAGE_POINTS: tuple[tuple[str, type, str], ...] = (
    # (what the time up to this point went on, class, method timed at its first entry)
    ("decode, normalize, Trade on the bus", CandleAggregator, "on_trade"),
    ("candle closed and published", BotManager, "on_candle"),
    ("bot manager: bots on that candle", BaseStrategy, "on_candle"),
    ("strategy: indicators, signal", BotManager, "process_signal"),
    ("filters", OmsSink, "submit"),
    ("sink: target, sizing, request", OrderManager, "submit"),
    ("OMS before risk", RiskEngine, "check"),
)
RISK_DONE, SUBMIT_DONE = "risk check", "OMS after risk (submit returned)"
STAGES: list[dict[str, int]] | None = None  # --stages: each order's points (perf_counter ns)
WRITES: list[tuple[int, int]] = []  # --stages: each batch write's start and end (perf_counter)


@contextlib.contextmanager
def write_probe() -> Any:
    """While open, each batch the store writes is noted in WRITES (start, end)."""
    original = write_behind.write_batch

    async def timed(*args: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return await original(*args)
        finally:
            WRITES.append((started, time.perf_counter_ns()))

    write_behind.write_batch = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        write_behind.write_batch = original


def writer_split(stages: list[dict[str, int]], cpu: list[float]) -> str:
    """CPU microseconds of the frames a batch write overlapped (or had ended 200 us before)
    and of the others: how much of the tail the SQLite writer's thread accounts for."""
    split: dict[bool, list[float]] = {True: [], False: []}
    for points, spent in zip(stages, cpu, strict=False):
        start, end = points["frame"] - 200_000, points[SUBMIT_DONE]
        split[any(a <= end and b >= start for a, b in WRITES)].append(spent)
    lines = []
    for during, label in ((True, "while the writer wrote a batch"), (False, "the other frames")):
        got = split[during]
        if got:
            lines.append(
                f"    {label:<32}: {len(got):5d} frames, CPU p50 {pct(got, 0.5):6.1f}"
                f"  p99 {pct(got, 0.99):7.1f}"
            )
    return (
        f"  {len(WRITES)} batch writes; frames by the SQLite writer, microseconds:\n"
        + "\n".join(lines)
    )


@contextlib.contextmanager
def stage_probes(frame_start: Callable[[], int]) -> Any:
    """While open, the first entry of each STAGE_POINTS method in a frame (and risk's return)
    is noted in the dict it yields, cleared when a new frame starts (``frame_start`` moved)."""
    seen: dict[str, int] = {}
    originals = [(cls, name, getattr(cls, name)) for _, cls, name in STAGE_POINTS]

    def probe(label: str, method: Callable[..., Any], done: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if seen.get("frame") != frame_start():
                seen.clear()
                seen["frame"] = frame_start()
            seen.setdefault(label, time.perf_counter_ns())
            result = method(*args, **kwargs)
            if done:
                seen.setdefault(done, time.perf_counter_ns())
            return result

        return timed

    for (label, _, _), (cls, name, method) in zip(STAGE_POINTS, originals, strict=True):
        setattr(cls, name, probe(label, method, RISK_DONE if cls is RiskEngine else ""))
    try:
        yield seen
    finally:
        for cls, name, method in originals:
            setattr(cls, name, method)


def stage_report(stages: list[dict[str, int]]) -> str:
    """Median and p99 microseconds from each point to the next, over the orders."""
    labels = [label for label, _, _ in STAGE_POINTS] + [RISK_DONE, SUBMIT_DONE]
    lines, previous = [], "frame"
    for label in labels:
        gaps = [(s[label] - s[previous]) / 1000 for s in stages if label in s and previous in s]
        if gaps:
            lines.append(f"    {label:<40}: p50 {pct(gaps, 0.5):6.1f}  p99 {pct(gaps, 0.99):7.1f}")
        previous = label
    return "\n".join(lines)


async def tick_to_order(count: int, decode: bool, gc_policy: bool = False) -> Timings:
    """``gc_policy``: under the engine's collector policy (started once the parts are built,
    as ``Engine.run`` does, with its 10 Hz collection timer)."""
    with tempfile.TemporaryDirectory() as tmp:
        bus, store, oms, venue, _ = await build(Path(tmp) / "t.sqlite")
        clock = LiveClock()
        bots = BotManager(bus, store, sink=None, clock=clock)  # type: ignore[arg-type]
        sink = OmsSink(oms, oms.portfolio)  # type: ignore[arg-type]
        bots.sink = sink
        feed = OkxFeed(OkxConfig(), [SYMBOL], ["trades"], bus)

        def on_candle(candle: Candle) -> None:
            bus.publish(topics.market_data(SYMBOL), candle)

        agg = CandleAggregator("okx", SYMBOL, ("1s",), clock, on_candle)

        def feed_trades(event: Any) -> None:
            if type(event) is Trade:
                agg.on_trade(event.ts_exchange, event.price, event.size)

        bus.subscribe(topics.market_data(SYMBOL), feed_trades)
        probes = contextlib.ExitStack()  # --stages: probed before the bot subscribes
        seen = probes.enter_context(stage_probes(lambda: t0)) if STAGES is not None else {}
        if STAGES is not None:
            WRITES.clear()
            probes.enter_context(write_probe())
        bots.add_bot(
            BotConfig(bot_id="fast", strategy="ma_crossover", symbol=SYMBOL, timeframe="1s",
                      size=0.01, params={"fast": 1, "slow": 2})
        )  # fmt: skip
        bots.start_bot("fast")
        collector = start_policy(gc_policy)
        started: dict[str, tuple[int, int]] = {}
        to_submit: list[float] = []
        to_submit_cpu: list[float] = []
        original = oms.submit
        t0 = c0 = 0

        def timed_submit(request: OrderRequest) -> Any:
            order = original(request)
            if order.status.terminal:
                raise RuntimeError(f"order refused: {order.reason}")
            to_submit.append((time.perf_counter_ns() - t0) / 1000)
            to_submit_cpu.append((time.thread_time_ns() - c0) / 1000)
            started[order.client_order_id] = (t0, c0)
            if STAGES is not None:
                STAGES.append({**seen, SUBMIT_DONE: time.perf_counter_ns()})
            return order

        oms.submit = timed_submit  # type: ignore[method-assign]
        handle = feed.handle_message
        publish = bus.publish
        topic = topics.market_data(SYMBOL)
        for i, frame in enumerate(frames(count)):
            venue.arrived.clear()
            before = len(to_submit)
            if decode:
                c0 = time.thread_time_ns()
                t0 = time.perf_counter_ns()
                handle(frame, (1_700_000_000_000 + i * 1000 + 1) * 1_000_000)  # its own clock
            else:
                trade = Trade(
                    ts_exchange=(1_700_000_000_000 + i * 1000) * 1_000_000, ts_recv=0,
                    venue="okx", symbol=SYMBOL, trade_id=str(1000 + i),
                    price=60010.0 if i % 2 else 60000.0, size=0.01, side=Side.BUY,
                )  # fmt: skip
                c0 = time.thread_time_ns()
                t0 = time.perf_counter_ns()
                publish(topic, trade)
            if len(to_submit) > before:
                await asyncio.wait_for(venue.arrived.wait(), 10)
        committed, queued = store.rows_written, store.rows_enqueued
        arrived = [(c, t) for c, t in started.items() if c in venue.got]
        to_venue = [(venue.got[c] - t) / 1000 for c, (t, _) in arrived]
        to_venue_cpu = [(venue.got_cpu[c] - cpu) / 1000 for c, (_, cpu) in arrived]
        await stop_policy(collector)
        probes.close()
        await oms.stop()
        await store.close()
        # the first orders pay for warm-up
        return Timings(
            to_submit[5:], to_venue[5:], to_submit_cpu[5:], to_venue_cpu[5:], committed, queued
        )


async def orders_per_second(count: int, gc_policy: bool = False) -> tuple[float, float, float]:
    """``gc_policy``: under the engine's collector policy (its timer collects between turns of
    the loop: while the orders are being acknowledged and committed; the submit loop itself
    never yields, so there only CPython's safety net past 100k new objects can collect)."""
    with tempfile.TemporaryDirectory() as tmp:
        _, store, oms, venue, risk = await build(Path(tmp) / "o.sqlite")
        requests = [
            OrderRequest(
                symbol=SYMBOL, side=Side.BUY if i % 2 else Side.SELL, order_type=OrderType.LIMIT,
                size=Decimal("0.001"), price=Decimal("59990.0") + i % 10,
            )
            for i in range(count)
        ]  # fmt: skip
        start = time.perf_counter()
        for r in requests[: count // 10]:
            risk.preview(r)
        check_rate = (count // 10) / (time.perf_counter() - start)
        collector = start_policy(gc_policy)
        start = time.perf_counter()
        for r in requests:
            oms.submit(r)
        submit_rate = count / (time.perf_counter() - start)
        while len(venue.got) < count:
            await asyncio.sleep(0.001)
        await store.flush()
        end_to_end = count / (time.perf_counter() - start)
        await stop_policy(collector)
        await oms.stop()
        await store.close()
        return check_rate, submit_rate, end_to_end


async def noise_floor(count: int, work_us: float) -> tuple[list[float], list[float]]:
    """The machine's own tail: ``count`` rounds of plain Python work of about ``work_us``
    each, one turn of the event loop apart (as the frames are): wall and CPU microseconds."""

    def work(n: int) -> int:
        total = 0
        for i in range(n):
            total += i * i
        return total

    def timed(n: int) -> float:
        """The median of 7 runs of ``work(n)``, microseconds: one slow run (preempted, or the
        CPU still clocking up) must not set the reference's size."""
        runs = []
        for _ in range(7):
            started = time.perf_counter_ns()
            work(n)
            runs.append((time.perf_counter_ns() - started) / 1000)
        return sorted(runs)[3]

    n = 1000
    while True:  # calibrate: n iterations take about work_us
        took = timed(n)
        if took >= work_us / 2:
            n = max(1, int(n * work_us / took))
            break
        n *= 2
    wall, cpu = [], []
    for _ in range(count):
        await asyncio.sleep(0)
        cpu_started = time.thread_time_ns()
        started = time.perf_counter_ns()
        work(n)
        wall.append((time.perf_counter_ns() - started) / 1000)
        cpu.append((time.thread_time_ns() - cpu_started) / 1000)
    return wall, cpu


def report(label: str, wall: list[float], cpu: list[float]) -> str:
    return (
        f"  {label}: p50 {pct(wall, 0.5):7.1f}  p99 {pct(wall, 0.99):7.1f}"
        f"  | CPU p50 {pct(cpu, 0.5):6.1f}  p99 {pct(cpu, 0.99):7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--no-journal", action="store_true", help="wait for the SQLite commit")
    parser.add_argument("--stages", action="store_true", help="where a frame's time goes")
    parser.add_argument("--catch-up", type=float, help="storage.catch_up_interval, seconds")
    parser.add_argument(
        "--writer-sched",
        choices=("batch", "other", "both"),
        default="batch",
        help="SQLite's writer thread under SCHED_BATCH (the default), as any thread, or both",
    )
    args = parser.parse_args()
    global JOURNAL, STAGES, CATCH_UP, WRITER_BATCH
    JOURNAL = not args.no_journal
    batch = args.writer_sched != "other"
    CATCH_UP = args.catch_up
    durable = "after SQLite commit" if args.no_journal else "journalled"

    sample = frames(1)[0]
    n = 20_000
    start = time.perf_counter_ns()
    for _ in range(n):
        msgspec.json.decode(sample)
    decode_us = (time.perf_counter_ns() - start) / n / 1000

    frame_p50 = 0.0
    print(f"SQLite's writer thread: {'SCHED_BATCH' if batch else 'SCHED_OTHER'}")
    # (frame decoded, the engine's GC policy, the writer under SCHED_BATCH)
    runs = [(True, False, batch), (True, True, batch), (False, True, batch)]
    if args.writer_sched == "both":
        runs.append((True, True, False))  # the reference: the writer left as any thread
    for decode, policy, WRITER_BATCH in runs:
        STAGES = [] if args.stages else None
        run = asyncio.run(tick_to_order(args.frames, decode, policy))
        frame_p50 = frame_p50 or pct(run.submit, 0.5)
        label = "frame received" if decode else "Trade on the bus (minus decode)"
        gc_label = "the engine's GC policy" if policy else "CPython's default GC"
        if batch and not WRITER_BATCH:
            gc_label += ", SQLite's writer thread as SCHED_OTHER (reference)"
        print(f"{label} -> order, {gc_label}, {len(run.submit)} orders, microseconds:")
        print(report("risk-checked order (OMS submit returned)", run.submit, run.submit_cpu))
        print(report(f"handed to the venue client ({durable})", run.venue, run.venue_cpu))
        print(f"  SQLite rows committed while the frames ran: {run.committed:,} of {run.queued:,}")
        if STAGES:
            print("  where the time to the risk-checked order went (probed), microseconds:")
            print(stage_report(STAGES[5:]))
            print(writer_split(STAGES[5:], run.submit_cpu))
    WRITER_BATCH = batch
    print(f"reference: msgspec decode of the trades frame alone: {decode_us:.2f} us")
    wall, cpu = asyncio.run(noise_floor(args.frames, frame_p50))
    print(f"reference, the machine's noise: {frame_p50:.0f} us of plain Python work a loop turn")
    print(report("apart (as the frames), the same work each time        ", wall, cpu))

    check_rate, submit_rate, end_to_end = asyncio.run(orders_per_second(args.orders))
    print(f"orders/s over {args.orders:,} limit orders:")
    print(f"  reference, risk check alone      : {check_rate:>10,.0f}/s")
    print(f"  OMS submit (risk+record+publish) : {submit_rate:>10,.0f}/s")
    print(f"  until at the venue + SQLite commit: {end_to_end:>9,.0f}/s")
    _, submit_rate, end_to_end = asyncio.run(orders_per_second(args.orders, gc_policy=True))
    print("  the same under the engine's garbage-collector policy:")
    print(f"  OMS submit (risk+record+publish) : {submit_rate:>10,.0f}/s")
    print(f"  until at the venue + SQLite commit: {end_to_end:>9,.0f}/s")


if __name__ == "__main__":
    main()
